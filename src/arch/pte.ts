// VMSAv8-64 translation table descriptors (Arm ARM D8.3), as QEMU 7.2's walker reads them.

export const PTE_BYTES = 8;
export const PTE_VALID = 0 | (1 * 1024); // [0]
export const PTE_TYPE = 0 | (2 * 1024); // [1:0]
export const PTE_TYPE_BLOCK = 1; // levels 0-2
export const PTE_TYPE_TABLE = 3; // levels 0-2
export const PTE_TYPE_PAGE = 3; // level 3
export const PTE_TYPE_L3_RESERVED = 1;
export const PTE_AP = 6 | (2 * 1024); // [7:6] AP[2:1]; S2AP[1:0] in a stage-2 descriptor (bit 6 read, bit 7 write)
export const PTE_AF = 10 | (1 * 1024); // [10]
export const PTE_APTABLE = 61 | (2 * 1024); // [62:61]
/** Output address bits kept by QEMU 7.2: [47:shift]. */
export const PTE_OA_TOP = 48;
/** AP[2] (write protect) inside the two-bit AP / APTable values. */
export const AP_RDONLY = 2;
