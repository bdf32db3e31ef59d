// The device state in and out of a snapshot (docs/snapshot-format.md): the engine's state
// block and record sections, and every check a restore makes before anything changes.

import type { EngineExports } from '../engine.js';
import * as N from '../arch/snapshot.js';
import { SnapshotError, engineError, recordBytes, COUNT_OFFSET, FLAG_CACHES, type SnapshotParts } from '../snapshot.js';
import type { RestoreOptions } from '../types.js';

/** What a restore compares with the snapshot, beyond the engine's own sections. */
export interface RestoreTarget {
  profile: string;
  /** The model's profile options (Smmu.profileOptions). */
  variant: string;
  /** The model's RAM regions. */
  rams: ReadonlyArray<{ base: number; size: number }>;
  /** The model's backend names, in order. */
  names: string[];
}

/** The engine's state block and its records, section by section (after snap_save). */
export function saveState(e: EngineExports, caches: boolean): { state: Uint8Array; records: Uint8Array[] } {
  const err = engineError(e.snap_save(caches ? 1 : 0), 'save');
  if (err) throw err;
  const state = new Uint8Array(e.memory.buffer, e.snap_ptr(), N.SN_BYTES).slice();
  const sv = new DataView(state.buffer);
  const records: Uint8Array[] = [];
  for (let sec = 0; sec < N.SEC_COUNT; sec++) records.push(exportRecords(e, sec, sv.getUint32(COUNT_OFFSET[sec], true)));
  return { state, records };
}

/** The engine's records of `section` (n of them), chunk by chunk. */
export function exportRecords(e: EngineExports, section: number, n: number): Uint8Array {
  const size = recordBytes(section);
  const out = new Uint8Array(n * size);
  for (let first = 0; first < n;) {
    const k = e.snap_export(section, first);
    if (k === 0) break;
    out.set(new Uint8Array(e.memory.buffer, e.snap_chunk_ptr(), k * size), first * size);
    first += k;
  }
  return out;
}

/** Runs `fn` on each chunk of `records` copied into the engine's chunk area. */
export function eachChunk(e: EngineExports, section: number, records: Uint8Array, fn: (n: number) => void): void {
  const size = recordBytes(section);
  const per = e.snap_chunk_records(section);
  for (let o = 0; o < records.length; o += per * size) {
    const part = records.subarray(o, Math.min(records.length, o + per * size));
    new Uint8Array(e.memory.buffer, e.snap_chunk_ptr(), part.length).set(part);
    fn(part.length / size);
  }
}

/** Applies a checked snapshot's state and the sections a restore takes (vASIDs unless arriving, caches when kept). */
export function applyState(e: EngineExports, p: SnapshotParts, arrival: boolean, caches: 'drop' | 'keep'): void {
  e.snap_apply();
  if (!arrival) {
    eachChunk(e, N.SEC_VASIDS, p.records[N.SEC_VASIDS], (n) => e.snap_import(N.SEC_VASIDS, n));
    e.snap_import_wildcard();
  }
  if (caches === 'keep') {
    eachChunk(e, N.SEC_CONFIGS, p.records[N.SEC_CONFIGS], (n) => e.snap_import(N.SEC_CONFIGS, n));
    eachChunk(e, N.SEC_IOTLB, p.records[N.SEC_IOTLB], (n) => e.snap_import(N.SEC_IOTLB, n));
  }
}

/** Every check of a restore; returns whether the VM arrives on a new host. Changes nothing in the model. */
export function checkSnapshot(e: EngineExports, p: SnapshotParts, model: RestoreTarget, options: RestoreOptions, caches: 'drop' | 'keep'): boolean {
  if (p.profile !== model.profile || p.variant !== model.variant) {
    const show = (a: string, b: string) => (b ? `${a} (${b})` : a);
    throw new SnapshotError('profile', `saved with profile ${show(p.profile, p.variant)}, this model is ${show(model.profile, model.variant)}`);
  }
  if (caches === 'keep' && !(p.flags & FLAG_CACHES)) throw new SnapshotError('caches', "caches: 'keep' needs a snapshot saved with { caches: true }");
  checkSections(e, p);
  if (p.ram.length > 0) {
    const rams = model.rams;
    const same = p.ram.length === rams.length && p.ram.every((r, i) => r.base === rams[i].base && r.bytes.length === rams[i].size);
    if (!same) throw new SnapshotError('ram', `RAM regions ${p.ram.map((r) => `0x${r.base.toString(16)}+0x${r.bytes.length.toString(16)}`).join(', ')} differ from this model's`);
  }
  return checkTopology(e, p, model.names, options);
}

