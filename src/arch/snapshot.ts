// Layout of the engine's snapshot areas (assembly/snapshot.ts), shared by asc and tsc.
// The engine writes its state into a fixed block (snap_ptr) and its variable-length
// tables into a chunk area (snap_chunk_ptr), record by record; the host frames them
// into the file format of docs/snapshot-format.md. Restoring runs the other way, and
// the engine validates every block and record before any of them is applied.

// ---- the state block: what QEMU 7.2's vmstate_smmuv3 carries, plus the dispatcher ----
export const SN_PROFILE = 0; // u32 PF_* flags of the profile (must match the restoring model's)
export const SN_CR0 = 4; // u32
export const SN_CR0ACK = 8; // u32
export const SN_CR1 = 12; // u32
export const SN_CR2 = 16; // u32
export const SN_STATUSR = 20; // u32
export const SN_GBPA = 24; // u32 (0 unless the profile implements GBPA)
export const SN_IRQ_CTRL = 28; // u32
export const SN_GERROR = 32; // u32
export const SN_GERRORN = 36; // u32
export const SN_GERROR_IRQ_CFG1 = 40; // u32
export const SN_GERROR_IRQ_CFG2 = 44; // u32
export const SN_STRTAB_BASE_CFG = 48; // u32
export const SN_FEATURES = 52; // u32 QEMU s->features (bit 0: 2-level stream table, sticky)
export const SN_SID_SPLIT = 56; // u32
export const SN_CMDQ_PROD = 60; // u32 raw, wrap bit included
export const SN_CMDQ_CONS = 64; // u32 raw, wrap bit and ERR field included
export const SN_CMDQ_LOG2 = 68; // u32 effective LOG2SIZE (set by a BASE write, at most QEMU_CMDQS)
export const SN_EVENTQ_PROD = 72; // u32 raw
export const SN_EVENTQ_CONS = 76; // u32 raw
export const SN_EVENTQ_LOG2 = 80; // u32 effective LOG2SIZE
export const SN_EVENTQ_IRQ_CFG1 = 84; // u32
export const SN_EVENTQ_IRQ_CFG2 = 88; // u32
export const SN_WILDCARD = 92; // u32 dispatcher: backends assumed to hold every ASID
export const SN_GERROR_IRQ_CFG0 = 96; // u64
export const SN_STRTAB_BASE = 104; // u64
export const SN_CMDQ_BASE = 112; // u64
export const SN_EVENTQ_BASE = 120; // u64
export const SN_EVENTQ_IRQ_CFG0 = 128; // u64
// record counts of the sections below (written by snap_save, checked by snap_check)
export const SN_N_DEVICES = 136; // u32
export const SN_N_BACKENDS = 140; // u32
export const SN_N_VDEVS = 144; // u32
export const SN_N_VASIDS = 148; // u32
export const SN_N_CONFIGS = 152; // u32
export const SN_N_IOTLB = 156; // u32
export const SN_BYTES = 160;

// ---- record sections (snap_export / snap_check_records / snap_import) ----------------
export const SEC_DEVICES = 0; // emulated devices: u32 StreamID
export const SEC_BACKENDS = 1; // backends in index order: u32 VMID
export const SEC_VDEVS = 2; // passthrough devices, ascending vSID: u32 vSID, u32 backend index, u32 pSID
export const SEC_VASIDS = 3; // learned vASIDs: u32 ASID, u32 backend mask
export const SEC_CONFIGS = 4; // cached configurations: u32 StreamID, 12 bytes zero, the CF_ENTRY_BYTES entry (CF_* of assembly/config.ts)
export const SEC_IOTLB = 5; // IOTLB entries in insertion slots: IE_* of abi.ts (IE_SLOT zero)
export const SEC_COUNT = 6;

export const REC_DEVICE_BYTES = 4;
export const REC_BACKEND_BYTES = 4;
export const REC_VDEV_BYTES = 12;
export const REC_VDEV_SID = 0;
export const REC_VDEV_BACKEND = 4;
export const REC_VDEV_PSID = 8;
export const REC_VASID_BYTES = 8;
export const REC_VASID_ASID = 0;
export const REC_VASID_MASK = 4;
// REC_CONFIG_BYTES and REC_IOTLB_BYTES are in abi.ts, beside the entries they carry
export const REC_CONFIG_SID = 0;
export const REC_CONFIG_ENTRY = 16;

/** Size of the chunk area records are exchanged through. */
export const SNAP_CHUNK_BYTES = 65536;

// snap_check / snap_check_records results (0 = valid)
export const SNE_OK = 0;
export const SNE_PROFILE = 1; // profile flags differ from the restoring model's
export const SNE_REGISTER = 2; // a register value the guest cannot have produced
export const SNE_COUNT = 3; // a record count beyond the engine's limits
export const SNE_RECORD = 4; // a record out of range
export const SNE_BUSY = 5; // forwarded commands outstanding (save refused)
