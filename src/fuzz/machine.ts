// The guest machine of the robustness campaign (campaign.ts): the model in one of the
// fuzz modes (RAM inside the model, emulator callbacks, or vIOMMU with two backends), a
// guest driver's setup (domains of random granules, mappings, attachments), and the random
// commands a round queues. Every operation on the model is recorded as a trace operation.

import { createSmmu, type Smmu } from '../smmu.js';
import { GuestDriver, type Domain, type GuestBus } from '../guest/driver.js';
import * as enc from '../guest/encode.js';
import { applyOp, smmuTarget, type Op, type OpTarget } from '../ops.js';
import type { Rng } from '../conformance/rng.js';
import type { HostError } from '../host-error.js';
import * as C from '../arch/commands.js';
import * as R from '../arch/registers.js';
import { hex } from '../bits.js';
import type { BatchResult, PsmmuBackend } from '../backends/types.js';
import type { SmmuOptions } from '../types.js';
import type { FuzzMode } from './campaign.js';

/** Guest memory: 4 MiB across 2^32 (bit 31 set below it), so every address crosses the limits of 32-bit values. */
export const FUZZ_BASE = 0xfff00000;
export const FUZZ_SIZE = 0x400000;
const HEAP_SIZE = 0x300000; // driver structures and the queues; data frames above
const DATA = FUZZ_BASE + HEAP_SIZE;
const DATA_PAGES = (FUZZ_SIZE - HEAP_SIZE) / 4096;
export const CMDQ_LOG2 = 14;
export const EMULATED = [0x18, 0x20, 0x28, 0x30];
export const PASSTHROUGH = [{ sid: 0x40, backend: 'p0', psid: 0x1040 }, { sid: 0x48, backend: 'p1', psid: 0x2048 }];
export const BACKENDS = [{ name: 'p0', vmid: 0x101 }, { name: 'p1', vmid: 0x102 }];
const ASIDS = [1, 2, 3, 0x1234];
export const IOVA_PAGES = 64; // mapped per domain, from IOVA 0x100000
export const IOVA0 = 0x100000;


/** A backend that applies everything and remembers what it got while asked to. */
class FuzzBackend implements PsmmuBackend {
  recording = false;
  readonly got: string[] = [];
  entries = 0;
  constructor(readonly name: string) {}
  invalidate(entries: Uint8Array): BatchResult {
    this.entries += entries.length / 16;
    if (this.recording) {
      for (let i = 0; i < entries.length; i += 16) {
        const [w0, w1] = enc.bytesToWords(entries.subarray(i, i + 16));
        this.got.push(`inv ${hex(w0)} ${hex(w1)}`);
      }
    }
    return { done: entries.length / 16 };
  }
  installSte(psid: number, s: Uint8Array): BatchResult {
    this.entries++;
    if (this.recording) {
      const [w0, w1] = enc.bytesToWords(s);
      this.got.push(`ste ${hex(psid)} ${hex(w0)} ${hex(w1)}`);
    }
    return { done: 1 };
  }
}

/** Operations recorded since the last setup (the repro of a failure). */
export type Recorded = Op | { op: 'bytes'; addr: number; bytes: Uint8Array };

/** The fuzzed model and the guest driver that programs it; every operation is recorded. */
export class Machine {
  smmu!: Smmu;
  driver!: GuestDriver;
  domains: Domain[] = [];
  backends: FuzzBackend[] = [];
  /** Callback-mode guest memory (owned by the "emulator"). */
  readonly mem = new Uint8Array(FUZZ_SIZE);
  readonly log: Recorded[] = [];
  target!: OpTarget;
  cons = 0; // CMDQ_CONS as last read (index | wrap)
  setupEnd = 0; // log[0..setupEnd): the last setup
  roundStart = 0; // log[roundStart..]: the current round
  hostErrors: HostError[] = [];
  /** StreamIDs that did DMA: they exist as devices from then on (QEMU: an IOMMU region per PCI device). */
  readonly dmaSids = new Set<number>(EMULATED);

  constructor(readonly mode: FuzzMode) {}

