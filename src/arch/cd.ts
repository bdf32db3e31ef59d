// Context descriptors (IHI 0070, 5.4): 64 bytes, eight little-endian 64-bit words.

export const CD_BYTES = 64;

// Word 0
export const CD_T0SZ = 0 | (6 * 1024); // [5:0]
export const CD_TG0 = 6 | (2 * 1024); // [7:6]
export const CD_EPD0 = 14 | (1 * 1024); // [14]
export const CD_ENDI = 15 | (1 * 1024); // [15]
export const CD_T1SZ = 16 | (6 * 1024); // [21:16]
export const CD_TG1 = 22 | (2 * 1024); // [23:22]
export const CD_EPD1 = 30 | (1 * 1024); // [30]
export const CD_V = 31 | (1 * 1024); // [31]
export const CD_IPS = 32 | (3 * 1024); // [34:32]
export const CD_AFFD = 35 | (1 * 1024); // [35]
export const CD_TBI = 38 | (2 * 1024); // [39:38]
export const CD_AA64 = 41 | (1 * 1024); // [41]
export const CD_HD = 42 | (1 * 1024); // [42]
export const CD_HA = 43 | (1 * 1024); // [43]
export const CD_S = 44 | (1 * 1024); // [44]
export const CD_R = 45 | (1 * 1024); // [45]
export const CD_A = 46 | (1 * 1024); // [46]
export const CD_ASID = 48 | (16 * 1024); // [63:48]
// Word 1: TTB0, word 2: TTB1
export const CD_HAD0 = 65 | (1 * 1024); // [65]
/** TTB0 as QEMU 7.2 reads it: bits 50:4 (the architecture has 51:4). */
export const CD_TTB0_QEMU = 68 | (47 * 1024);
export const CD_HAD1 = 129 | (1 * 1024); // [129]
export const CD_TTB1_QEMU = 132 | (47 * 1024);
/** Distance between the TTB0 and TTB1 words. */
export const CD_TTB_STRIDE = 64;
/** Distance between the T0SZ/TG0/EPD0 and the T1SZ/TG1/EPD1 fields. */
export const CD_TT_STRIDE = 16;

// Level-1 context descriptor (5.4.1, two-level CD tables): one 64-bit word.
export const L1CD_V = 0 | (1 * 1024); // [0]
export const L1CD_L2PTR = 12 | (40 * 1024); // [51:12], the table address is this << L1CD_L2PTR_SHIFT
export const L1CD_L2PTR_SHIFT = 12;
