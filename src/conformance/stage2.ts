// Stage 2 as a guest hypervisor programs it (for QEMU 10.0 scenarios with stage 2 or
// nesting): a VM's IPA space (S2T0SZ, S2SL0, S2TG, concatenated start tables) mapped by
// stage-2 tables with S2AP permissions, STEs with the S2 fields, and the invalidations
// that go with them (TLBI_S2_IPA with range fields, TLBI_S12_VMALL, TLBI_NH_* by VMID).
//
// Nested: the guest's stage-1 structures (CDs, tables, output pages) are named by IPAs
// (World.ipaDelta) and the hypervisor maps every page of them (guestPages) back to its PA.
//
// Avoided on purpose (QEMU 10.0 aborts or reads flash): S2AA64 = 0, S2SL0 = 3, and start
// levels that resolve no IPA bit (QEMU's start-table mask then reads PA 0).

import { World, type Domain, type Mapping, type Tt } from './world.js';
import { put, ste as encodeSte, pteS2Leaf, cmdTlbiS2Ipa, cmdTlbiS12Vmall, type Words } from '../guest/encode.js';
import * as STE from '../arch/ste.js';
import * as PTE from '../arch/pte.js';
import * as C from '../arch/commands.js';
import { unassigned, safeBlockOut } from './safe-memory.js';
import { pickSid, pickAsid, invalidation } from './command-gen.js';
import { PageTable, mapRandom } from './page-tables.js';

const B = BigInt;

/** Output sizes of S2PS (and CD.IPS) codes 0-7 (IHI 0070 5.2), capped at QEMU's OAS (44 bits) from code 4 on. */
const PS_BITS = [32, 36, 40, 42, 44, 44, 44, 44];
/** QEMU's SMMU_IDR5.OAS: 44 bits. */
const OAS_BITS = 44;

/** A stage-2 table shape: granule, IPA size, start level (SL0) and how many concatenated start tables. */
export interface S2Shape {
  granule: 12 | 14 | 16;
  ipaBits: number;
  start: number;
  sl0: number;
  concat: number;
}

/** S2SL0 of a start level (IHI 0070 5.2, STE.S2SL0): 4K counts from level 2, 16K and 64K from level 3. */
export function sl0Of(granule: number, start: number): number {
  return granule === 12 ? 2 - start : 3 - start;
}

/** Start levels a guest may choose for an IPA size: at least one IPA bit, at most 16 concatenated tables. */
export function startLevels(granule: number, ipaBits: number): Array<{ start: number; concat: number }> {
  const stride = granule - 3;
  const out: Array<{ start: number; concat: number }> = [];
  for (let start = granule === 12 ? 0 : 1; start <= (granule === 12 ? 2 : 3); start++) {
    const bits = ipaBits - (granule + stride * (3 - start));
    if (bits >= 1 && bits <= stride + 4) out.push({ start, concat: 2 ** Math.max(0, bits - stride) });
  }
  return out;
}

/** A random valid shape (biased to concatenation and to the IPA sizes where the start level changes). */
export function pickShape(w: World, o: { granule?: 12 | 14 | 16; minIpa?: number } = {}): S2Shape {
  const r = w.r;
  const granule = o.granule ?? r.pick([12, 14, 16] as const);
  for (;;) {
    const ipaBits = r.chance(0.3) ? r.pick([32, 33, 36, 38, 40, 42, 44].filter((b) => b >= (o.minIpa ?? 25))) : r.int(o.minIpa ?? 25, OAS_BITS);
    const starts = startLevels(granule, ipaBits);
    if (starts.length === 0) continue;
    const concat = starts.filter((s) => s.concat > 1);
    const s = concat.length && r.chance(0.3) ? r.pick(concat) : r.pick(starts);
    return { granule, ipaBits, start: s.start, sl0: sl0Of(granule, s.start), concat: s.concat };
  }
}

/** STE S2 fields a guest hypervisor sets, with the variants the s2-ste-checks family tries. */
export interface S2Fields {
  vmid: number;
  t0sz: number;
  sl0: number;
  tg: number;
  ps: number;
  affd: number;
  r: number;
  endi: number;
  s: number;
  ptw: number;
  ha: number;
  hd: number;
  ttb: bigint;
}

