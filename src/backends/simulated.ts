// A simulated physical SMMU: what a vSMMU's forwarded commands do to real hardware,
// with the costs that make topologies differ. It keeps an STE per physical StreamID,
// an IOTLB tagged (VMID, ASID, VA) filled by passthrough devices' DMA, a command queue
// whose work is priced per entry, per batch (the ioctl/doorbell) and per CMD_SYNC
// (issued every 63 entries, as the kernel does), counters, and fault injection.

import type { BatchResult, PsmmuBackend } from './types.js';
import * as C from '../arch/commands.js';
import * as STE from '../arch/ste.js';
import { field64 } from '../bits.js';

export interface SimulatedPsmmuOptions {
  name: string;
  /** IOTLB capacity in entries (default 2048) and associativity (default 8 ways). */
  iotlbEntries?: number;
  iotlbWays?: number;
  /** Cost model in nanoseconds. */
  costPerEntryNs?: number;
  costPerBatchNs?: number;
  costPerSyncNs?: number;
  /** Entries per CMD_SYNC chunk (the kernel issues 63 then a sync). */
  chunk?: number;
  /** Reads guest memory for the stage-1 walk of passthrough DMA (IPA = PA: identity stage 2). */
  readMemory?: (addr: number, length: number) => Uint8Array;
}

export interface PsmmuCounters {
  entries: number;
  batches: number;
  syncs: number;
  steInstalls: number;
  iotlbDropped: number;
  overInvalidations: number;
  iotlbHits: number;
  iotlbMisses: number;
  walkReads: number;
  busyNs: number;
}

interface TlbEntry {
  vmid: number;
  asid: number;
  va: number; // page number
  pa: number;
  /** Still cached as far as the guest knows (false once the guest asked for it to go). */
  live: boolean;
}

const PAGE = 4096;

export class SimulatedPsmmu implements PsmmuBackend {
  readonly name: string;
  readonly counters: PsmmuCounters = {
    entries: 0, batches: 0, syncs: 0, steInstalls: 0, iotlbDropped: 0, overInvalidations: 0,
    iotlbHits: 0, iotlbMisses: 0, walkReads: 0, busyNs: 0,
  };
  /** Installed nested STEs (words 0-1) by physical StreamID. */
  readonly stes = new Map<number, Uint8Array>();
  /** Everything that took effect, in order, as `inv:<32 hex>` / `ste:<psid>:<32 hex>`. */
  readonly applied: string[] = [];
  private failIn = -1;
  private throwIn = -1;
  private delayMs = 0;
  private readonly listeners = new Set<(r: Uint8Array) => void>();
  private readonly sets: TlbEntry[][];
  private readonly ways: number;
  private readonly opts: Required<Omit<SimulatedPsmmuOptions, 'readMemory'>> & Pick<SimulatedPsmmuOptions, 'readMemory'>;

  constructor(options: SimulatedPsmmuOptions) {
    if (!options || typeof options.name !== 'string') throw new TypeError('SimulatedPsmmu: name is required');
    this.name = options.name;
    this.opts = {
      iotlbEntries: 2048, iotlbWays: 8, costPerEntryNs: 40, costPerBatchNs: 1000, costPerSyncNs: 500, chunk: 63,
      ...options,
      name: options.name,
    };
    const entries = this.opts.iotlbEntries;
    this.ways = Math.max(1, Math.min(this.opts.iotlbWays, entries));
    const nsets = Math.max(1, Math.floor(entries / this.ways));
    this.sets = Array.from({ length: nsets }, () => []);
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
    if (entries.length % 16 !== 0) return { done: 0, error: 'entry length must be a multiple of 16' };
    const n = entries.length / 16;
    return this.run(n, (i) => this.applyInvalidation(entries.subarray(i * 16, i * 16 + 16)));
  }

  installSte(psid: number, ste: Uint8Array): BatchResult | Promise<BatchResult> {
    return this.run(1, () => {
      const err = checkNestedSte(ste);
      if (err) return err;
      this.stes.set(psid, ste.slice(0, 16));
      this.counters.steInstalls++;
      this.applied.push(`ste:0x${psid.toString(16)}:${toHex(ste.subarray(0, 16))}`);
      return undefined;
    });
  }

