// Encoders for what a guest driver writes: commands, STEs, CDs and page-table
// descriptors, built from the field descriptors in src/arch. Values are bigint words.

import * as C from '../arch/commands.js';
import * as STE from '../arch/ste.js';
import * as CD from '../arch/cd.js';
import * as P from '../arch/pte.js';
import { deposit64, fieldPos } from '../bits.js';

export type Words = bigint[];

/** Puts field `f` (a descriptor whose position selects the word) into `w`. */
export function put(w: Words, f: number, v: bigint | number): Words {
  const i = fieldPos(f) >> 6;
  w[i] = deposit64(w[i] ?? 0n, f, BigInt(v));
  return w;
}

function cmd(op: number): Words {
  return put([0n, 0n], C.CMD_OPCODE, op);
}

export const cmdSync = (cs = 0): Words => put(cmd(C.CMD_SYNC), C.CMD_SYNC_CS, cs);
export const cmdCfgiSte = (sid: number, leaf = true): Words => put(put(cmd(C.CMD_CFGI_STE), C.CMD_SID, sid), C.CMD_LEAF, leaf ? 1 : 0);
export const cmdCfgiSteRange = (sid: number, range: number): Words => put(put(cmd(C.CMD_CFGI_STE_RANGE), C.CMD_SID, sid), C.CMD_STE_RANGE, range);
/** CFGI_ALL: CFGI_STE_RANGE with Range = 31. */
export const cmdCfgiAll = (): Words => cmdCfgiSteRange(0, 31);
export const cmdCfgiCd = (sid: number, ssid = 0, leaf = true): Words =>
  put(put(put(cmd(C.CMD_CFGI_CD), C.CMD_SID, sid), C.CMD_SSID, ssid), C.CMD_LEAF, leaf ? 1 : 0);
export const cmdCfgiCdAll = (sid: number): Words => put(cmd(C.CMD_CFGI_CD_ALL), C.CMD_SID, sid);
export const cmdTlbiNhAll = (vmid = 0): Words => put(cmd(C.CMD_TLBI_NH_ALL), C.CMD_VMID, vmid);
export const cmdTlbiNsnhAll = (): Words => cmd(C.CMD_TLBI_NSNH_ALL);
export const cmdTlbiNhAsid = (asid: number, vmid = 0): Words => put(put(cmd(C.CMD_TLBI_NH_ASID), C.CMD_ASID, asid), C.CMD_VMID, vmid);
export const cmdAtcInv = (sid: number, addr = 0n, size = 0): Words => {
  const w = put(cmd(C.CMD_ATC_INV), C.CMD_SID, sid);
  w[1] = (BigInt(addr) & ~0xfffn) | BigInt(size & 0x3f);
  return w;
};

export interface TlbiVa {
  asid?: number;
  vmid?: number;
  addr: bigint | number;
  leaf?: boolean;
  /** Range invalidation (IDR3.RIL): translation granule encoding 1 = 4K, 2 = 16K, 3 = 64K. */
  tg?: number;
  ttl?: number;
  num?: number;
  scale?: number;
}

/** TLBI_NH_VA (with asid) or TLBI_NH_VAA (asid undefined). */
export function cmdTlbiVa(o: TlbiVa): Words {
  const w = cmd(o.asid === undefined ? C.CMD_TLBI_NH_VAA : C.CMD_TLBI_NH_VA);
  if (o.asid !== undefined) put(w, C.CMD_ASID, o.asid);
  put(w, C.CMD_VMID, o.vmid ?? 0);
  put(w, C.CMD_NUM, o.num ?? 0);
  put(w, C.CMD_SCALE, o.scale ?? 0);
  w[1] = BigInt(o.addr) & ~0xfffn;
  put(w, C.CMD_LEAF, o.leaf ? 1 : 0);
  put(w, C.CMD_TTL, o.ttl ?? 0);
  put(w, C.CMD_TG, o.tg ?? 0);
  return w;
}

export function cmdRaw(op: number, w0 = 0n, w1 = 0n): Words {
  return [(w0 & ~0xffn) | BigInt(op & 0xff), w1];
}

export interface SteFields {
  valid?: boolean;
  /** Config: 0 abort, 4 bypass, 5 stage-1, 6 stage-2, 7 nested. */
  config: number;
  s1fmt?: number;
  s1ctxptr?: bigint | number;
  s1cdmax?: number;
  s1dss?: number;
  s1stalld?: boolean;
  eats?: number;
  /** Stage 2 (Config 6 or 7): the STE's S2 fields. */
  s2?: S2Fields;
}

