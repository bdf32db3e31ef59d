// SMMUv3 register map (IHI 0070, chapter 6) as QEMU 7.2's arm-smmuv3 exposes it.
// Offsets are within page 0; page 1 (+0x10000) aliases page 0 in QEMU.
// Field descriptors: position | width * 1024 within the 32-bit register.

export const SMMU_PAGE1 = 0x10000; // QEMU: offset &= ~0x10000 (page 1 aliases page 0)
export const SMMU_MMIO_SIZE = 0x20000; // QEMU: memory_region_init_io(..., 0x20000)

export const R_IDR0 = 0x00;
export const R_IDR1 = 0x04;
export const R_IDR2 = 0x08;
export const R_IDR3 = 0x0c;
export const R_IDR4 = 0x10;
export const R_IDR5 = 0x14;
export const R_IIDR = 0x18;
export const R_AIDR = 0x1c;
export const R_CR0 = 0x20;
export const R_CR0ACK = 0x24;
export const R_CR1 = 0x28;
export const R_CR2 = 0x2c;
export const R_STATUSR = 0x40;
export const R_GBPA = 0x44;
export const R_AGBPA = 0x48;
export const R_IRQ_CTRL = 0x50;
export const R_IRQ_CTRLACK = 0x54;
export const R_GERROR = 0x60;
export const R_GERRORN = 0x64;
export const R_GERROR_IRQ_CFG0 = 0x68; // 64-bit
export const R_GERROR_IRQ_CFG1 = 0x70;
export const R_GERROR_IRQ_CFG2 = 0x74;
export const R_STRTAB_BASE = 0x80; // 64-bit
export const R_STRTAB_BASE_CFG = 0x88;
export const R_CMDQ_BASE = 0x90; // 64-bit
export const R_CMDQ_PROD = 0x98;
export const R_CMDQ_CONS = 0x9c;
export const R_EVENTQ_BASE = 0xa0; // 64-bit
export const R_EVENTQ_PROD = 0xa8; // page-0 copy; the architected one is page 1 +0xa8
export const R_EVENTQ_CONS = 0xac;
export const R_EVENTQ_IRQ_CFG0 = 0xb0; // 64-bit
export const R_EVENTQ_IRQ_CFG1 = 0xb8;
export const R_EVENTQ_IRQ_CFG2 = 0xbc;
export const R_PRIQ_BASE = 0xc0; // 64-bit, PRI not implemented by QEMU 7.2 (RAZ/WI)
export const R_PRIQ_PROD = 0xc8;
export const R_PRIQ_CONS = 0xcc;
export const R_IDREGS = 0xfd0; // PIDR4..CIDR3, 12 words (CoreLink ID registers)
export const R_IDREGS_END = 0xffc;

// IDR0 (6.3.1)
export const IDR0_S2P = 0 | (1 * 1024);
export const IDR0_S1P = 1 | (1 * 1024);
export const IDR0_TTF = 2 | (2 * 1024);
export const IDR0_COHACC = 4 | (1 * 1024);
export const IDR0_BTM = 5 | (1 * 1024);
export const IDR0_HTTU = 6 | (2 * 1024);
export const IDR0_ASID16 = 12 | (1 * 1024);
export const IDR0_MSI = 13 | (1 * 1024);
export const IDR0_ATS = 10 | (1 * 1024);
export const IDR0_PRI = 16 | (1 * 1024);
export const IDR0_VMID16 = 18 | (1 * 1024);
export const IDR0_TTENDIAN = 21 | (2 * 1024);
export const IDR0_STALL_MODEL = 24 | (2 * 1024);
export const IDR0_TERM_MODEL = 26 | (1 * 1024);
export const IDR0_ST_LEVEL = 27 | (2 * 1024);

// IDR1 (6.3.2)
export const IDR1_SIDSIZE = 0 | (6 * 1024);
export const IDR1_SSIDSIZE = 6 | (5 * 1024);
export const IDR1_PRIQS = 11 | (5 * 1024);
export const IDR1_EVENTQS = 16 | (5 * 1024);
export const IDR1_CMDQS = 21 | (5 * 1024);

// IDR3 (6.3.4)
export const IDR3_HAD = 2 | (1 * 1024);
export const IDR3_XNX = 4 | (1 * 1024); // QEMU 10.0 sets it with stage 2
export const IDR3_RIL = 10 | (1 * 1024);
export const IDR3_BBML = 11 | (2 * 1024);

