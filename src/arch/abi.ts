// Layout of the areas the WebAssembly engine and the TypeScript host share.
// The engine exports the address of each area (ptr_* functions); the byte offsets
// inside them are defined here, once, for both sides.

// Translation result (single translate call): written by the engine.
export const XO_ADDR = 0; // u64 output address (or the input address when bypassed)
export const XO_MASK = 8; // u64 address mask of the translated block (size - 1)
export const XO_PERM = 16; // u32 permissions granted: bit 0 read, bit 1 write
export const XO_EVENT = 20; // u32 event number of the fault (0 when none)
export const XO_RECORDED = 24; // u32 1 when the event was written to the event queue
export const XO_LEVEL = 28; // u32 walk level of the entry that translated
export const XO_BYTES = 32;

// Translation status (engine return value and batch status byte), as QEMU's
// SMMUTranslationStatus.
export const XS_SUCCESS = 0;
export const XS_DISABLE = 1; // SMMUEN = 0: bypass (or GBPA abort in the arch profile)
export const XS_BYPASS = 2; // STE Config = bypass
export const XS_ABORT = 3; // STE Config = abort, no event
export const XS_ERROR = 4; // fault: event recorded if the configuration asks for it
export const XS_GBPA_ABORT = 5; // SMMUEN = 0 and GBPA.ABORT = 1 (arch profile)

// Access flags of a translation request.
export const ACC_READ = 1;
export const ACC_WRITE = 2;

// Translation batch: parallel arrays inside one area of XB_CAPACITY entries.
export const XB_CAPACITY = 4096;
export const XB_SID = 0; // u32[cap]
export const XB_IOVA = 4 * 4096; // f64[cap] (numbers below 2^53)
export const XB_ACCESS = 12 * 4096; // u8[cap]
export const XB_STATUS = 13 * 4096; // u8[cap]
export const XB_OUT = 14 * 4096; // f64[cap] output address
export const XB_BYTES = 22 * 4096;

// IOTLB entry (assembly/iotlb.ts), readable through debug_iotlb_entry.
export const IE_IOVA = 0; // u64 key: IOVA aligned to the entry's size
export const IE_TA = 8; // u64 translated address of the block
export const IE_MASK = 16; // u64 address mask (block size - 1)
export const IE_ASID = 24; // u16 (low 16 bits of the ASID key)
export const IE_TG = 26; // u8 key: (granule - 10) / 2
export const IE_LEVEL = 27; // u8 key: walk level
export const IE_PERM = 28; // u8 ACC_READ | ACC_WRITE (stage 1 of a nested entry: QEMU entry.perm)
export const IE_GRANULE = 29; // u8 granule shift
export const IE_SLOT = 30; // u16 hash slot holding this entry (engine-private)
export const IE_ASIDKEY = 32; // u32 key: ASID, or KEY_NONE for stage-2 entries (QEMU asid -1)
export const IE_VMID = 36; // u32 key: VMID, or KEY_NONE on an SMMU without stage 2 (QEMU vmid -1)
export const IE_PPERM = 40; // u8 stage-2 permissions of the entry (QEMU parent_perm)
export const IE_BYTES = 48;
/** Bytes of one configuration-cache entry (CF_* of assembly/config.ts; a power of two). */
export const CF_ENTRY_BYTES = 128;
/** Snapshot records of the caches (src/arch/snapshot.ts): an IOTLB entry as is; a configuration entry after a u32 StreamID and 12 zero bytes. */
export const REC_IOTLB_BYTES = IE_BYTES;
export const REC_CONFIG_BYTES = 16 + CF_ENTRY_BYTES;
/** The IOTLB key value QEMU writes as -1 (no ASID: a stage-2 entry; no VMID: no stage 2). */
export const KEY_NONE = 0x10000;

// RAM regions inside the engine's memory: at most this many bytes in all (the 4 GiB
// WebAssembly memory also holds the tables and staging areas).
export const RAM_LIMIT_BYTES = 0xc0000000;
export const RAM_MAX_REGIONS = 16;

// DMA staging buffer (device side of a dma() call).
export const DMA_BUF_BYTES = 65536;

