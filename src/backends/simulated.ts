// A simulated physical SMMU: what a vSMMU's forwarded commands do to real hardware,
// with the costs that make topologies differ (../../README.md, "Topologies").
// - An STE per physical StreamID (nested stage-1 STEs installed by vSMMUs, each tagged
//   with the VMID of the vIOMMU handle that installed it).
// - An IOTLB tagged (VMID, ASID, VA page), finite and set-associative (LRU), filled by
//   passthrough devices' DMA (dma()), and a stage-2 walk cache tagged (VMID, IPA page):
//   every stage-1 descriptor read is an IPA that needs a stage-2 translation (identity
//   here) costing `s2Levels` reads on a miss; so a cold 4-level S1 walk over a 4-level S2
//   costs up to 24 reads.
// - A command queue priced per entry, per batch (the ioctl/doorbell) and per CMD_SYNC,
//   issued every `chunk` entries as the kernel does.
// - Counters, including over-invalidation: IOTLB entries dropped whose translation the
//   guest's page tables still hold (the guest did not need them dropped).
// - Fault injection: refuse the k-th entry, throw, or answer after a delay.

import type { BatchResult, PsmmuBackend } from './types.js';
import * as C from '../arch/commands.js';
import * as STE from '../arch/ste.js';
import * as CD from '../arch/cd.js';
import * as P from '../arch/pte.js';
import * as E from '../arch/events.js';
import { field64 } from '../bits.js';

export interface SimulatedPsmmuOptions {
  name: string;
  /** IOTLB capacity in entries (default 1024) and associativity (default 8 ways). */
  iotlbEntries?: number;
  iotlbWays?: number;
  /** Stage-2 walk cache capacity in entries (default 256, fully associative LRU). */
  s2CacheEntries?: number;
  /** Reads of one stage-2 walk (default 4: a 4-level stage 2). */
  s2Levels?: number;
  /** Costs in nanoseconds. */
  costPerEntryNs?: number;
  costPerBatchNs?: number;
  costPerSyncNs?: number;
  costPerReadNs?: number;
  /** Entries per CMD_SYNC chunk (the kernel issues 63 then a sync). */
  chunk?: number;
  /** Guest memory for walks (IPA = PA: identity stage 2); returns false on an abort. */
  memory?: (addr: number, dst: Uint8Array) => boolean;
  /** Keep the text of every entry that took effect in `applied` (and handles' `received`); default true. */
  log?: boolean;
}

export interface PsmmuCounters {
  /** Invalidation entries and STE installs that took effect. */
  entries: number;
  /** Calls (ioctls / doorbells). */
  batches: number;
  /** CMD_SYNCs the physical queue needed. */
  syncs: number;
  steInstalls: number;
  iotlbDropped: number;
  overInvalidations: number;
  iotlbHits: number;
  iotlbMisses: number;
  s2Hits: number;
  s2Misses: number;
  walkReads: number;
  faults: number;
  /** Time spent on commands (entries, batches, syncs). */
  commandNs: number;
  /** Time spent on table walks (reads). */
  walkNs: number;
}

/** The nested STE a SimulatedPsmmu holds for a pSID: the guest's STE words 0-1 and the installing VMID. */
export interface SteSlot {
  w0: bigint;
  w1: bigint;
  vmid: number;
}

/**
 * The IOTLB: `sets` sets of `ways` slots in parallel typed arrays (no object per entry);
 * set s holds len[s] entries at slots [s * ways, s * ways + len[s]), least recently used
 * first. Each entry keeps the walk it came from (root, granule shift, TSZ) for the
 * over-invalidation check.
 */
class Iotlb {
  readonly len: Int32Array;
  readonly vmid: Int32Array;
  readonly asid: Int32Array;
  readonly page: Float64Array;
  readonly pa: Float64Array; // page base
  readonly writable: Uint8Array;
  readonly root: Float64Array;
  readonly granule: Uint8Array;
  readonly tsz: Uint8Array;
  constructor(readonly sets: number, readonly ways: number) {
    const n = sets * ways;
    this.len = new Int32Array(sets);
    this.vmid = new Int32Array(n);
    this.asid = new Int32Array(n);
    this.page = new Float64Array(n);
    this.pa = new Float64Array(n);
    this.writable = new Uint8Array(n);
    this.root = new Float64Array(n);
    this.granule = new Uint8Array(n);
    this.tsz = new Uint8Array(n);
  }