  async start(): Promise<void> {
    const opts: SmmuOptions = {
      devices: EMULATED,
      onHostError: (e) => { this.hostErrors.push(e); },
    };
    if (this.mode === 'callbacks') {
      const inside = (a: number, n: number) => a >= FUZZ_BASE && a + n <= FUZZ_BASE + FUZZ_SIZE;
      opts.memory = {
        read: (a, dst) => {
          if (!inside(a, dst.length)) return false;
          dst.set(this.mem.subarray(a - FUZZ_BASE, a - FUZZ_BASE + dst.length));
          return true;
        },
        write: (a, src) => {
          if (!inside(a, src.length)) return false;
          this.mem.set(src, a - FUZZ_BASE);
          return true;
        },
      };
    } else {
      opts.ram = [{ base: FUZZ_BASE, size: FUZZ_SIZE }];
    }
    if (this.mode === 'viommu') {
      this.backends = BACKENDS.map((b) => new FuzzBackend(b.name));
      opts.viommu = { backends: BACKENDS.map((b, i) => ({ ...b, backend: this.backends[i] })), devices: PASSTHROUGH };
    }
    this.smmu = await createSmmu(opts);
    this.target = smmuTarget(this.smmu, { digest: false });
  }

  /** Applies one operation and records it. */
  apply(o: Op): bigint | string | undefined {
    this.log.push(o);
    if (o.op === 'dma') this.dmaSids.add(o.sid);
    return applyOp(this.target, o);
  }

  writeBytes(addr: number, bytes: Uint8Array): void {
    this.log.push({ op: 'bytes', addr, bytes });
    this.smmu.writeMemory(addr, bytes);
  }

  /** Register reads have no side effects: they are not recorded. */
  r32(off: number): number {
    return Number(this.smmu.mmioRead(off, 4));
  }

  w32(off: number, v: number): void {
    this.apply({ op: 'mmio_write', offset: off, size: 4, value: BigInt(v >>> 0) });
  }

  /** A bus for the guest driver that records what it does. */
  bus(): GuestBus {
    return {
      mmioRead: (off, size) => this.smmu.mmioRead(off, size),
      mmioWrite: (off, size, v) => { this.apply({ op: 'mmio_write', offset: off, size, value: BigInt.asUintN(size * 8, BigInt(v)) }); },
      readMemory: (a, n) => this.smmu.readMemory(a, n),
      writeMemory: (a, d) => this.writeBytes(a, d.slice()),
    };
  }

  /** Device reset, then a driver's probe and a random set of domains, mappings and attachments. */
  setup(rng: Rng): void {
    this.log.length = 0;
    this.smmu.reset();
    this.log.push({ op: 'mmio_write', offset: R.R_CR0, size: 4, value: 0n }); // (reset is implied at the start of a trace)
    const d = new GuestDriver(this.bus(), { heap: { base: FUZZ_BASE, size: HEAP_SIZE }, cmdqLog2: CMDQ_LOG2, evtqLog2: 7 });
    d.init();
    this.driver = d;
    this.domains = ASIDS.map((asid) => d.createDomain({ asid, granule: rng.pick([4096, 16384, 65536]), vaBits: rng.pick([32, 39, 48]) }));
    // mappings over [IOVA0, IOVA0 + IOVA_PAGES * 4 KiB), granule pages, 80% of them present, some read-only
    for (const dom of this.domains) {
      const frames = (DATA_PAGES * 4096) / dom.granule;
      for (let off = 0; off < IOVA_PAGES * 4096; off += dom.granule) {
        if (rng.chance(0.8)) d.map(dom, IOVA0 + off, DATA + rng.int(0, frames - 1) * dom.granule, dom.granule, { readOnly: rng.chance(0.2) });
      }
    }
    for (const sid of [...EMULATED, ...(this.mode === 'viommu' ? PASSTHROUGH.map((p) => p.sid) : [])]) {
      const k = rng.int(0, 9);
      if (k < 7) d.attach(sid, this.domains[rng.int(0, this.domains.length - 1)]);
      else if (k < 9 || EMULATED.includes(sid)) d.setSte(sid, { config: k === 7 ? 4 : k === 8 ? 0 : 6 }); // (iommufd refuses stage 2 for a passthrough device)
    }
    this.cons = this.r32(R.R_CMDQ_CONS);
    this.setupEnd = this.log.length;
  }
}

