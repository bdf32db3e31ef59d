// Walk results (QEMU SMMUPTWEventType) and fault information (SMMUPTWEventInfo), shared
// by the walks (ptw.ts) and the event encoding (evtq.ts).

export const PTW_OK: u32 = 0;
export const PTW_ERR_WALK_EABT: u32 = 1;
export const PTW_ERR_TRANSLATION: u32 = 2;
export const PTW_ERR_ADDR_SIZE: u32 = 3;
export const PTW_ERR_ACCESS: u32 = 4;
export const PTW_ERR_PERMISSION: u32 = 5;

/**
 * Fault information of a walk or cached-entry check (QEMU SMMUPTWEventInfo): the stage the
 * fault is reported at, the address for the record's ADDR2 field (descriptor PA of an
 * external abort, IPA of a stage-2 fault, 0 otherwise) and whether it happened while
 * translating a descriptor address. The caller owns it and passes it down.
 */
// @ts-ignore: decorator
@unmanaged export class PtwInfo {
  stage: u32 = 1;
  addr: u64 = 0;
  ipaDesc: bool = false;

  /** QEMU's zeroed ptw_info before a translation. */
  // @ts-ignore: decorator
  @inline reset(): void {
    this.stage = 1;
    this.addr = 0;
    this.ipaDesc = false;
  }
}
