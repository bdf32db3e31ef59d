// Snapshot file format (docs/snapshot-format.md): framing, checksum and validation of
// a vSMMU's saved state. The engine writes and checks the state itself
// (assembly/snapshot.ts, layouts in src/arch/snapshot.ts); this module frames its
// block and record sections with the host's own part (profile, backend names, RAM)
// and refuses, before anything is applied, bytes that are truncated, corrupt, of
// another format version, of another profile or of another guest-visible topology.

import * as N from './arch/snapshot.js';
import * as A from './arch/abi.js';

/** "VSMMUSNP" */
export const SNAPSHOT_MAGIC = new Uint8Array([0x56, 0x53, 0x4d, 0x4d, 0x55, 0x53, 0x4e, 0x50]);
export const SNAPSHOT_VERSION = 1;

// header: magic (8), u16 version, u16 flags, u32 total length (checksum included)
const H_VERSION = 8;
const H_FLAGS = 10;
const H_LENGTH = 12;
const H_BYTES = 16;
const CRC_BYTES = 4;
const SECTION_HEADER = 8; // u16 tag, u16 zero, u32 payload length

export const FLAG_CACHES = 1; // the IOTLB and configuration cache sections hold the caches
export const FLAG_RAM = 2; // a RAM section holds the RAM regions inside the model

export const TAG_PROFILE = 1; // u8 length + profile name, u8 length + profile options (UTF-8)
export const TAG_STATE = 2; // the engine's state block (SN_* of src/arch/snapshot.ts)
export const TAG_RECORDS = 16; // + SEC_*: the engine's record sections
export const TAG_NAMES = 32; // backend names, in index order: u16 length + UTF-8 each
export const TAG_RAM = 33; // per region: u64 base, u64 size, size bytes

export type SnapshotErrorCode = 'busy' | 'truncated' | 'magic' | 'version' | 'checksum' | 'corrupt' | 'profile' | 'topology' | 'caches' | 'ram';