/** A VM's stage 2: its shape, tables, mappings (IPA windows) and STE fields. */
export interface S2Space {
  shape: S2Shape;
  pt: PageTable;
  /** Holds the stage-2 mappings so that World.mapRandom and DMA picks can use them (asid -1, no CD). */
  dom: Domain;
  tt: Tt;
  fields: S2Fields;
  /** IPA pages mapped for the guest's own structures (nested). */
  guest: Set<number>;
}

function tgOf(granule: number): number {
  return granule === 12 ? STE.S2TG_4K : granule === 14 ? STE.S2TG_16K : STE.S2TG_64K;
}

/** A new VM stage 2 with an empty (zeroed) table tree. */
export function newS2Space(w: World, o: { shape?: S2Shape; vmid?: number; granule?: 12 | 14 | 16; minIpa?: number } = {}): S2Space {
  const r = w.r;
  const shape = o.shape ?? pickShape(w, { granule: o.granule, minIpa: o.minIpa });
  const pt = new PageTable(w, shape.granule, 64 - shape.ipaBits, shape.start);
  w.physTrees.add(pt);
  const tt: Tt = { pt, lo: 0n, hi: 1n << B(shape.ipaBits) };
  const dom: Domain = { asid: -1, cd: 0, tts: [tt, undefined], mappings: [] };
  const okPs = PS_BITS.map((b, i) => [b, i] as const).filter(([b]) => b >= shape.ipaBits).map(([, i]) => i);
  const fields: S2Fields = {
    vmid: o.vmid ?? (r.chance(0.5) ? r.int(0, 15) : r.int(0, 0xffff)),
    t0sz: 64 - shape.ipaBits,
    sl0: shape.sl0,
    tg: tgOf(shape.granule),
    ps: r.pick(okPs),
    affd: r.chance(0.2) ? 1 : 0,
    r: r.chance(0.85) ? 1 : 0,
    endi: 0,
    s: 0,
    ptw: r.int(0, 1),
    ha: r.chance(0.1) ? 1 : 0,
    hd: r.chance(0.1) ? 1 : 0,
    ttb: B(pt.root),
  };
  return { shape, pt, dom, tt, fields, guest: new Set() };
}

/**
 * Writes the S2 fields into STE words 2 and 3 (the guest driver's STE encoder), plus the
 * fields QEMU ignores, at random. S2AA64 = 1 always: QEMU 10.0 aborts on 0.
 */
export function putS2Fields(w: World, ste: Words, f: S2Fields): void {
  const r = w.r;
  const enc = encodeSte({ config: STE.STE_CFG_S2_TRANS, s2: { vmid: f.vmid, ttb: f.ttb, t0sz: f.t0sz, sl0: f.sl0, tg: f.tg, ps: f.ps, aa64: true, endi: f.endi === 1, affd: f.affd === 1, r: f.r === 1, s: f.s === 1 } });
  ste[2] = enc[2];
  ste[3] = enc[3];
  put(ste, STE.STE_S2IR0, r.int(0, 3));
  put(ste, STE.STE_S2OR0, r.int(0, 3));
  put(ste, STE.STE_S2SH0, r.int(0, 3));
  put(ste, STE.STE_S2PTW, f.ptw);
  put(ste, STE.STE_S2HD, f.hd);
  put(ste, STE.STE_S2HA, f.ha);
}

/** A stage-2 (Config 0b110) or nested (0b111, CD at `cd`) STE for the space. */
export function s2Ste(w: World, sp: S2Space, kind: 's2' | 'nested', cd = 0, fields: Partial<S2Fields> = {}): Words {
  const ste = w.steWords(kind, cd);
  putS2Fields(w, ste, { ...sp.fields, ...fields });
  return ste;
}

/**
 * Every STE kind the stage-1 families write that enables stage 2 gets an empty stage 2
 * (each IPA faults at stage 2): safe, and never an abort of QEMU 10.0.
 */
export function installS2Fallback(w: World): void {
  let sp: S2Space | undefined;
  w.s2Fallback = (ste) => {
    sp ??= newS2Space(w, { granule: 12, minIpa: 32 });
    putS2Fields(w, ste, sp.fields);
  };
}