  /** Moves slot `from` to slot `to` (same set). */
  private move(from: number, to: number): void {
    this.vmid[to] = this.vmid[from];
    this.asid[to] = this.asid[from];
    this.page[to] = this.page[from];
    this.pa[to] = this.pa[from];
    this.writable[to] = this.writable[from];
    this.root[to] = this.root[from];
    this.granule[to] = this.granule[from];
    this.tsz[to] = this.tsz[from];
  }

  /** Removes entry `i` of set `s` (the later ones move down one slot). */
  remove(s: number, i: number): void {
    const base = s * this.ways;
    const last = this.len[s] - 1;
    for (let k = i; k < last; k++) this.move(base + k + 1, base + k);
    this.len[s] = last;
  }

  /** Makes entry `i` of set `s` the most recently used (last). */
  touch(s: number, i: number): void {
    const base = s * this.ways;
    const last = this.len[s] - 1;
    if (i === last) return;
    const v = this.vmid[base + i], a = this.asid[base + i], pg = this.page[base + i], pa = this.pa[base + i];
    const w = this.writable[base + i], r = this.root[base + i], g = this.granule[base + i], t = this.tsz[base + i];
    for (let k = i; k < last; k++) this.move(base + k + 1, base + k);
    this.put(base + last, v, a, pg, pa, w, r, g, t);
  }

  put(slot: number, vmid: number, asid: number, page: number, pa: number, writable: number, root: number, granule: number, tsz: number): void {
    this.vmid[slot] = vmid;
    this.asid[slot] = asid;
    this.page[slot] = page;
    this.pa[slot] = pa;
    this.writable[slot] = writable;
    this.root[slot] = root;
    this.granule[slot] = granule;
    this.tsz[slot] = tsz;
  }
}

/** What an invalidation drops: by VMID, ASID (unless `anyAsid`) and a page range. */
const DROP_VMID = 0, DROP_ASID = 1, DROP_RANGE = 2;

/** A vSMMU's handle on a pSMMU (an iommufd vIOMMU object): its VMID and what took effect through it. */
export interface ViommuHandle extends PsmmuBackend {
  readonly vmid: number;
  /** Entries that took effect through this handle, as in SimulatedPsmmu.applied. */
  readonly received: string[];
}

export interface PassthroughDmaResult {
  ok: boolean;
  /** Output address (0 when !ok). */
  pa: number;
  /** Event number raised (0 when none). */
  event: number;
}

const PAGE = 4096;
const OA_MASK = 0x0000fffffffff000n;

export class SimulatedPsmmu implements PsmmuBackend {
  readonly name: string;
  readonly counters: PsmmuCounters = {
    entries: 0, batches: 0, syncs: 0, steInstalls: 0, iotlbDropped: 0, overInvalidations: 0,
    iotlbHits: 0, iotlbMisses: 0, s2Hits: 0, s2Misses: 0, walkReads: 0, faults: 0, commandNs: 0, walkNs: 0,
  };
  /** Installed nested STEs by physical StreamID. */
  readonly stes = new Map<number, SteSlot>();
  /** Everything that took effect, in order, as `inv:<32 hex>` / `ste:<psid>:<32 hex>`. */
  readonly applied: string[] = [];
  /** VMIDs seen in invalidation entries (what the property tests check). */
  readonly vmidsSeen = new Set<number>();
  private failIn = -1;
  private throwIn = -1;
  private delayMs = 0;
  private readonly listeners = new Set<(r: Uint8Array) => void>();
  private readonly tlb: Iotlb;
  /** Entries in the IOTLB. */
  private live = 0;
  private readonly ways: number;
  /** Stage-2 walk cache: keys VMID * 2^40 + IPA page, in LRU order (Map insertion order), no strings or objects. */
  private readonly s2 = new Map<number, true>();
  /** The entries of the synchronous invalidate() call under way, and its per-entry step (made once). */
  private cur: Uint8Array = new Uint8Array(0);
  private readonly applyCur = (i: number): string | undefined => this.applyInvalidation(this.cur, i * 16);
  private readonly o: Required<Omit<SimulatedPsmmuOptions, 'memory'>> & Pick<SimulatedPsmmuOptions, 'memory'>;