/** The engine's checks of the saved state block and of every record section; leaves the block in place for snap_apply. */
function checkSections(e: EngineExports, p: SnapshotParts): void {
  new Uint8Array(e.memory.buffer, e.snap_ptr(), N.SN_BYTES).set(p.state);
  const err = engineError(e.snap_check(), 'state');
  if (err) throw err;
  for (let sec = 0; sec < N.SEC_COUNT; sec++) {
    eachChunk(e, sec, p.records[sec], (n) => {
      const r = engineError(e.snap_check_records(sec, n), `record section ${sec}`);
      if (r) throw r;
    });
  }
}

/** The StreamIDs at `off` of each `size`-byte record. */
function u32s(b: Uint8Array, size: number, off: number): number[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const out: number[] = [];
  for (let o = 0; o < b.length; o += size) out.push(dv.getUint32(o + off, true));
  return out;
}

/**
 * The guest-visible topology (the same emulated devices and passthrough vSIDs) and the
 * host's (backends, bindings); returns whether the VM arrives on a new host.
 */
function checkTopology(e: EngineExports, p: SnapshotParts, names: string[], options: RestoreOptions): boolean {
  const savedEmu = u32s(p.records[N.SEC_DEVICES], N.REC_DEVICE_BYTES, 0).sort((a, b) => a - b);
  const savedPt = u32s(p.records[N.SEC_VDEVS], N.REC_VDEV_BYTES, N.REC_VDEV_SID).sort((a, b) => a - b);
  e.snap_save(0); // counts of this model's own sections (no state is changed)
  const own = new DataView(e.memory.buffer, e.snap_ptr(), N.SN_BYTES);
  const nOwn = (sec: number) => own.getUint32(COUNT_OFFSET[sec], true);
  const ownVdevs = exportRecords(e, N.SEC_VDEVS, nOwn(N.SEC_VDEVS));
  const ownBackends = exportRecords(e, N.SEC_BACKENDS, nOwn(N.SEC_BACKENDS));
  const ownEmu = u32s(exportRecords(e, N.SEC_DEVICES, nOwn(N.SEC_DEVICES)), N.REC_DEVICE_BYTES, 0);
  const ownPt = u32s(ownVdevs, N.REC_VDEV_BYTES, N.REC_VDEV_SID);
  new Uint8Array(e.memory.buffer, e.snap_ptr(), N.SN_BYTES).set(p.state); // the saved block again, for snap_apply
  const hx = (l: number[]) => (l.length ? l.map((v) => '0x' + v.toString(16)).join(', ') : 'none');
  const diff = (a: number[], b: number[]) => a.filter((v) => !b.includes(v));
  const kindChanged = [...savedEmu.filter((v) => ownPt.includes(v)), ...savedPt.filter((v) => ownEmu.includes(v))];
  if (kindChanged.length) throw new SnapshotError('topology', `StreamIDs ${hx(kindChanged)} change kind (emulated / passthrough); a guest cannot see its devices change`);
  const missing = [...diff(savedEmu, ownEmu), ...diff(savedPt, ownPt)];
  const extra = [...diff(ownEmu, savedEmu), ...diff(ownPt, savedPt)];
  if (missing.length || extra.length) {
    throw new SnapshotError('topology', `the guest's StreamIDs differ: saved but absent here ${hx(missing)}; here but not saved ${hx(extra)}`);
  }
  const sameHost = p.names.length === names.length && p.names.every((n, i) => n === names[i]) &&
    equalBytes(p.records[N.SEC_BACKENDS], ownBackends) && equalBytes(p.records[N.SEC_VDEVS], ownVdevs);
  if (options.arrival === false && !sameHost) {
    throw new SnapshotError('topology', 'arrival: false, but this model\'s backends or bindings differ from the saved ones (a VM on another host arrives)');
  }
  return options.arrival ?? !sameHost;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