// IDR5 (6.3.6)
export const IDR5_OAS = 0 | (3 * 1024);
export const IDR5_GRAN4K = 4 | (1 * 1024);
export const IDR5_GRAN16K = 5 | (1 * 1024);
export const IDR5_GRAN64K = 6 | (1 * 1024);

// CR0 (6.3.9)
export const CR0_SMMUEN = 0 | (1 * 1024);
export const CR0_PRIQEN = 1 | (1 * 1024);
export const CR0_EVENTQEN = 2 | (1 * 1024);
export const CR0_CMDQEN = 3 | (1 * 1024);
export const CR0_ATSCHK = 4 | (1 * 1024);
export const CR0_VMW = 6 | (3 * 1024);
/** QEMU 7.2: CR0ACK = CR0 & ~SMMU_CR0_RESERVED (bits 31:10 and 5). */
export const CR0_ACK_MASK = 0x3df;

// GBPA (6.3.14), implemented only by the `arch` profile.
export const GBPA_ABORT = 20 | (1 * 1024);
export const GBPA_UPDATE = 31 | (1 * 1024);
/** Writable GBPA bits: MemAttr, MTCFG, ALLOCCFG, SHCFG, PRIVCFG, INSTCFG, ABORT. */
export const GBPA_WRITABLE = 0x1f7fff;
/** Architected reset value: SHCFG = 0b01 (use incoming). */
export const GBPA_RESET = 0x1000;

// IRQ_CTRL (6.3.16)
export const IRQ_CTRL_GERROR_IRQEN = 0 | (1 * 1024);
export const IRQ_CTRL_PRIQ_IRQEN = 1 | (1 * 1024);
export const IRQ_CTRL_EVENTQ_IRQEN = 2 | (1 * 1024);

// GERROR (6.3.18)
export const GERROR_CMDQ_ERR = 0 | (1 * 1024);
export const GERROR_EVENTQ_ABT_ERR = 2 | (1 * 1024);
export const GERROR_PRIQ_ABT_ERR = 3 | (1 * 1024);
export const GERROR_MSI_CMDQ_ABT_ERR = 4 | (1 * 1024);
export const GERROR_MSI_EVENTQ_ABT_ERR = 5 | (1 * 1024);
export const GERROR_MSI_PRIQ_ABT_ERR = 6 | (1 * 1024);
export const GERROR_MSI_GERROR_ABT_ERR = 7 | (1 * 1024);
export const GERROR_SFM_ERR = 8 | (1 * 1024);

// STRTAB_BASE_CFG (6.3.24)
export const STRTAB_CFG_LOG2SIZE = 0 | (6 * 1024);
export const STRTAB_CFG_SPLIT = 6 | (5 * 1024);
export const STRTAB_CFG_FMT = 16 | (2 * 1024);
export const STRTAB_FMT_LINEAR = 0;
export const STRTAB_FMT_2LEVEL = 1;

// Queue base registers (6.3.25, 6.3.26): LOG2SIZE [4:0], ADDR [51:5].
export const Q_BASE_LOG2SIZE = 0 | (5 * 1024);
/** QEMU's SMMU_BASE_ADDR_MASK: bits 51:6 of STRTAB_BASE and the queue bases. */
export const BASE_ADDR_LO = 0xffffffc0;
export const BASE_ADDR_HI = 0xfffff;

// CMDQ_CONS (6.3.28): ERR [30:24].
export const CMDQ_CONS_ERR = 24 | (7 * 1024);
export const CERROR_NONE = 0;
export const CERROR_ILL = 1;
export const CERROR_ABT = 2;
export const CERROR_ATC_INV_SYNC = 3;

// EVENTQ_PROD (6.3.30): OVFLG [31].
export const EVENTQ_PROD_OVFLG = 31 | (1 * 1024);

// Interrupt lines, numbered as QEMU's SMMUIrq (the order of the virt machine's SPIs).
export const IRQ_EVTQ = 0;
export const IRQ_PRIQ = 1;
export const IRQ_CMD_SYNC = 2;
export const IRQ_GERROR = 3;
export const IRQ_LINES = 4;

// QEMU 7.2 implementation limits.
export const QEMU_SIDSIZE = 16; // SMMU_IDR1_SIDSIZE
export const QEMU_CMDQS = 19; // SMMU_CMDQS
export const QEMU_EVENTQS = 19; // SMMU_EVENTQS
export const QEMU_OAS = 4; // SMMU_IDR5_OAS: 44 bits
export const QEMU_AIDR = 1; // SMMUv3.1