/** The one error save/restore throws: `code` says which check failed; nothing was applied. */
export class SnapshotError extends Error {
  constructor(readonly code: SnapshotErrorCode, message: string) {
    super(`vsmmu snapshot: ${message}`);
    this.name = 'SnapshotError';
  }
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, reflected, as zlib's crc32). */
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const t = crcTable;
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function recordBytes(section: number): number {
  return [N.REC_DEVICE_BYTES, N.REC_BACKEND_BYTES, N.REC_VDEV_BYTES, N.REC_VASID_BYTES, A.REC_CONFIG_BYTES, A.REC_IOTLB_BYTES][section];
}

/** Position of each section's record count in the state block. */
export const COUNT_OFFSET = [N.SN_N_DEVICES, N.SN_N_BACKENDS, N.SN_N_VDEVS, N.SN_N_VASIDS, N.SN_N_CONFIGS, N.SN_N_IOTLB];

export interface RamImage {
  base: number;
  bytes: Uint8Array;
}

/** A snapshot's parts, as written or as parsed (before the engine has checked them). */
export interface SnapshotParts {
  flags: number;
  profile: string;
  variant: string;
  state: Uint8Array;
  records: Uint8Array[]; // by SEC_*
  names: string[];
  ram: RamImage[];
}

const utf8 = new TextEncoder();

/** Frames the parts into the file format. */
export function encodeSnapshot(p: SnapshotParts): Uint8Array {
  const sections: Array<[number, Uint8Array]> = [];
  const prof = utf8.encode(p.profile), variant = utf8.encode(p.variant);
  const pb = new Uint8Array(2 + prof.length + variant.length);
  pb[0] = prof.length;
  pb.set(prof, 1);
  pb[1 + prof.length] = variant.length;
  pb.set(variant, 2 + prof.length);
  sections.push([TAG_PROFILE, pb], [TAG_STATE, p.state]);
  p.records.forEach((r, s) => sections.push([TAG_RECORDS + s, r]));
  const names = p.names.map((n) => utf8.encode(n));
  const nb = new Uint8Array(names.reduce((a, n) => a + 2 + n.length, 0));
  let o = 0;
  for (const n of names) {
    new DataView(nb.buffer).setUint16(o, n.length, true);
    nb.set(n, o + 2);
    o += 2 + n.length;
  }
  sections.push([TAG_NAMES, nb]);
  if (p.flags & FLAG_RAM) {
    const rb = new Uint8Array(p.ram.reduce((a, r) => a + 16 + r.bytes.length, 0));
    const dv = new DataView(rb.buffer);
    let q = 0;
    for (const r of p.ram) {
      dv.setBigUint64(q, BigInt(r.base), true);
      dv.setBigUint64(q + 8, BigInt(r.bytes.length), true);
      rb.set(r.bytes, q + 16);
      q += 16 + r.bytes.length;
    }
    sections.push([TAG_RAM, rb]);
  }
  const total = H_BYTES + sections.reduce((a, [, b]) => a + SECTION_HEADER + b.length, 0) + CRC_BYTES;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out.set(SNAPSHOT_MAGIC, 0);
  dv.setUint16(H_VERSION, SNAPSHOT_VERSION, true);
  dv.setUint16(H_FLAGS, p.flags, true);
  dv.setUint32(H_LENGTH, total, true);
  let at = H_BYTES;
  for (const [tag, b] of sections) {
    dv.setUint16(at, tag, true);
    dv.setUint32(at + 4, b.length, true);
    out.set(b, at + SECTION_HEADER);
    at += SECTION_HEADER + b.length;
  }
  dv.setUint32(at, crc32(out.subarray(0, at)), true);
  return out;
}

/**
 * Parses and checks the framing: magic, version, length, checksum, the sections each
 * present once with the sizes the state block's counts give. Throws SnapshotError.
 */
export function decodeSnapshot(bytes: unknown): SnapshotParts {
  const { dv, end, flags } = checkFraming(bytes);
  const found = sections(bytes as Uint8Array, dv, end);
  const need = (tag: number, what: string): Uint8Array => {
    const s = found.get(tag);
    if (!s) throw new SnapshotError('corrupt', `the ${what} section is missing`);
    return s;
  };
  const { profile, variant } = decodeProfile(need(TAG_PROFILE, 'profile'));
  const state = need(TAG_STATE, 'state');
  if (state.length !== N.SN_BYTES) throw new SnapshotError('corrupt', `state section is ${state.length} bytes, not ${N.SN_BYTES}`);
  const sv = new DataView(state.buffer, state.byteOffset, state.length);
  const records: Uint8Array[] = [];
  for (let s = 0; s < N.SEC_COUNT; s++) {
    const r = need(TAG_RECORDS + s, `record ${s}`);
    const n = sv.getUint32(COUNT_OFFSET[s], true);
    if (r.length !== n * recordBytes(s)) throw new SnapshotError('corrupt', `record section ${s} holds ${r.length} bytes for ${n} records of ${recordBytes(s)}`);
    records.push(r);
  }
  const names = decodeNames(need(TAG_NAMES, 'backend names'));
  if (names.length !== sv.getUint32(N.SN_N_BACKENDS, true) || new Set(names).size !== names.length) {
    throw new SnapshotError('corrupt', 'backend names do not match the backends');
  }
  const rs = found.get(TAG_RAM);
  if (!!(flags & FLAG_RAM) !== !!rs) throw new SnapshotError('corrupt', 'RAM flag and RAM section disagree');
  const ram = rs ? decodeRam(rs) : [];
  return { flags, profile, variant, state, records, names, ram };
}

/** The header and trailer: magic, version, length, checksum, flags. Returns where the sections end. */
function checkFraming(bytes: unknown): { dv: DataView; end: number; flags: number } {
  if (!(bytes instanceof Uint8Array)) throw new SnapshotError('corrupt', 'a snapshot is a Uint8Array');
  if (bytes.length < SNAPSHOT_MAGIC.length || !SNAPSHOT_MAGIC.every((b, i) => bytes[i] === b)) {
    throw new SnapshotError(bytes.length < SNAPSHOT_MAGIC.length ? 'truncated' : 'magic', 'not a vsmmu snapshot (the magic "VSMMUSNP" is missing)');
  }
  if (bytes.length < H_BYTES + CRC_BYTES) throw new SnapshotError('truncated', `truncated: ${bytes.length} bytes, the header alone needs ${H_BYTES + CRC_BYTES}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const version = dv.getUint16(H_VERSION, true);
  if (version !== SNAPSHOT_VERSION) throw new SnapshotError('version', `format version ${version}, this vsmmu reads version ${SNAPSHOT_VERSION}`);
  const total = dv.getUint32(H_LENGTH, true);
  if (bytes.length < total) throw new SnapshotError('truncated', `truncated: ${bytes.length} of ${total} bytes`);
  if (bytes.length > total) throw new SnapshotError('corrupt', `${bytes.length - total} bytes after the end of the snapshot (${total} bytes)`);
  const end = total - CRC_BYTES;
  const want = dv.getUint32(end, true), got = crc32(bytes.subarray(0, end));
  if (want !== got) throw new SnapshotError('checksum', `checksum mismatch (stored 0x${want.toString(16)}, computed 0x${got.toString(16)}): the bytes are corrupt`);
  const flags = dv.getUint16(H_FLAGS, true);
  if ((flags & ~(FLAG_CACHES | FLAG_RAM)) !== 0) throw new SnapshotError('corrupt', `unknown flags 0x${flags.toString(16)}`);
  return { dv, end, flags };
}

/** The sections between the header and byte `end`, by tag: each known, present once, inside the snapshot. */
function sections(bytes: Uint8Array, dv: DataView, end: number): Map<number, Uint8Array> {
  const found = new Map<number, Uint8Array>();
  let at = H_BYTES;
  while (at < end) {
    if (end - at < SECTION_HEADER) throw new SnapshotError('corrupt', `section header at byte ${at} runs past the end`);
    const tag = dv.getUint16(at, true), len = dv.getUint32(at + 4, true);
    if (dv.getUint16(at + 2, true) !== 0) throw new SnapshotError('corrupt', `section at byte ${at}: reserved field not zero`);
    if (len > end - at - SECTION_HEADER) throw new SnapshotError('corrupt', `section ${tag} at byte ${at}: ${len} bytes run past the end`);
    const known = tag === TAG_PROFILE || tag === TAG_STATE || tag === TAG_NAMES || tag === TAG_RAM || (tag >= TAG_RECORDS && tag < TAG_RECORDS + N.SEC_COUNT);
    if (!known) throw new SnapshotError('corrupt', `unknown section ${tag} at byte ${at}`);
    if (found.has(tag)) throw new SnapshotError('corrupt', `section ${tag} appears twice`);
    found.set(tag, bytes.subarray(at + SECTION_HEADER, at + SECTION_HEADER + len));
    at += SECTION_HEADER + len;
  }
  return found;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function text(b: Uint8Array, what: string): string {
  try {
    return utf8Strict.decode(b);
  } catch {
    throw new SnapshotError('corrupt', `${what} is not UTF-8`);
  }
}

/** The profile section: a length-prefixed profile name, then length-prefixed options. */
function decodeProfile(pb: Uint8Array): { profile: string; variant: string } {
  const pl = pb[0] ?? 0;
  if (pb.length < 2 + pl || pb.length !== 2 + pl + pb[1 + pl]) throw new SnapshotError('corrupt', 'profile section has the wrong length');
  return { profile: text(pb.subarray(1, 1 + pl), 'profile name'), variant: text(pb.subarray(2 + pl), 'profile options') };
}

/** The backend names section: u16-length-prefixed UTF-8 names, none empty. */
function decodeNames(nb: Uint8Array): string[] {
  const names: string[] = [];
  const ndv = new DataView(nb.buffer, nb.byteOffset, nb.length);
  for (let o = 0; o < nb.length;) {
    if (nb.length - o < 2) throw new SnapshotError('corrupt', 'backend names run past their section');
    const l = ndv.getUint16(o, true);
    if (l === 0 || l > nb.length - o - 2) throw new SnapshotError('corrupt', 'a backend name is empty or runs past its section');
    names.push(text(nb.subarray(o + 2, o + 2 + l), 'a backend name'));
    o += 2 + l;
  }
  return names;
}

/** The RAM section: regions of (u64 base, u64 size, bytes). */
function decodeRam(rs: Uint8Array): RamImage[] {
  const ram: RamImage[] = [];
  const rdv = new DataView(rs.buffer, rs.byteOffset, rs.length);
  for (let o = 0; o < rs.length;) {
    if (rs.length - o < 16) throw new SnapshotError('corrupt', 'RAM region header runs past its section');
    const base = rdv.getBigUint64(o, true), size = rdv.getBigUint64(o + 8, true);
    if (size > BigInt(rs.length - o - 16) || base >= 1n << 53n) throw new SnapshotError('corrupt', 'a RAM region runs past its section');
    ram.push({ base: Number(base), bytes: rs.subarray(o + 16, o + 16 + Number(size)) });
    o += 16 + Number(size);
  }
  return ram;
}

const ENGINE_ERRORS: Record<number, [SnapshotErrorCode, string]> = {
  [N.SNE_PROFILE]: ['profile', 'the profile flags differ from this model\'s'],
  [N.SNE_REGISTER]: ['corrupt', 'a register value no guest can produce'],
  [N.SNE_COUNT]: ['corrupt', 'a record count beyond the engine\'s limits'],
  [N.SNE_RECORD]: ['corrupt', 'a record out of range'],
  [N.SNE_BUSY]: ['busy', 'forwarded commands are outstanding; await smmu.whenIdle() first'],
};

/** The SnapshotError for an engine result code (SNE_*), or undefined for SNE_OK. */
export function engineError(code: number, where: string): SnapshotError | undefined {
  if (code === N.SNE_OK) return undefined;
  const [c, m] = ENGINE_ERRORS[code] ?? ['corrupt', `engine check ${code}`];
  return new SnapshotError(c, `${where}: ${m}`);
}
