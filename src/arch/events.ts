// Event records (IHI 0070, 7.3): 32 bytes, four little-endian 64-bit words,
// filled as QEMU 7.2's smmuv3_record_event fills them.

export const EVT_BYTES = 32;

// Event numbers (Table 7-3)
export const EVT_NONE = 0x00;
export const EVT_F_UUT = 0x01;
export const EVT_C_BAD_STREAMID = 0x02;
export const EVT_F_STE_FETCH = 0x03;
export const EVT_C_BAD_STE = 0x04;
export const EVT_F_BAD_ATS_TREQ = 0x05;
export const EVT_F_STREAM_DISABLED = 0x06;
export const EVT_F_TRANSL_FORBIDDEN = 0x07;
export const EVT_C_BAD_SUBSTREAMID = 0x08;
export const EVT_F_CD_FETCH = 0x09;
export const EVT_C_BAD_CD = 0x0a;
export const EVT_F_WALK_EABT = 0x0b;
export const EVT_F_TRANSLATION = 0x10;
export const EVT_F_ADDR_SIZE = 0x11;
export const EVT_F_ACCESS = 0x12;
export const EVT_F_PERMISSION = 0x13;
export const EVT_F_TLB_CONFLICT = 0x20;
export const EVT_F_CFG_CONFLICT = 0x21;
export const EVT_E_PAGE_REQUEST = 0x24;

// Field descriptors: position in the 256-bit record | width * 1024.
export const EVT_TYPE = 0 | (8 * 1024); // [7:0]
export const EVT_SSV = 11 | (1 * 1024); // [11]
export const EVT_SSID = 12 | (20 * 1024); // [31:12]
export const EVT_SID = 32 | (32 * 1024); // [63:32]
export const EVT_STAG = 64 | (16 * 1024); // [79:64]
export const EVT_STALL = 95 | (1 * 1024); // [95]
export const EVT_PNU = 97 | (1 * 1024); // [97]
export const EVT_IND = 98 | (1 * 1024); // [98]
export const EVT_RNW = 99 | (1 * 1024); // [99]
export const EVT_S2 = 103 | (1 * 1024); // [103]
export const EVT_CLASS = 104 | (2 * 1024); // [105:104]
export const EVT_ADDR = 128 | (64 * 1024); // [191:128] input address
export const EVT_ADDR2 = 192 | (64 * 1024); // [255:192] IPA or fetch address

// CLASS values (7.3.12)
export const EVT_CLASS_CD = 0;
export const EVT_CLASS_TT = 1;
export const EVT_CLASS_IN = 2;