/** The stage-2 fields of an STE (IHI 0070 5.2). */
export interface S2Fields {
  vmid: number;
  /** S2TTB: the start table(s), aligned to their size. */
  ttb: bigint | number;
  /** S2T0SZ: input (IPA) size 64 - t0sz bits. */
  t0sz: number;
  /** S2SL0: start level (4K: 2 - sl0; 16K, 64K: 3 - sl0). */
  sl0: number;
  /** S2TG encoding: 0 = 4K, 1 = 64K, 2 = 16K. */
  tg: number;
  /** S2PS encoding (default 4: 44 bits). */
  ps?: number;
  aa64?: boolean;
  endi?: boolean;
  /** Access flag faults disabled (default true, as Linux sets it). */
  affd?: boolean;
  /** Record faults (S2R, default true). */
  r?: boolean;
  /** Stall (S2S). */
  s?: boolean;
}

/** An STE (eight 64-bit words). */
export function ste(f: SteFields): Words {
  const w: Words = new Array(8).fill(0n);
  put(w, STE.STE_V, f.valid === false ? 0 : 1);
  put(w, STE.STE_CONFIG, f.config);
  put(w, STE.STE_S1FMT, f.s1fmt ?? 0);
  w[0] |= BigInt(f.s1ctxptr ?? 0) & 0x000fffffffffffc0n;
  put(w, STE.STE_S1CDMAX, f.s1cdmax ?? 0);
  put(w, STE.STE_S1DSS, f.s1dss ?? 0);
  put(w, STE.STE_S1STALLD, f.s1stalld ? 1 : 0);
  put(w, STE.STE_EATS, f.eats ?? 0);
  const s2 = f.s2;
  if (s2) {
    put(w, STE.STE_S2VMID, s2.vmid);
    put(w, STE.STE_S2T0SZ, s2.t0sz);
    put(w, STE.STE_S2SL0, s2.sl0);
    put(w, STE.STE_S2TG, s2.tg);
    put(w, STE.STE_S2PS, s2.ps ?? 4);
    put(w, STE.STE_S2AA64, s2.aa64 === false ? 0 : 1);
    put(w, STE.STE_S2ENDI, s2.endi ? 1 : 0);
    put(w, STE.STE_S2AFFD, s2.affd === false ? 0 : 1);
    put(w, STE.STE_S2R, s2.r === false ? 0 : 1);
    put(w, STE.STE_S2S, s2.s ? 1 : 0);
    put(w, STE.STE_S2TTB, BigInt(s2.ttb) >> 4n);
  }
  return w;
}

export interface CdFields {
  valid?: boolean;
  asid: number;
  ttb0: bigint | number;
  /** T0SZ: input size 64 - t0sz bits. */
  t0sz: number;
  /** TG0 encoding: 0 = 4K, 1 = 64K, 2 = 16K. */
  tg0: number;
  epd0?: boolean;
  epd1?: boolean;
  ttb1?: bigint | number;
  t1sz?: number;
  tg1?: number;
  ips?: number;
  tbi?: number;
  aa64?: boolean;
  /** Record faults (CD.R). */
  r?: boolean;
  /** Abort on fault (CD.A; QEMU requires 1). */
  a?: boolean;
  s?: boolean;
  ha?: boolean;
  hd?: boolean;
  endi?: boolean;
  had0?: boolean;
  affd?: boolean;
}

/** A context descriptor (eight 64-bit words), by default as Linux writes one. */
export function cd(f: CdFields): Words {
  const w: Words = new Array(8).fill(0n);
  put(w, CD.CD_T0SZ, f.t0sz);
  put(w, CD.CD_TG0, f.tg0);
  put(w, CD.CD_EPD0, f.epd0 ? 1 : 0);
  put(w, CD.CD_ENDI, f.endi ? 1 : 0);
  put(w, CD.CD_T1SZ, f.t1sz ?? 0);
  put(w, CD.CD_TG1, f.tg1 ?? 0);
  put(w, CD.CD_EPD1, f.epd1 === false ? 0 : 1);
  put(w, CD.CD_V, f.valid === false ? 0 : 1);
  put(w, CD.CD_IPS, f.ips ?? 5);
  put(w, CD.CD_AFFD, f.affd === false ? 0 : 1);
  put(w, CD.CD_TBI, f.tbi ?? 0);
  put(w, CD.CD_AA64, f.aa64 === false ? 0 : 1);
  put(w, CD.CD_HD, f.hd ? 1 : 0);
  put(w, CD.CD_HA, f.ha ? 1 : 0);
  put(w, CD.CD_S, f.s ? 1 : 0);
  put(w, CD.CD_R, f.r === false ? 0 : 1);
  put(w, CD.CD_A, f.a === false ? 0 : 1);
  put(w, CD.CD_ASID, f.asid);
  w[1] = BigInt(f.ttb0) & 0x000ffffffffffff0n;
  if (f.had0) put(w, CD.CD_HAD0, 1);
  w[2] = BigInt(f.ttb1 ?? 0) & 0x000ffffffffffff0n;
  return w;
}