  constructor(options: SimulatedPsmmuOptions) {
    if (!options || typeof options.name !== 'string' || options.name === '') throw new TypeError('SimulatedPsmmu: options.name must be a non-empty string');
    this.name = options.name;
    this.o = {
      iotlbEntries: 1024, iotlbWays: 8, s2CacheEntries: 256, s2Levels: 4, log: true,
      costPerEntryNs: 40, costPerBatchNs: 1000, costPerSyncNs: 500, costPerReadNs: 80, chunk: 63,
      ...options,
      name: options.name,
    };
    for (const k of ['iotlbEntries', 'iotlbWays', 's2CacheEntries', 'chunk'] as const) {
      const v = this.o[k];
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`SimulatedPsmmu: ${k} must be a positive integer, got ${v}`);
    }
    this.ways = Math.min(this.o.iotlbWays, this.o.iotlbEntries);
    this.tlb = new Iotlb(Math.max(1, Math.floor(this.o.iotlbEntries / this.ways)), this.ways);
  }

  // ---- vIOMMU handles ------------------------------------------------------------

  /**
   * The backend a vSMMU uses for this pSMMU: an iommufd vIOMMU object with its own VMID.
   * Several vSMMUs (of one VM or of several) can each hold a handle with a distinct VMID.
   */
  viommu(vmid: number): ViommuHandle {
    if (!Number.isInteger(vmid) || vmid < 0 || vmid > 0xffff) throw new RangeError(`SimulatedPsmmu: vmid must be in [0, 65535], got ${vmid}`);
    const received: string[] = [];
    const done = (r: BatchResult | Promise<BatchResult>, log: (n: number) => void) =>
      r instanceof Promise ? r.then((x) => (log(x.done), x)) : (log(r.done), r);
    return {
      name: this.name,
      vmid,
      received,
      invalidate: (entries) => done(this.invalidate(entries), (n) => {
        if (this.o.log) for (let i = 0; i < n; i++) received.push(`inv:${toHex(entries.subarray(i * 16, i * 16 + 16))}`);
      }),
      installSte: (psid, ste) => done(this.install(psid, ste, vmid), (n) => {
        if (n && this.o.log) received.push(`ste:0x${psid.toString(16)}:${toHex(ste.subarray(0, 16))}`);
      }),
      subscribe: (l) => this.subscribe(l),
    };
  }

  // ---- fault injection ------------------------------------------------------------

  /** The `k`-th entry (0-based) given after this call is refused, once. */
  failAt(k: number): void {
    this.failIn = k;
  }

  /** The `k`-th entry given after this call makes the backend throw, once. */
  throwAt(k: number): void {
    this.throwIn = k;
  }

  /** Every call completes after `ms` milliseconds (asynchronously); 0 = synchronous. */
  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  // ---- PsmmuBackend --------------------------------------------------------------

  invalidate(entries: Uint8Array): BatchResult | Promise<BatchResult> {
    if (!(entries instanceof Uint8Array) || entries.length % 16 !== 0) return { done: 0, error: 'entries must be a multiple of 16 bytes' };
    if (this.delayMs > 0) return this.run(entries.length / 16, (i) => this.applyInvalidation(entries, i * 16));
    this.cur = entries;
    try {
      return this.run(entries.length / 16, this.applyCur);
    } finally {
      this.cur = EMPTY; // the view is the caller's: not kept
    }
  }

  installSte(psid: number, ste: Uint8Array): BatchResult | Promise<BatchResult> {
    return this.install(psid, ste, 0);
  }

  private install(psid: number, ste: Uint8Array, vmid: number): BatchResult | Promise<BatchResult> {
    return this.run(1, () => {
      const err = checkNestedSte(ste);
      if (err) return err;
      const dv = new DataView(ste.buffer, ste.byteOffset, 16);
      const w0 = dv.getBigUint64(0, true);
      this.stes.set(psid, { w0: (w0 & 1n) === 0n ? 0n : w0, w1: (w0 & 1n) === 0n ? 0n : dv.getBigUint64(8, true), vmid });
      this.counters.steInstalls++;
      if (this.o.log) this.applied.push(`ste:0x${psid.toString(16)}:${toHex(ste.subarray(0, 16))}`);
      return undefined;
    });
  }

  subscribe(listener: (record: Uint8Array) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reports a physical event (32-byte record, pSID in bits 63:32) to every subscribed vSMMU. */
  raiseEvent(record: Uint8Array): void {
    for (const l of [...this.listeners]) l(record);
  }

  private run(n: number, apply: (i: number) => string | undefined): BatchResult | Promise<BatchResult> {
    const exec = (): BatchResult => {
      this.counters.batches++;
      this.counters.commandNs += this.o.costPerBatchNs;
      let done = 0;
      try {
        for (; done < n; done++) {
          if (this.throwIn === 0) {
            this.throwIn = -1;
            throw new Error(`${this.name}: injected failure`);
          }
          if (this.throwIn > 0) this.throwIn--;
          if (this.failIn === 0) {
            this.failIn = -1;
            return { done, error: 'injected failure' };
          }
          if (this.failIn > 0) this.failIn--;
          const err = apply(done);
          if (err) return { done, error: err };
          this.counters.entries++;
          this.counters.commandNs += this.o.costPerEntryNs;
        }
        return { done };
      } finally {
        const syncs = Math.max(1, Math.ceil(done / this.o.chunk));
        this.counters.syncs += syncs;
        this.counters.commandNs += syncs * this.o.costPerSyncNs;
      }
    };
    if (this.delayMs > 0) {
      return new Promise((resolve, reject) => setTimeout(() => {
        try { resolve(exec()); } catch (e) { reject(e); }
      }, this.delayMs));
    }
    return exec();
  }

  /** The invalidation entry at `o` of `e`. */
  private applyInvalidation(e: Uint8Array, o: number): string | undefined {
    // word 0: opcode [7:0], VMID [47:32], ASID [63:48] (src/arch/commands.ts)
    const op = e[o];
    const vmid = e[o + 4] | (e[o + 5] << 8);
    const asid = e[o + 6] | (e[o + 7] << 8);
    switch (op) {
      case C.CMD_TLBI_NH_ALL:
        this.vmidsSeen.add(vmid);
        this.drop(DROP_VMID, vmid, 0, 0, 0);
        break;
      case C.CMD_TLBI_NH_ASID:
        this.vmidsSeen.add(vmid);
        this.drop(DROP_ASID, vmid, asid, 0, 0);
        break;
      case C.CMD_TLBI_NH_VA:
      case C.CMD_TLBI_NH_VAA: {
        this.vmidsSeen.add(vmid);
        if (this.live === 0) break;
        const first = vaFirstPage(e, o);
        this.drop(DROP_RANGE, vmid, op === C.CMD_TLBI_NH_VAA ? -1 : asid, first, first + vaPages(e, o));
        break;
      }
      case C.CMD_CFGI_CD:
      case C.CMD_CFGI_CD_ALL:
      case C.CMD_ATC_INV:
        break; // no CD cache or ATC modelled
      default:
        return `opcode 0x${op.toString(16)} is not accepted (iommufd takes TLBI_NH_*, CFGI_CD*, ATC_INV)`;
    }
    if (this.o.log) this.applied.push(`inv:${toHex(e.subarray(o, o + 16))}`);
    return undefined;
  }

  /** Drops the IOTLB entries of `vmid` (DROP_VMID), of its `asid` (DROP_ASID), or of its `asid` (-1: any) in pages [first, end) (DROP_RANGE). */
  private drop(how: number, vmid: number, asid: number, first: number, end: number): void {
    if (this.live === 0) return;
    const t = this.tlb;
    for (let s = 0; s < t.sets; s++) {
      const base = s * t.ways;
      for (let i = t.len[s] - 1; i >= 0; i--) {
        const k = base + i;
        if (t.vmid[k] !== vmid) continue;
        if (how !== DROP_VMID && asid >= 0 && t.asid[k] !== asid) continue;
        if (how === DROP_RANGE && (t.page[k] < first || t.page[k] >= end)) continue;
        this.counters.iotlbDropped++;
        const now = this.walkFrom(t.root[k], t.granule[k], t.tsz[k], t.page[k] * PAGE, false, false);
        if (typeof now === 'object' && now.pa === t.pa[k] && now.writable === (t.writable[k] === 1)) this.counters.overInvalidations++;
        t.remove(s, i);
        this.live--;
      }
    }
  }

  // ---- passthrough DMA ----------------------------------------------------------

  private read(addr: number, len: number, vmid: number, costed: boolean): Uint8Array | null {
    const out = new Uint8Array(len);
    if (costed) {
      this.s2Translate(vmid, addr);
      this.counters.walkReads++;
      this.counters.walkNs += this.o.costPerReadNs;
    }
    if (!this.o.memory || !this.o.memory(addr, out)) return null;
    return out;
  }

  /** Stage 2 (identity) through the walk cache: a miss costs s2Levels reads. */
  private s2Translate(vmid: number, ipa: number): void {
    const key = vmid * 2 ** 40 + Math.floor(ipa / PAGE); // IPA pages below 2^40 (52-bit IPAs)
    if (this.s2.has(key)) {
      this.counters.s2Hits++;
      this.s2.delete(key);
      this.s2.set(key, true);
      return;
    }
    this.counters.s2Misses++;
    this.counters.walkReads += this.o.s2Levels;
    this.counters.walkNs += this.o.s2Levels * this.o.costPerReadNs;
    if (this.s2.size >= this.o.s2CacheEntries) this.s2.delete(this.s2.keys().next().value as number);
    this.s2.set(key, true);
  }

  /** Stage-1 walk from a root; a fault number, or the page and its permission. */
  private walkFrom(root: number, g: number, tsz: number, va: number, costed: boolean, write: boolean, vmid = 0): { pa: number; writable: boolean } | number {
    const stride = g - 3;
    const inputsize = 64 - tsz;
    let level = 4 - Math.floor((inputsize - 4) / stride);
    let table = root;
    if (va >= 2 ** inputsize) return E.EVT_F_TRANSLATION;
    for (; level <= 3; level++) {
      const shift = g + (3 - level) * stride;
      const idx = Math.floor(va / 2 ** shift) % 2 ** stride;
      const b = this.read(table + idx * 8, 8, vmid, costed);
      if (!b) return E.EVT_F_WALK_EABT;
      const pte = new DataView(b.buffer).getBigUint64(0, true);
      const type = Number(pte & 3n);
      if ((pte & 1n) === 0n || (level === 3 && type === P.PTE_TYPE_L3_RESERVED)) return E.EVT_F_TRANSLATION;
      if (level < 3 && type === P.PTE_TYPE_TABLE) {
        table = Number(pte & OA_MASK & ~BigInt(2 ** g - 1));
        continue;
      }
      const writable = (Number(field64([pte], P.PTE_AP)) & P.AP_RDONLY) === 0;
      if (write && !writable) return E.EVT_F_PERMISSION;
      const base = Number(pte & OA_MASK & ~BigInt(2 ** shift - 1));
      const pa = base + (va % 2 ** shift);
      return { pa: pa - (pa % PAGE), writable };
    }
    return E.EVT_F_TRANSLATION;
  }

  /**
   * A passthrough device's access to `iova` (with SubstreamID `ssid`, a linear CD
   * table index) through this pSMMU: STE, CD, IOTLB, walk.
   * Faults are reported as physical events (with the pSID) to the subscribed vSMMUs.
   */
  dma(psid: number, iova: number, access: 'read' | 'write' = 'read', ssid = 0): PassthroughDmaResult {
    const write = access === 'write';
    const ste = this.stes.get(psid);
    const fault = (type: number): PassthroughDmaResult => {
      this.counters.faults++;
      const rec = new Uint8Array(32);
      const dv = new DataView(rec.buffer);
      dv.setBigUint64(0, BigInt(type) | (ssid ? (1n << 11n) | (BigInt(ssid) << 12n) : 0n) | (BigInt(psid) << 32n), true);
      dv.setBigUint64(8, write ? 0n : 1n << 35n, true); // RnW
      dv.setBigUint64(16, BigInt(iova), true);
      this.raiseEvent(rec);
      return { ok: false, pa: 0, event: type };
    };
    if (!ste || (ste.w0 & 1n) === 0n) return fault(E.EVT_C_BAD_STE);
    const cfg = Number(field64([ste.w0], STE.STE_CONFIG));
    if (cfg === STE.STE_CFG_ABORT) return { ok: false, pa: 0, event: 0 };
    if (cfg === STE.STE_CFG_BYPASS) {
      this.s2Translate(ste.vmid, iova);
      return { ok: true, pa: iova, event: 0 };
    }
    const cdmax = Number(field64([ste.w0], STE.STE_S1CDMAX));
    if (ssid >= 2 ** cdmax || (ssid > 0 && Number(field64([ste.w0], STE.STE_S1FMT)) !== 0)) return fault(E.EVT_C_BAD_SUBSTREAMID);
    const ctx = Number(field64([ste.w0], STE.STE_S1CTXPTR)) * 64 + ssid * 64;
    const cdb = this.read(ctx, 64, ste.vmid, true);
    if (!cdb) return fault(E.EVT_F_CD_FETCH);
    const dv = new DataView(cdb.buffer);
    const cd = [dv.getBigUint64(0, true), dv.getBigUint64(8, true)];
    if (!field64(cd, CD.CD_V) || field64(cd, CD.CD_EPD0)) return fault(E.EVT_C_BAD_CD);
    const tg = Number(field64(cd, CD.CD_TG0));
    const granule = tg === 0 ? 12 : tg === 1 ? 16 : tg === 2 ? 14 : 0;
    const tsz = Number(field64(cd, CD.CD_T0SZ));
    if (!granule || tsz < 16 || tsz > 39) return fault(E.EVT_C_BAD_CD);
    const asid = Number(field64(cd, CD.CD_ASID));
    const root = Number(cd[1] & 0x000ffffffffffff0n);
    const page = Math.floor(iova / PAGE);
    const t = this.tlb;
    const s = (page * 31 + asid * 131 + ste.vmid * 7919) % t.sets;
    const base = s * t.ways;
    for (let i = 0; i < t.len[s]; i++) {
      const k = base + i;
      if (t.vmid[k] === ste.vmid && t.asid[k] === asid && t.page[k] === page) {
        if (write && !t.writable[k]) return fault(E.EVT_F_PERMISSION);
        this.counters.iotlbHits++;
        const pa = t.pa[k];
        t.touch(s, i); // most recently used last
        return { ok: true, pa: pa + (iova % PAGE), event: 0 };
      }
    }
    this.counters.iotlbMisses++;
    const r = this.walkFrom(root, granule, tsz, iova, true, write, ste.vmid);
    if (typeof r === 'number') return fault(r);
    this.s2Translate(ste.vmid, r.pa); // the output IPA goes through stage 2 too
    if (t.len[s] >= this.ways) t.remove(s, 0);
    else this.live++;
    t.put(base + t.len[s], ste.vmid, asid, page, r.pa, r.writable ? 1 : 0, root, granule, tsz);
    t.len[s]++;
    return { ok: true, pa: r.pa + (iova % PAGE), event: 0 };
  }

  /** IOTLB entries cached for `vmid` (and `asid` when given). */
  cached(vmid: number, asid?: number): number {
    return this.entries().filter((t) => t.vmid === vmid && (asid === undefined || t.asid === asid)).length;
  }

  /** Whether the IOTLB holds a translation of this page. */
  holds(vmid: number, asid: number, va: number): boolean {
    const page = Math.floor(va / PAGE);
    return this.entries().some((t) => t.vmid === vmid && t.asid === asid && t.va === page * PAGE);
  }

  /** Every cached translation (for checks): VMID, ASID, VA page address, PA; set by set, least recently used first. */
  entries(): Array<{ vmid: number; asid: number; va: number; pa: number }> {
    const t = this.tlb;
    const out: Array<{ vmid: number; asid: number; va: number; pa: number }> = [];
    for (let s = 0; s < t.sets; s++) {
      for (let i = 0; i < t.len[s]; i++) {
        const k = s * t.ways + i;
        out.push({ vmid: t.vmid[k], asid: t.asid[k], va: t.page[k] * PAGE, pa: t.pa[k] });
      }
    }
    return out;
  }
}

