// The command streams of `vsmmu bench` and the guest state they run against. Every
// implementation (the wasm engine, the TypeScript reference, QEMU 7.2, memcpy) gets the
// very same bytes: 16-byte entries built here once per stream.

import * as C from '../arch/commands.js';
import { cmdCfgiCd, cmdCfgiSte, cmdSync, cmdTlbiNhAsid, cmdTlbiVa, type Words } from '../guest/encode.js';

// ---- guest physical layout (inside QEMU's virt RAM, clear of what QEMU writes at boot) --

export const RAM_BASE = 0x40000000;
/** Guest RAM the engine models (QEMU has 256 MiB; everything below lies in the first 48). */
export const ENGINE_RAM_SIZE = 0x3000000;
/** Heap of the guest driver: stream table, setup command queue, event queue, CDs, page tables. */
export const SETUP_HEAP = { base: RAM_BASE + 0x100000, size: 0xf00000 };
/** The benchmark's command queue: 2^19 entries (IDR1.CMDQS = 19), 8 MiB, size-aligned. */
export const STREAM_QUEUE = RAM_BASE + 0x1000000;
export const STREAM_LOG2 = 19;
/** Physical pages the benchmark's IOVAs map to. */
export const DATA_PA = RAM_BASE + 0x2000000;
/** Scratch page for the DMA of bypassed devices. */
export const SCRATCH_PA = RAM_BASE + 0x2f00000;
/** First IOVA of the mapped range (4 KiB pages, 48-bit VA, 4-level table). */
export const IOVA_BASE = 0x10000000;

/** Largest stream: a full queue of 2^19 entries holds 2^19 - 1 commands. */
export const FULL_STREAM = (1 << STREAM_LOG2) - 1;

// ---- devices and address spaces ---------------------------------------------------------

/** Emulated devices (QEMU: one edu device per StreamID, slot = sid >> 3). */
export const EMULATED = [0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38, 0x40];
/** The device whose context descriptor switches between the cached ASIDs. */
export const TLB_DEVICE = 0x08;
/** Passthrough devices of the mixed stream (absent in QEMU, where commands for them do nothing). */
export const PASSTHROUGH = [
  { sid: 0x48, backend: 'p0', psid: 0x100, asid: 0x2001 },
  { sid: 0x50, backend: 'p1', psid: 0x200, asid: 0x2002 },
];
export const BACKENDS = [{ name: 'p0', vmid: 5 }, { name: 'p1', vmid: 9 }];

/** ASIDs the TLBI streams name: 1..1024. */
export const ASID_SPACE = 1024;
/** ASIDs with IOTLB entries: every 16th one, 64 in all. */
export const CACHED_ASIDS = Array.from({ length: 64 }, (_, k) => 16 * (k + 1));
/** Pages cached per cached ASID (64 x 4 = 256 entries: a full QEMU IOTLB). */
export const CACHED_PAGES = 4;
export const IOTLB_ENTRIES = CACHED_ASIDS.length * CACHED_PAGES;

export const STATE_NOTE =
  `IOTLB: ${IOTLB_ENTRIES} entries (ASIDs ${CACHED_ASIDS[0]}, ${CACHED_ASIDS[1]}, ... ${CACHED_ASIDS[CACHED_ASIDS.length - 1]} ` +
  `= every 16th of ASIDs 1-${ASID_SPACE}, x ${CACHED_PAGES} pages, 4 KiB leaves of a 4-level table), filled by DMA; ` +
  `config cache: the ${EMULATED.length} emulated devices`;

// ---- streams -------------------------------------------------------------------------

export interface StreamSpec {
  name: string;
  /** What the stream does to the state above. */
  note: string;
  /** The vIOMMU dispatcher is on (passthrough devices on two pSMMUs). */
  viommu: boolean;
  /** The pSMMUs behind it: simulated (SimulatedPsmmu, the default) or null (accept every entry, do nothing). */
  backends?: 'simulated' | 'null';
  /** Command `i` of `n`. */
  command(i: number, n: number): Words;
}

/** TLBI_NH_VA as Linux 6.1 issues it on QEMU (IDR3.RIL = 1): one 4 KiB leaf page, TG = 4K, TTL = 3. */
function tlbiPage(asid: number, page: number): Words {
  return cmdTlbiVa({ asid, addr: IOVA_BASE + page * 4096, leaf: true, tg: 1, ttl: 3, num: 0, scale: 0 });
}

/**
 * TLBI number `j` of `total`: ASIDs 1..1024 in turn over uncached pages, so 1/16 of the
 * commands name an ASID that holds entries (exact-key miss, then a search); the last
 * 256 name the cached pages themselves, so the IOTLB stays full until then and is
 * empty at the end.
 */
export function tlbiVaAt(j: number, total: number): Words {
  const tail = total - IOTLB_ENTRIES;
  if (j >= tail) {
    const k = j - tail;
    return tlbiPage(CACHED_ASIDS[Math.floor(k / CACHED_PAGES)], k % CACHED_PAGES);
  }
  return tlbiPage(1 + (j % ASID_SPACE), CACHED_PAGES + Math.floor(j / ASID_SPACE));
}