  subscribe(listener: (record: Uint8Array) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reports a physical event (32-byte record with the pSID in bits 63:32) to every subscribed vSMMU. */
  raiseEvent(record: Uint8Array): void {
    for (const l of this.listeners) l(record);
  }

  private run(n: number, apply: (i: number) => string | undefined): BatchResult | Promise<BatchResult> {
    const exec = (): BatchResult => {
      this.counters.batches++;
      this.counters.busyNs += this.opts.costPerBatchNs;
      let done = 0;
      for (; done < n; done++) {
        if (this.throwIn === 0) {
          this.throwIn = -1;
          throw new Error(`${this.name}: injected failure`);
        }
        if (this.throwIn > 0) this.throwIn--;
        if (this.failIn === 0) {
          this.failIn = -1;
          this.chargeSyncs(done);
          return { done, error: 'injected failure' };
        }
        if (this.failIn > 0) this.failIn--;
        const err = apply(done);
        if (err) {
          this.chargeSyncs(done);
          return { done, error: err };
        }
        this.counters.entries++;
        this.counters.busyNs += this.opts.costPerEntryNs;
      }
      this.chargeSyncs(done);
      return { done };
    };
    if (this.delayMs > 0) return new Promise((res, rej) => setTimeout(() => { try { res(exec()); } catch (e) { rej(e); } }, this.delayMs));
    return exec();
  }

  private chargeSyncs(entries: number): void {
    const syncs = Math.max(1, Math.ceil(entries / this.opts.chunk));
    this.counters.syncs += syncs;
    this.counters.busyNs += syncs * this.opts.costPerSyncNs;
  }

  private applyInvalidation(e: Uint8Array): string | undefined {
    const dv = new DataView(e.buffer, e.byteOffset, 16);
    const w = [dv.getBigUint64(0, true), dv.getBigUint64(8, true)];
    const op = Number(field64(w, C.CMD_OPCODE));
    const vmid = Number(field64(w, C.CMD_VMID));
    const asid = Number(field64(w, C.CMD_ASID));
    switch (op) {
      case C.CMD_TLBI_NH_ALL:
        this.drop((t) => t.vmid === vmid);
        break;
      case C.CMD_TLBI_NH_ASID:
        this.drop((t) => t.vmid === vmid && t.asid === asid);
        break;
      case C.CMD_TLBI_NH_VA:
      case C.CMD_TLBI_NH_VAA: {
        const [first, pages] = vaRange(w);
        this.drop((t) => t.vmid === vmid && (op === C.CMD_TLBI_NH_VAA || t.asid === asid) && t.va >= first && t.va < first + pages);
        break;
      }
      case C.CMD_CFGI_CD:
      case C.CMD_CFGI_CD_ALL:
      case C.CMD_ATC_INV:
        break; // no CD cache or ATC modelled
      default:
        return `opcode 0x${op.toString(16)} not accepted`;
    }
    this.applied.push(`inv:${toHex(e)}`);
    return undefined;
  }

  private drop(match: (t: TlbEntry) => boolean): void {
    for (const set of this.sets) {
      for (let i = set.length - 1; i >= 0; i--) {
        if (!match(set[i])) continue;
        this.counters.iotlbDropped++;
        if (set[i].live) this.counters.overInvalidations++;
        set.splice(i, 1);
      }
    }
  }

  /**
   * The guest told us (through its own bookkeeping) that these translations are stale:
   * used by the topology explorer so that drops of entries the guest still wanted count
   * as over-invalidation and drops of stale ones do not.
   */
  markStale(vmid: number, asid: number, vaFirst: number, pages: number): void {
    const f = Math.floor(vaFirst / PAGE);
    for (const set of this.sets) for (const t of set) if (t.vmid === vmid && t.asid === asid && t.va >= f && t.va < f + pages) t.live = false;
  }

  // ---- passthrough DMA ----------------------------------------------------------

  /** Translation of a passthrough device's access through the IOTLB (fills it on a miss). */
  lookup(vmid: number, asid: number, va: number, walk: () => number | null): number | null {
    const page = Math.floor(va / PAGE);
    const set = this.sets[(page ^ asid * 31 ^ vmid * 131) % this.sets.length];
    for (let i = 0; i < set.length; i++) {
      const t = set[i];
      if (t.vmid === vmid && t.asid === asid && t.va === page) {
        this.counters.iotlbHits++;
        set.splice(i, 1);
        set.push(t); // LRU order
        return t.pa + (va % PAGE);
      }
    }
    this.counters.iotlbMisses++;
    const pa = walk();
    if (pa === null) return null;
    if (set.length >= this.ways) set.shift();
    set.push({ vmid, asid, va: page, pa: pa - (pa % PAGE), live: true });
    return pa;
  }

  /** Number of IOTLB entries cached for (vmid, asid), or for vmid when asid is undefined. */
  cached(vmid: number, asid?: number): number {
    let n = 0;
    for (const set of this.sets) for (const t of set) if (t.vmid === vmid && (asid === undefined || t.asid === asid)) n++;
    return n;
  }

  /** Whether the IOTLB holds a translation for this page. */
  holds(vmid: number, asid: number, va: number): boolean {
    const page = Math.floor(va / PAGE);
    return this.sets.some((s) => s.some((t) => t.vmid === vmid && t.asid === asid && t.va === page));
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
  return [Math.floor(addr / PAGE), ((num + 1) * 2 ** scale * granule) / PAGE];
}

/** iommufd's check of a nested STE (arm_smmu_validate_vste); undefined when acceptable. */
export function checkNestedSte(ste: Uint8Array): string | undefined {
  if (ste.length < 16) return 'STE must be 16 bytes';
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