/** The 4 KiB pages a TLBI_NH_VA(A) covers: [first page, count). */
export function vaRange(w: bigint[]): [number, number] {
  const addr = Number(field64(w, C.CMD_ADDR)) * 4096;
  const tg = Number(field64(w, C.CMD_TG));
  if (tg === 0) return [Math.floor(addr / PAGE), 1];
  const num = Number(field64(w, C.CMD_NUM));
  const scale = Number(field64(w, C.CMD_SCALE));
  const granule = 2 ** (tg * 2 + 10);
  return [Math.floor(addr / PAGE), Math.max(1, ((num + 1) * 2 ** scale * granule) / PAGE)];
}

const EMPTY = new Uint8Array(0);

/** vaRange of the 16-byte entry at `o` of `e`, without bigints: its first page. */
function vaFirstPage(e: Uint8Array, o: number): number {
  const lo = e[o + 8] | (e[o + 9] << 8) | (e[o + 10] << 16) | (e[o + 11] << 24);
  const hi = (e[o + 12] | (e[o + 13] << 8) | (e[o + 14] << 16) | (e[o + 15] << 24)) >>> 0;
  return hi * 2 ** 20 + (lo >>> 12); // CMD_ADDR [127:76]: address bits 63:12
}

/** vaRange of the 16-byte entry at `o` of `e`: its page count. */
function vaPages(e: Uint8Array, o: number): number {
  const tg = (e[o + 9] >>> 2) & 3; // CMD_TG [75:74]
  if (tg === 0) return 1;
  const num = (e[o + 1] >>> 4) | ((e[o + 2] & 1) << 4); // CMD_NUM [16:12]
  const scale = (e[o + 2] >>> 4) | ((e[o + 3] & 1) << 4); // CMD_SCALE [24:20]
  const granule = 2 ** (tg * 2 + 10);
  return Math.max(1, ((num + 1) * 2 ** scale * granule) / PAGE);
}

