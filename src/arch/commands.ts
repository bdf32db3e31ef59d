// Command queue entries (IHI 0070, 4.1-4.7): 16 bytes, two little-endian 64-bit words.
// Field descriptors: bit position in the 128-bit entry | width * 1024.
// Positions follow QEMU 7.2's accessors (hw/arm/smmuv3-internal.h) where they matter.

export const CMD_BYTES = 16;

// Opcodes (Table 4-1), the set QEMU 7.2 decodes.
export const CMD_PREFETCH_CONFIG = 0x01;
export const CMD_PREFETCH_ADDR = 0x02;
export const CMD_CFGI_STE = 0x03;
export const CMD_CFGI_STE_RANGE = 0x04; // CFGI_ALL is CFGI_STE_RANGE with Range = 31
export const CMD_CFGI_CD = 0x05;
export const CMD_CFGI_CD_ALL = 0x06;
export const CMD_CFGI_ALL = 0x07; // opcode QEMU 7.2 lists but does not decode (CERROR_ILL)
export const CMD_TLBI_NH_ALL = 0x10;
export const CMD_TLBI_NH_ASID = 0x11;
export const CMD_TLBI_NH_VA = 0x12;
export const CMD_TLBI_NH_VAA = 0x13;
export const CMD_TLBI_EL3_ALL = 0x18;
export const CMD_TLBI_EL3_VA = 0x1a;
export const CMD_TLBI_EL2_ALL = 0x20;
export const CMD_TLBI_EL2_ASID = 0x21;
export const CMD_TLBI_EL2_VA = 0x22;
export const CMD_TLBI_EL2_VAA = 0x23;
export const CMD_TLBI_S12_VMALL = 0x28;
export const CMD_TLBI_S2_IPA = 0x2a;
export const CMD_TLBI_NSNH_ALL = 0x30;
export const CMD_ATC_INV = 0x40;
export const CMD_PRI_RESP = 0x41;
export const CMD_RESUME = 0x44;
export const CMD_STALL_TERM = 0x45;
export const CMD_SYNC = 0x46;

// Word 0
export const CMD_OPCODE = 0 | (8 * 1024); // [7:0]
export const CMD_SSEC = 10 | (1 * 1024); // [10]
export const CMD_SSV = 11 | (1 * 1024); // [11]
export const CMD_NUM = 12 | (5 * 1024); // [16:12] TLBI range: number of pages - 1
export const CMD_SCALE = 20 | (5 * 1024); // [24:20] TLBI range scale
export const CMD_SYNC_CS = 12 | (2 * 1024); // [13:12] CMD_SYNC completion signal
export const CMD_SSID = 12 | (20 * 1024); // [31:12]
export const CMD_SID = 32 | (32 * 1024); // [63:32]
export const CMD_VMID = 32 | (16 * 1024); // [47:32]
export const CMD_ASID = 48 | (16 * 1024); // [63:48]
// Word 1
export const CMD_LEAF = 64 | (1 * 1024); // [64] also CFGI_STE Leaf
export const CMD_STE_RANGE = 64 | (5 * 1024); // [68:64] CFGI_STE_RANGE Range
export const CMD_TTL = 72 | (2 * 1024); // [73:72]
export const CMD_TG = 74 | (2 * 1024); // [75:74]
export const CMD_ADDR = 76 | (52 * 1024); // [127:76], the address is this << CMD_ADDR_SHIFT
export const CMD_ADDR_SHIFT = 12;

// CMD_SYNC CS values (4.7.3)
export const SYNC_CS_NONE = 0;
export const SYNC_CS_IRQ = 1;
export const SYNC_CS_SEV = 2;

/** Bit position of word 1 inside an entry. */
export const CMD_WORD1 = 64;
