// Translation benchmarks of emulated-device DMA: IOTLB hits through the batch API and
// through single translate() calls, 4-level page-table walks (4 KiB granule, 48-bit VA,
// every lookup a miss), and dma() of 4 KiB pages. Every measurement checks its counts
// (hits, misses, statuses) against what it asked for.

import { createSmmu, type Smmu, type TranslateBatch } from '../smmu.js';
import { GuestDriver } from '../guest/driver.js';
import * as A from '../arch/abi.js';
import { now, seconds } from './model.js';
import { DATA_PA, ENGINE_RAM_SIZE, IOVA_BASE, RAM_BASE, SETUP_HEAP } from './streams.js';

export const XLATE_SID = 0x08;
/** Pages mapped (4 KiB leaves): more than the IOTLB holds, for the miss benchmark. */
export const XLATE_PAGES = 4096;
/** Pages the hit benchmarks cycle through: exactly a full IOTLB. */
export const HIT_PAGES = 256;

export interface TranslateSizes {
  /** Translations per timed sample. */
  batchPerSample: number;
  singlePerSample: number;
  missPerSample: number;
  dmaPerSample: number;
  samples: number;
}

export const FULL_TRANSLATE_SIZES: TranslateSizes = {
  batchPerSample: 32 * A.XB_CAPACITY, singlePerSample: 1 << 19, missPerSample: 16 * A.XB_CAPACITY, dmaPerSample: 1 << 14, samples: 15,
};

export interface TranslateResults {
  hit_batch_m_s: number;
  hit_single_m_s: number;
  miss_m_s: number;
  /** dma() of whole 4 KiB pages, millions of pages per second. */
  dma_4k_m_s: number;
  /** Translations (and DMA pages) done and checked, per kind. */
  counts: { hit_batch: number; hit_single: number; miss: number; dma_pages: number };
}

/** A model with one device on a 4-level table mapping XLATE_PAGES pages. */
export async function translationModel(): Promise<Smmu> {
  const smmu = await createSmmu({ ram: [{ base: RAM_BASE, size: ENGINE_RAM_SIZE }], devices: [XLATE_SID] });
  const drv = new GuestDriver(smmu, { heap: SETUP_HEAP });
  drv.init();
  const d = drv.createDomain({ asid: 1, vaBits: 48 });
  drv.map(d, IOVA_BASE, DATA_PA, XLATE_PAGES * 4096, { blocks: false });
  drv.attach(XLATE_SID, d);
  return smmu;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(`bench: translation check failed: ${what}`);
}

type Counts = TranslateResults['counts'];
/** One timed sample of a kind: translations (or pages) per second. */
type Sampler = () => number;

export async function translationBench(sz: TranslateSizes): Promise<TranslateResults> {
  // hits (batch, single calls, DMA) on one model, misses on another (their walks refill its IOTLB)
  const smmu = await translationModel();
  const missModel = await translationModel();
  const b = smmu.batch();
  const mb = missModel.batch();
  const counts: Counts = { hit_batch: 0, hit_single: 0, miss: 0, dma_pages: 0 };
  const hitBatch = hitBatchSampler(smmu, b, sz, counts);
  const hitSingle = hitSingleSampler(smmu, sz, counts);
  const miss = missSampler(missModel, mb, sz, counts);
  const dma = dmaSampler(smmu, sz, counts);

  // round robin, so that a busy moment of the machine touches every kind alike
  const r = { hb: [] as number[], hs: [] as number[], m: [] as number[], d: [] as number[] };
  for (let s = 0; s < sz.samples; s++) {
    r.hb.push(hitBatch());
    r.hs.push(hitSingle());
    r.m.push(miss());
    r.d.push(dma());
  }
  checkBatchResults(b, mb);

  return {
    hit_batch_m_s: median(r.hb) / 1e6,
    hit_single_m_s: median(r.hs) / 1e6,
    miss_m_s: median(r.m) / 1e6,
    dma_4k_m_s: median(r.d) / 1e6,
    counts,
  };
}