const SEV = cmdSync(C.SYNC_CS_SEV);
const UNCACHED_ASIDS = Array.from({ length: ASID_SPACE }, (_, i) => i + 1).filter((a) => a % 16 !== 0);

/** Linux without MSIs ends a batch with CMD_SYNC, CS = SEV. */
export const SYNC_EVERY = 17;

export const STREAMS: StreamSpec[] = [
  {
    name: 'CMD_SYNC',
    note: 'CMD_SYNC (CS=SEV) only',
    viommu: false,
    command: () => SEV,
  },
  {
    name: 'TLBI_NH_VA many ASIDs',
    note: 'TLBI_NH_VA (leaf, TG=4K, TTL=3) over ASIDs 1-1024 in turn at uncached pages; 1/16 name a cached ASID; the last 256 remove the 256 cached entries',
    viommu: false,
    command: (i, n) => tlbiVaAt(i, n),
  },
  {
    name: 'TLBI_NH_ASID',
    note: 'TLBI_NH_ASID over the 960 uncached ASIDs of 1-1024 in turn; the last 64 remove the 64 cached ASIDs',
    viommu: false,
    command: (i, n) => {
      const tail = n - CACHED_ASIDS.length;
      return cmdTlbiNhAsid(i >= tail ? CACHED_ASIDS[i - tail] : UNCACHED_ASIDS[i % UNCACHED_ASIDS.length]);
    },
  },
  {
    name: 'CFGI_STE',
    note: `CFGI_STE (leaf) over the ${EMULATED.length} emulated devices in turn (the first ${EMULATED.length} drop their cached configs)`,
    viommu: false,
    command: (i) => cmdCfgiSte(EMULATED[i % EMULATED.length], true),
  },
  {
    name: 'TLBI_NH_VA + SYNC/17',
    note: `the TLBI_NH_VA stream with every ${SYNC_EVERY}th command a CMD_SYNC (CS=SEV)`,
    viommu: false,
    command: (i, n) => {
      if (i % SYNC_EVERY === SYNC_EVERY - 1) return SEV;
      const tlbis = n - Math.floor(n / SYNC_EVERY);
      return tlbiVaAt(i - Math.floor(i / SYNC_EVERY), tlbis);
    },
  },
  {
    name: 'mixed vIOMMU',
    note: 'vIOMMU with 2 simulated pSMMUs, 2 passthrough + 8 emulated devices; per 17 commands: 6 TLBI_NH_VA emulated ASIDs (unknown to the pSMMUs: sent to both), ' +
      '6 TLBI_NH_VA passthrough ASIDs (sent to their pSMMU), CFGI_CD passthrough (to its pSMMU), CFGI_STE emulated (every 4th: passthrough, an STE install), ' +
      'TLBI_NH_ASID passthrough, CFGI_CD emulated, CMD_SYNC (each window of forwarded entries is sent before the SYNC completes)',
    viommu: true,
    command: (i) => mixedAt(i),
  },
  {
    name: 'mixed vIOMMU null backends',
    note: 'the mixed vIOMMU stream with pSMMUs that accept every entry and do nothing (NullPsmmu): the dispatcher and the host crossing alone',
    viommu: true,
    backends: 'null',
    command: (i) => mixedAt(i),
  },
];

/** Command `i` of the mixed stream (period 17). */
export function mixedAt(i: number): Words {
  const w = Math.floor(i / SYNC_EVERY);
  const k = i % SYNC_EVERY;
  const pt = PASSTHROUGH[w & 1];
  switch (k) {
    case 0: case 2: case 4: case 6: case 8: case 10:
      return tlbiPage(1 + ((w * 6 + (k >> 1)) % ASID_SPACE), CACHED_PAGES + (w % 256));
    case 1: case 5: case 9:
      return tlbiPage(PASSTHROUGH[0].asid, (w * 3 + (k >> 2)) % 512);
    case 3: case 7: case 11:
      return tlbiPage(PASSTHROUGH[1].asid, (w * 3 + (k >> 2)) % 512);
    case 12:
      return cmdCfgiCd(pt.sid);
    case 13:
      return (w & 3) === 3 ? cmdCfgiSte(PASSTHROUGH[(w >> 2) & 1].sid) : cmdCfgiSte(EMULATED[w % EMULATED.length]);
    case 14:
      return cmdTlbiNhAsid(pt.asid);
    case 15:
      return cmdCfgiCd(EMULATED[(w + 3) % EMULATED.length]);
    default:
      return SEV;
  }
}

/** The stream's `n` commands as queue bytes (little-endian words). */
export function streamBytes(spec: StreamSpec, n: number): Uint8Array {
  const out = new Uint8Array(n * C.CMD_BYTES);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    const [w0, w1] = spec.command(i, n);
    dv.setBigUint64(i * 16, BigInt.asUintN(64, w0), true);
    dv.setBigUint64(i * 16 + 8, BigInt.asUintN(64, w1 ?? 0n), true);
  }
  return out;
}

/** Opcode histogram of a stream (for checks and for the report). */
export function opcodeCounts(bytes: Uint8Array): Map<number, number> {
  const m = new Map<number, number>();
  for (let i = 0; i < bytes.length; i += 16) m.set(bytes[i], (m.get(bytes[i]) ?? 0) + 1);
  return m;
}
