// Walk results (QEMU SMMUPTWEventType), shared by the walks (ptw.ts) and the event
// encoding (evtq.ts).

export const PTW_OK: u32 = 0;
export const PTW_ERR_WALK_EABT: u32 = 1;
export const PTW_ERR_TRANSLATION: u32 = 2;
export const PTW_ERR_ADDR_SIZE: u32 = 3;
export const PTW_ERR_ACCESS: u32 = 4;
export const PTW_ERR_PERMISSION: u32 = 5;