/** A stage-2 block or page descriptor (the guest driver's encoder): output `pa`, S2AP `perm` (read 1, write 2), AF, random attributes. */
export function s2Leaf(w: World, pa: number, level: number, perm?: number, af?: boolean): bigint {
  const r = w.r;
  const s2ap = perm ?? r.weighted([[8, PTE.S2AP_READ | PTE.S2AP_WRITE], [2, PTE.S2AP_READ], [1, PTE.S2AP_WRITE], [0.5, 0]]);
  const d: Words = [pteS2Leaf({ addr: pa, s2ap, af: af ?? r.chance(0.92) }, level)];
  put(d, PTE.PTE_S2MEMATTR, r.chance(0.7) ? 0xf : r.int(0, 15));
  put(d, PTE.PTE_SH, r.chance(0.7) ? 3 : r.int(0, 3));
  if (r.chance(w.chaos)) d[0] |= B(r.int(0, 0x1ff)) << 52n; // Contiguous, XN and software bits
  return d[0];
}

/** Maps something of the VM's IPA space onto the data area (or unassigned memory), as World.mapRandom does for stage 1. */
export function s2MapRandom(w: World, sp: S2Space, o: { level?: number; perm?: number; af?: boolean } = {}): Mapping | undefined {
  // blocks at most at level 2 of 4K and 16K (2 MiB, 32 MiB); 64K uses pages (its level-2 blocks are 512 MiB)
  const level = o.level ?? (sp.shape.granule === 16 || sp.shape.start > 2 ? 3 : w.r.weighted([[5, 3], [1, 2]]));
  if (level < sp.shape.start) return undefined;
  return mapRandom(w, sp.dom, { tt: sp.tt, level, leaf: (pa, l) => s2Leaf(w, pa, l, o.perm, o.af) });
}

/**
 * Nested: the hypervisor maps the IPA pages of the guest's structures in [pa, pa + len)
 * to their PAs (IPA = PA + ipaDelta), read-write, unless already mapped.
 */
export function guestPages(w: World, sp: S2Space, pa: number, len: number): void {
  const page = 2 ** sp.shape.granule;
  for (let p = Math.floor(pa / page) * page; p < pa + len; p += page) {
    const ipa = w.ipaOf(p);
    if (sp.guest.has(Number(ipa))) continue;
    sp.guest.add(Number(ipa));
    w.b.memW(sp.pt.descAddr(ipa, 3), 8, s2Leaf(w, p, 3, PTE.S2AP_READ | PTE.S2AP_WRITE, true));
  }
}

/** Nested: maps everything a stage-1 domain and the data area use (CD, every table, data pages). */
export function mapGuest(w: World, sp: S2Space, doms: Domain[]): void {
  for (const d of doms) {
    guestPages(w, sp, d.cd, 64);
    for (const tt of d.tts) {
      if (!tt) continue;
      for (const t of tt.pt.tables) guestPages(w, sp, t, t === tt.pt.root ? Math.max(tt.pt.rootBytes, 64) : 2 ** tt.pt.granule);
    }
  }
  if (w.dataSize) guestPages(w, sp, w.data, w.dataSize + 0x2000);
}

/** The level-3 (or block) descriptor address of a mapped IPA page of the space, if its tables exist. */
export function s2DescOf(sp: S2Space, ipa: bigint): { addr: number; level: number } | undefined {
  const m = sp.dom.mappings.find((x) => ipa >= x.iova - (x.iova % 2n ** B(sp.pt.shift(x.level))) && ipa < x.iova - (x.iova % 2n ** B(sp.pt.shift(x.level))) + 2n ** B(sp.pt.shift(x.level)));
  if (m) return { addr: m.desc, level: m.level };
  const ipaPage = ipa & ~(2n ** B(sp.shape.granule) - 1n);
  if (!sp.guest.has(Number(ipaPage))) return undefined;
  return { addr: sp.pt.descAddr(ipaPage, 3), level: 3 };
}

/**
 * A change to a stage-2 leaf (or the table above it) that the SMMU may have cached.
 * `guestPage`: the page holds a CD or a stage-1 table, which must never be remapped onto
 * the data area (random bytes as a CD could have IPS 6 or 7, which aborts QEMU 10.0).
 */
