// The interface between a vSMMU and a physical SMMU (pSMMU), shaped like Linux
// iommufd's vIOMMU: a batch of 16-byte invalidation entries in, how many completed and
// an error out (IOMMU_HWPT_INVALIDATE's entry_num in/out), plus nested stage-1 STE
// installation (IOMMU_HWPT_ALLOC with IOMMU_HWPT_DATA_ARM_SMMUV3) and physical events
// (IOMMU_VEVENTQ).

export interface BatchResult {
  /** Entries that completed, in order. Fewer than given means the next one failed. */
  done: number;
  /** Why the entry at `done` failed (when done < number of entries). */
  error?: string;
}

export interface PsmmuBackend {
  /** Human-readable name (used in logs and by the topology explorer). */
  readonly name: string;
  /**
   * Applies `entries` (n x 16 bytes, each two little-endian 64-bit words: an SMMUv3
   * command already rewritten with this pSMMU's VMID / physical StreamID). The backend
   * makes every entry it reports done complete before returning (no CMD_SYNC is sent).
   * `entries` (like `ste` below) is valid until the call returns or its Promise settles:
   * the caller reuses the buffer; copy what you keep.
   */
  invalidate(entries: Uint8Array): BatchResult | Promise<BatchResult>;
  /** Installs the guest's STE words 0-1 (16 bytes) as the nested stage-1 STE of `psid`. */
  installSte(psid: number, ste: Uint8Array): BatchResult | Promise<BatchResult>;
  /** Registers a listener for physical event records (32 bytes); returns an unsubscribe function. */
  subscribe?(listener: (record: Uint8Array) => void): () => void;
}