/** IOTLB hits, batched: 4096 requests over the 256 pages of a full IOTLB. */
function hitBatchSampler(smmu: Smmu, b: TranslateBatch, sz: TranslateSizes, counts: Counts): Sampler {
  const cap = b.capacity;
  for (let i = 0; i < cap; i++) {
    b.sid[i] = XLATE_SID;
    b.iova[i] = IOVA_BASE + (i % HIT_PAGES) * 4096 + ((i * 64) & 0xfff);
    b.access[i] = i & 1 ? A.ACC_WRITE : A.ACC_READ;
  }
  b.run(cap); // warm: 256 walks
  b.run(cap);
  const reps = Math.max(1, Math.round(sz.batchPerSample / cap));
  return () => {
    const st0 = smmu.stats();
    const t0 = now();
    for (let k = 0; k < reps; k++) b.run(cap);
    const dt = seconds(t0, now());
    const st1 = smmu.stats();
    check(st1.iotlbHits - st0.iotlbHits === reps * cap && st1.iotlbMisses === st0.iotlbMisses, 'batched hits');
    counts.hit_batch += reps * cap;
    return (reps * cap) / dt;
  };
}

/** IOTLB hits, one translate() call each. */
function hitSingleSampler(smmu: Smmu, sz: TranslateSizes, counts: Counts): Sampler {
  const iovas = new Float64Array(HIT_PAGES);
  for (let p = 0; p < HIT_PAGES; p++) iovas[p] = IOVA_BASE + p * 4096 + 8;
  let want = 0;
  for (let k = 0; k < sz.singlePerSample; k++) want += DATA_PA + (k & (HIT_PAGES - 1)) * 4096 + 8;
  return () => {
    const st0 = smmu.stats();
    let sum = 0;
    const t0 = now();
    for (let k = 0; k < sz.singlePerSample; k++) sum += smmu.translate(XLATE_SID, iovas[k & (HIT_PAGES - 1)], 'read').addr;
    const dt = seconds(t0, now());
    const st1 = smmu.stats();
    check(st1.iotlbHits - st0.iotlbHits === sz.singlePerSample && st1.iotlbMisses === st0.iotlbMisses, 'single hits');
    check(sum === want, 'single addresses');
    counts.hit_single += sz.singlePerSample;
    return sz.singlePerSample / dt;
  };
}

/** Misses: 4096 distinct pages in turn, more than the IOTLB holds: every lookup walks. */
function missSampler(missModel: Smmu, mb: TranslateBatch, sz: TranslateSizes, counts: Counts): Sampler {
  const cap = mb.capacity;
  for (let i = 0; i < cap; i++) {
    mb.sid[i] = XLATE_SID;
    mb.iova[i] = IOVA_BASE + (i % XLATE_PAGES) * 4096;
    mb.access[i] = A.ACC_READ;
  }
  mb.run(cap);
  const mreps = Math.max(1, Math.round(sz.missPerSample / cap));
  return () => {
    const st0 = missModel.stats();
    const t0 = now();
    for (let k = 0; k < mreps; k++) mb.run(cap);
    const dt = seconds(t0, now());
    const st1 = missModel.stats();
    check(st1.iotlbMisses - st0.iotlbMisses === mreps * cap && st1.iotlbHits === st0.iotlbHits, 'misses');
    check(st1.walkReads - st0.walkReads === 4 * mreps * cap, '4 descriptor reads per walk');
    counts.miss += mreps * cap;
    return (mreps * cap) / dt;
  };
}

/** DMA of 4 KiB pages (IOTLB hits, one translation and one 4 KiB copy each). */
function dmaSampler(smmu: Smmu, sz: TranslateSizes, counts: Counts): Sampler {
  const page = new Uint8Array(4096);
  return () => {
    const st0 = smmu.stats();
    let failed = 0;
    const t0 = now();
    for (let k = 0; k < sz.dmaPerSample; k++) failed += smmu.dma(XLATE_SID, IOVA_BASE + (k & (HIT_PAGES - 1)) * 4096, 'read', page);
    const dt = seconds(t0, now());
    const st1 = smmu.stats();
    check(failed === 0 && st1.translations - st0.translations === sz.dmaPerSample, 'DMA pages');
    counts.dma_pages += sz.dmaPerSample;
    return sz.dmaPerSample / dt;
  };
}

/** The last batches' statuses and addresses (hits: every request; misses: the last). */
function checkBatchResults(b: TranslateBatch, mb: TranslateBatch): void {
  const cap = b.capacity;
  for (let i = 0; i < cap; i++) {
    check(b.status[i] === A.XS_SUCCESS && b.addr[i] === DATA_PA + (i % HIT_PAGES) * 4096 + ((i * 64) & 0xfff), `batch result ${i}`);
  }
  check(mb.status[cap - 1] === A.XS_SUCCESS && mb.addr[cap - 1] === DATA_PA + ((cap - 1) % XLATE_PAGES) * 4096, 'miss result');
}