export function mutateS2(w: World, sp: S2Space, ipa: bigint, guestPage = false): void {
  const { b, r } = w;
  const at = s2DescOf(sp, ipa);
  if (!at) return;
  if (r.chance(0.2)) {
    const u = sp.pt.upperDesc(ipa, at.level);
    if (u) {
      const cur = b.peek64(u.addr);
      b.memW(u.addr, 8, r.chance(0.6) ? cur & ~1n : (cur & ~0x0000fffffffff000n) | B(unassigned(w, 2 ** sp.shape.granule))); // invalid, or a table outside RAM
      return;
    }
  }
  const cur = b.peek64(at.addr);
  const OA = 0x0000fffffffff000n;
  const size = 2 ** sp.pt.shift(at.level);
  const remap = at.level === 3 && size <= w.dataSize ? B(w.data + r.int(0, Math.floor(w.dataSize / size) - 1) * size) : B(safeBlockOut(w, size));
  const ap: Words = [cur];
  put(ap, PTE.PTE_AP, r.int(0, 3)); // S2AP
  const v = r.weighted<bigint>([
    [3, ap[0]], // other S2AP
    [guestPage ? 0 : 3, (cur & ~OA) | remap], // remapped
    [2, 0n], // unmapped
    [1, cur & ~(1n << 10n)], // AF cleared (F_ACCESS unless S2AFFD)
    [1, cur & ~1n],
  ]);
  b.memW(at.addr, 8, v);
}

/** TLBI_S2_IPA for `ipa` (VMID, Leaf, maybe a range: TG, TTL, NUM, SCALE), as KVM's stage-2 unmap sends it. */
export function tlbiS2Ipa(w: World, sp: S2Space, ipa: bigint): Words {
  const r = w.r;
  const vmid = r.chance(0.9) ? sp.fields.vmid : r.int(0, 0xffff);
  const addr = (r.chance(0.8) ? ipa : ipa + B(r.int(-4, 4) * 0x1000)) & 0x000ffffffffff000n;
  const leaf = r.int(0, 1) === 1;
  if (r.chance(0.45)) {
    return cmdTlbiS2Ipa({
      vmid, addr, leaf,
      tg: r.chance(0.8) ? (sp.shape.granule - 10) / 2 : r.int(0, 3),
      ttl: r.int(0, 3),
      num: r.weighted([[3, 0], [2, r.int(0, 3)], [1, r.int(0, 31)]]),
      scale: r.weighted([[3, 0], [2, r.int(0, 4)], [1, r.int(0, 31)]]),
    });
  }
  return cmdTlbiS2Ipa({ vmid, addr, leaf, ttl: r.chance(0.2) ? r.int(0, 3) : 0 });
}

/** A command that invalidates stage 2 (or both stages) of the space's VMID, or a stage-1 one tagged with it. */
export function s2Invalidation(w: World, sp: S2Space, ipa?: bigint, sid?: number): Words[] {
  const r = w.r;
  const vmid = r.chance(0.9) ? sp.fields.vmid : r.int(0, 0xffff);
  const kind = r.weighted<string>([[6, 's2ipa'], [3, 's12'], [2, 'nhall'], [1, 'nsnh'], [2, 'nhvaa'], [2, 'nhasid'], [2, 'nhva'], [2, 'cfgi'], [1, 'other']]);
  const cmd = (op: number): Words => put([B(op), 0n], C.CMD_VMID, vmid);
  switch (kind) {
    case 's2ipa':
      return [tlbiS2Ipa(w, sp, ipa ?? (sp.dom.mappings.length ? r.pick(sp.dom.mappings).iova : 0n))];
    case 's12':
      return [cmdTlbiS12Vmall(vmid)];
    case 'nhall':
      return [cmd(C.CMD_TLBI_NH_ALL)];
    case 'nsnh':
      return [cmd(C.CMD_TLBI_NSNH_ALL)];
    case 'nhvaa':
    case 'nhva': {
      const c = cmd(kind === 'nhva' ? C.CMD_TLBI_NH_VA : C.CMD_TLBI_NH_VAA);
      const m = w.allMappings().length && r.chance(0.6) ? r.pick(w.allMappings()) : undefined;
      if (m) put(c, C.CMD_ASID, m.d.asid);
      c[1] = ((m ? m.iova : ipa ?? 0n) & 0x000ffffffffff000n) | (r.chance(0.5) ? 1n : 0n);
      return [c];
    }
    case 'nhasid':
      return [put(cmd(C.CMD_TLBI_NH_ASID), C.CMD_ASID, pickAsid(w))];
    case 'cfgi':
      return [put(put([B(C.CMD_CFGI_STE), 0n], C.CMD_SID, sid ?? pickSid(w)), C.CMD_LEAF, 1)];
    default:
      return invalidation(w, undefined, sid);
  }
}