// Forwarding window: what the dispatcher sends to the physical SMMUs, per backend, in the
// form each receives it. Backend b's entries (16 bytes each: the rewritten command, or STE
// words 0-1) lie contiguously in its entry area, in guest order; beside each a u32 tag (the
// index of its guest command among the window's forwarding commands, FWT_* flags) and, for
// an entry naming a physical StreamID, that pSID. The header (FWH_BYTES per backend, at
// fwd_out_ptr()) says where and how many.
export const FW_CAPACITY = 8192; // entries per window (and per backend area)
export const FW_ENTRY_BYTES = 16;
export const FWH_COUNT = 0; // u32 entries for the backend in this window
export const FWH_STES = 4; // u32 of them STE installs (0: one invalidate() takes them all)
export const FWH_ENTRIES = 8; // u32 address of the entry area (FW_CAPACITY x 16 bytes)
export const FWH_TAGS = 12; // u32 address of the tags (FW_CAPACITY x u32)
export const FWH_PSIDS = 16; // u32 address of the pSIDs (FW_CAPACITY x u32; set for FWT_PSID entries)
export const FWH_BYTES = 32;
export const FWT_STE = 0x80000000; // tag: the entry is an STE install (installSte), else an invalidation
export const FWT_PSID = 0x40000000; // tag: the entry names a physical StreamID (an STE install, CFGI_CD, CFGI_CD_ALL, ATC_INV)
export const FWT_INDEX = 0x3fffffff; // tag: index of the guest command (0, 1, ... in guest order, per window)
// fwd_flush(limit) is the engine's call to the host where a window ends (a CMD_SYNC with
// entries, a nearly full window, a command error behind entries, the end of the queue).
// `limit`: entries whose command index is at or past it are not sent (the command error's
// place), FWT_INDEX when there is none. Its result, and fwd_done's argument: one of these,
// or the failed entry as backend * FW_CAPACITY + position.
export const FWR_DONE = -1; // every entry took effect
export const FWR_PENDING = -2; // a backend answers later: the window is held (CQ_FORWARD), fwd_done completes it
export const FWR_ERROR = -3; // every entry sent took effect: raise the command error at the limit
// Kinds of forwarded entries in the TypeScript reference's list (src/reference/cmdq.ts).
export const FWK_INV = 0;
export const FWK_STE = 1;
export const FWK_ERROR = 2; // marker: a command error found while entries were pending (w0 = error, w1 = opcode)
/** The entry names a physical StreamID: an STE install, or CFGI_CD / CFGI_CD_ALL / ATC_INV rewritten for the pSMMU. */
export const FWF_PSID = 1;

// Limits of the vIOMMU dispatcher (assembly/dispatch.ts).
/** Most CDs read to learn the ASIDs of one STE (vIOMMU contract); past it the backend is assumed to hold every ASID. */
export const LEARN_CD_LIMIT = 4096;
export const MAX_BACKENDS = 32; // physical SMMUs per vSMMU: a set of them is one u32 mask
export const MAX_VDEVS = 1024; // passthrough devices per vSMMU

// cmdq_consume / mmio_write result.
export const CQ_IDLE = 0; // nothing for the host to do
export const CQ_FORWARD = 1; // a forwarding window is held: the host completes it (Forwarder.flush), then fwd_done
export const CQ_BUSY = 2; // a flush is outstanding; consumption resumes after it

// Backend event staging: one 32-byte record.
export const BEV_BYTES = 32;

// Interrupt pulse counters: u32 per line (IRQ_* in registers.ts), cleared by the host.
export const IRQ_COUNTERS_BYTES = 16;

// Trace ring: records of TR_BYTES, TR_CAPACITY of them.
export const TR_ID = 0; // u32 event id (src/arch/trace-events.ts)
export const TR_ARGS = 8; // u64[8]
export const TR_BYTES = 72;
export const TR_CAPACITY = 256;

// Statistics counters (u64 each), read by the host.
export const ST_COMMANDS = 0;
export const ST_SYNCS = 8;
export const ST_TRANSLATIONS = 16;
export const ST_IOTLB_HITS = 24;
export const ST_IOTLB_MISSES = 32;
export const ST_CFG_HITS = 40;
export const ST_CFG_MISSES = 48;
export const ST_EVENTS = 56;
export const ST_EVENTS_LOST = 64;
export const ST_FORWARDED = 72;
export const ST_FILTERED = 80; // commands for emulated devices / not forwarded anywhere
export const ST_BROADCAST_TLBI = 88;
export const ST_TARGETED_TLBI = 96;
export const ST_WALK_READS = 104;
export const ST_IOTLB_FLUSH_FULL = 112;
export const ST_BYTES = 128;

// Profile flags (reset argument).
export const PF_GBPA = 1; // GBPA implemented: Update handshake, ABORT honoured while SMMUEN = 0
export const PF_AF = 2; // Access flag checked: AF = 0 gives F_ACCESS
export const PF_ADDR_SIZE = 4; // output addresses checked against the CD's IPS / IDR5.OAS: F_ADDR_SIZE
export const PF_V10 = 8; // QEMU 10.0 rules: VMID16, CLASS in walk-fault records, commands legal per implemented stage
export const PF_S2P = 16; // stage 2 implemented (IDR0.S2P)
export const PF_NO_S1P = 32; // stage 1 not implemented (IDR0.S1P = 0)
export const PF_QEMU_BUGS = 64; // QEMU 10.0's stage-2/nested departures (README "QEMU 10.0 departures")
export const PF_QEMU_72 = 0;
export const PF_ARCH = 7;
export const PF_QEMU_10 = PF_GBPA | PF_AF | PF_ADDR_SIZE | PF_V10 | PF_QEMU_BUGS;
