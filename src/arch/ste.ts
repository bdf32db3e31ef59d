// Stream table entries (IHI 0070, 5.2): 64 bytes, eight little-endian 64-bit words,
// and level-1 stream table descriptors (5.1): 8 bytes.

export const STE_BYTES = 64;
export const L1STD_BYTES = 8;

// Word 0
export const STE_V = 0 | (1 * 1024); // [0]
export const STE_CONFIG = 1 | (3 * 1024); // [3:1]
export const STE_S1FMT = 4 | (2 * 1024); // [5:4]
/** S1ContextPtr as QEMU 7.2 reads it: bits 47:6 (the architecture has 51:6). */
export const STE_S1CTXPTR_QEMU = 6 | (42 * 1024);
export const STE_S1CTXPTR = 6 | (46 * 1024); // [51:6]
export const STE_S1CDMAX = 59 | (5 * 1024); // [63:59]
// Word 1
export const STE_S1DSS = 64 | (2 * 1024); // [65:64]
export const STE_S1CIR = 66 | (2 * 1024);
export const STE_S1COR = 68 | (2 * 1024);
export const STE_S1CSH = 70 | (2 * 1024);
export const STE_S1STALLD = 91 | (1 * 1024); // [91]
export const STE_EATS = 92 | (2 * 1024); // [93:92]
export const STE_STRW = 94 | (2 * 1024); // [95:94]
// Word 2 (stage 2, 5.2)
export const STE_S2VMID = 128 | (16 * 1024); // [143:128]
export const STE_S2T0SZ = 160 | (6 * 1024); // [165:160]
export const STE_S2SL0 = 166 | (2 * 1024); // [167:166]
export const STE_S2TG = 174 | (2 * 1024); // [175:174]
export const STE_S2PS = 176 | (3 * 1024); // [178:176]
export const STE_S2AA64 = 179 | (1 * 1024); // [179]
export const STE_S2ENDI = 180 | (1 * 1024); // [180]
export const STE_S2AFFD = 181 | (1 * 1024); // [181]
export const STE_S2HD = 183 | (1 * 1024); // [183]
export const STE_S2HA = 184 | (1 * 1024); // [184]
export const STE_S2S = 185 | (1 * 1024); // [185]
export const STE_S2R = 186 | (1 * 1024); // [186]
// Word 3
export const STE_S2TTB = 196 | (48 * 1024); // [243:196], the table address is this << 4 (S2TTB[51:4])
/** S2SL0 = 3 is reserved without FEAT_TTST (QEMU: C_BAD_STE). */
export const STE_S2SL0_RESERVED = 3;
/** QEMU VMSA_MAX_S2_CONCAT: at most 16 concatenated start tables. */
export const S2_MAX_CONCAT = 16;

// Config values (5.2, Table 5-3): bit 2 = "not abort", bit 0 = stage 1, bit 1 = stage 2.
export const STE_CFG_ABORT = 0;
export const STE_CFG_BYPASS = 4;
export const STE_CFG_S1_TRANS = 5;
export const STE_CFG_S2_TRANS = 6;
export const STE_CFG_NESTED = 7;
export const STE_CFG_S1_BIT = 1;
export const STE_CFG_S2_BIT = 2;
export const STE_CFG_ENABLE_BIT = 4;

// Bits a nested stage-1 STE may have set (Linux iommufd, STRTAB_STE_{0,1}_NESTING_ALLOWED):
// word 0: V, Config, S1Fmt, S1ContextPtr, S1CDMax; word 1: S1DSS, S1CIR, S1COR, S1CSH, S1STALLD, EATS.
export const STE0_NESTING_ALLOWED_LO = 0xffffffff;
export const STE0_NESTING_ALLOWED_HI = 0xf80fffff;
export const STE1_NESTING_ALLOWED_LO = 0x380000ff;
export const STE1_NESTING_ALLOWED_HI = 0;

// Level-1 stream table descriptor (5.1)
export const L1STD_SPAN = 0 | (5 * 1024); // [4:0]
export const L1STD_L2PTR = 6 | (46 * 1024); // [51:6]; QEMU 7.2 keeps bits 63:5 (l1std_l2ptr)