// ---- commands --------------------------------------------------------------------

/** Opcodes by weight (of 100): mostly what drivers send, whole-cache flushes rarely, 3% anything at all. */
const MIX: ReadonlyArray<readonly [number, number]> = [
  [10, C.CMD_SYNC], [20, C.CMD_TLBI_NH_VA], [10, C.CMD_TLBI_NH_VAA], [10, C.CMD_TLBI_NH_ASID], [10, C.CMD_CFGI_STE],
  [5, C.CMD_CFGI_STE_RANGE], [8, C.CMD_CFGI_CD], [4, C.CMD_CFGI_CD_ALL], [2, C.CMD_PREFETCH_CONFIG], [2, C.CMD_PREFETCH_ADDR],
  [4, C.CMD_ATC_INV], [2, C.CMD_TLBI_NH_ALL], [1, C.CMD_TLBI_NSNH_ALL], [9, -1], [3, -2],
];
const MIX_TABLE: number[] = MIX.flatMap(([w, op]) => new Array<number>(w).fill(op));

/** One random command into `out` at word offset `o` (four u32 words). */
export function randomCommand(rng: Rng, m: Machine, out: Uint32Array, o: number): void {
  let op = MIX_TABLE[rng.u32() % MIX_TABLE.length];
  let words: bigint[];
  if (op === -2) {
    // anything at all
    words = [rng.u64(), rng.u64()];
  } else {
    if (op === -1) op = rng.int(0, 0x4f); // any opcode of the command space QEMU decodes, with driver-like fields
    const sids = m.mode === 'viommu' ? [...EMULATED, 0x40, 0x48, 0x7] : [...EMULATED, 0x7, 0x10018];
    const sid = rng.chance(0.95) ? rng.pick(sids) : rng.u32();
    const asid = rng.chance(0.9) ? rng.pick(ASIDS) : rng.u32() & 0xffff;
    switch (op) {
      case C.CMD_SYNC: words = enc.cmdSync(rng.int(0, 3)); break;
      case C.CMD_TLBI_NH_VA: case C.CMD_TLBI_NH_VAA: {
        const range = rng.chance(0.3);
        words = enc.cmdTlbiVa({
          asid: op === C.CMD_TLBI_NH_VA ? asid : undefined, vmid: rng.int(0, 3),
          addr: BigInt(IOVA0 + rng.int(0, IOVA_PAGES * 4) * 4096), leaf: rng.chance(0.5),
          tg: range ? rng.int(0, 3) : 0, ttl: rng.int(0, 3), num: range ? rng.int(0, 31) : 0, scale: range ? rng.int(0, 31) : 0,
        });
        break;
      }
      case C.CMD_TLBI_NH_ASID: words = enc.cmdTlbiNhAsid(asid, rng.int(0, 3)); break;
      case C.CMD_TLBI_NH_ALL: words = enc.cmdTlbiNhAll(rng.int(0, 3)); break;
      case C.CMD_TLBI_NSNH_ALL: words = enc.cmdTlbiNsnhAll(); break;
      case C.CMD_CFGI_STE: words = enc.cmdCfgiSte(sid, rng.chance(0.5)); break;
      case C.CMD_CFGI_STE_RANGE: words = enc.cmdCfgiSteRange(sid, rng.int(0, 31)); break;
      case C.CMD_CFGI_CD: words = enc.cmdCfgiCd(sid, 0, rng.chance(0.5)); break;
      case C.CMD_CFGI_CD_ALL: words = enc.cmdCfgiCdAll(sid); break;
      case C.CMD_ATC_INV: words = enc.cmdAtcInv(sid, BigInt(rng.u32()) << 12n, rng.int(0, 52)); break;
      default: words = enc.put(enc.put(enc.cmdRaw(op), C.CMD_SID, sid), C.CMD_ASID, asid); break;
    }
    if (rng.chance(0.01)) words = enc.put(words, C.CMD_SSEC, 1);
  }
  out[o] = Number(words[0] & 0xffffffffn);
  out[o + 1] = Number(words[0] >> 32n);
  out[o + 2] = Number(words[1] & 0xffffffffn);
  out[o + 3] = Number(words[1] >> 32n);
}