/** iommufd's check of a nested STE (arm_smmu_validate_vste); undefined when acceptable. */
export function checkNestedSte(ste: Uint8Array): string | undefined {
  if (!(ste instanceof Uint8Array) || ste.length < 16) return 'STE must be 16 bytes';
  const dv = new DataView(ste.buffer, ste.byteOffset, 16);
  const w0 = dv.getBigUint64(0, true), w1 = dv.getBigUint64(8, true);
  if (field64([w0], STE.STE_V) === 0n) return undefined; // installed as abort
  const allowed0 = (BigInt(STE.STE0_NESTING_ALLOWED_HI) << 32n) | BigInt(STE.STE0_NESTING_ALLOWED_LO);
  const allowed1 = (BigInt(STE.STE1_NESTING_ALLOWED_HI) << 32n) | BigInt(STE.STE1_NESTING_ALLOWED_LO);
  if ((w0 & ~allowed0) !== 0n || (w1 & ~allowed1) !== 0n) return 'STE has bits set outside the nested stage-1 fields';
  const cfg = Number(field64([w0], STE.STE_CONFIG));
  if (cfg !== STE.STE_CFG_ABORT && cfg !== STE.STE_CFG_BYPASS && cfg !== STE.STE_CFG_S1_TRANS) {
    return `STE Config ${cfg} is not abort, bypass or stage-1 translate`;
  }
  return undefined;
}

export function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}