export interface PteFields {
  /** Output address (page, block or next table). */
  addr: bigint | number;
  /** Read-only (AP[2] = 1). */
  readOnly?: boolean;
  /** Access flag (default set). */
  af?: boolean;
  /** APTable[1] (write protect below this table). */
  apTableRo?: boolean;
}

export const pteTable = (f: PteFields): bigint =>
  (BigInt(f.addr) & 0x0000fffffffff000n) | BigInt(P.PTE_TYPE_TABLE) | (f.apTableRo ? 1n << 62n : 0n);
/** Leaf descriptor: a page at level 3, a block above. */
export function pteLeaf(f: PteFields, level: number): bigint {
  let v = (BigInt(f.addr) & 0x0000fffffffff000n) | BigInt(level === 3 ? P.PTE_TYPE_PAGE : P.PTE_TYPE_BLOCK);
  if (f.readOnly) v |= 2n << 6n;
  else v |= 1n << 6n; // AP[1]: EL0 access, as io-pgtable-arm sets for IOMMU_PRIV-less mappings
  if (f.af !== false) v |= 1n << 10n;
  v |= 3n << 8n; // inner shareable
  return v;
}

/** Stage-2 leaf descriptor: a page at level 3, a block above; S2AP bit 0 read, bit 1 write (default both). */
export function pteS2Leaf(f: { addr: bigint | number; s2ap?: number; af?: boolean }, level: number): bigint {
  let v = (BigInt(f.addr) & 0x0000fffffffff000n) | BigInt(level === 3 ? P.PTE_TYPE_PAGE : P.PTE_TYPE_BLOCK);
  v = deposit64(v, P.PTE_AP, BigInt(f.s2ap ?? 3));
  if (f.af !== false) v = deposit64(v, P.PTE_AF, 1n);
  return v | (3n << 8n); // inner shareable
}

export interface TlbiS2Ipa {
  vmid: number;
  addr: bigint | number;
  leaf?: boolean;
  /** Range invalidation: TG 1 = 4K, 2 = 16K, 3 = 64K; (NUM + 1) << SCALE pages. */
  tg?: number;
  ttl?: number;
  num?: number;
  scale?: number;
}

/** TLBI_S2_IPA (4.4.4): stage-2 entries of a VMID for an IPA or a range. */
export function cmdTlbiS2Ipa(o: TlbiS2Ipa): Words {
  const w = cmd(C.CMD_TLBI_S2_IPA);
  put(w, C.CMD_VMID, o.vmid);
  put(w, C.CMD_NUM, o.num ?? 0);
  put(w, C.CMD_SCALE, o.scale ?? 0);
  w[1] = BigInt(o.addr) & ~0xfffn;
  put(w, C.CMD_LEAF, o.leaf ? 1 : 0);
  put(w, C.CMD_TTL, o.ttl ?? 0);
  put(w, C.CMD_TG, o.tg ?? 0);
  return w;
}

/** TLBI_S12_VMALL (4.4.3): every entry of a VMID, both stages. */
export const cmdTlbiS12Vmall = (vmid: number): Words => put(cmd(C.CMD_TLBI_S12_VMALL), C.CMD_VMID, vmid);

/** Little-endian bytes of 64-bit words. */
export function wordsToBytes(w: Words): Uint8Array {
  const out = new Uint8Array(w.length * 8);
  const dv = new DataView(out.buffer);
  w.forEach((x, i) => dv.setBigUint64(i * 8, BigInt.asUintN(64, x), true));
  return out;
}

export function bytesToWords(b: Uint8Array): Words {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: Words = [];
  for (let i = 0; i + 8 <= b.length; i += 8) out.push(dv.getBigUint64(i, true));
  return out;
}
