// Scenario families for an SMMU with stage 2 (QEMU 10.0 stage 2 or nested), written as
// a guest hypervisor would: stage-2 tables of every granule, start level and IPA size,
// STE S2 field checks, S2AP permissions and faults, VMID-tagged caching and its
// invalidations, and nested configurations (the guest's CD and stage-1 tables behind
// stage 2) with faults at each stage and stale-then-invalidated checks across both.
// Devices never bypass in these scenarios (IPAs and IOVAs are not safe PAs).

import type { Words } from '../guest/encode.js';
import { put } from '../guest/encode.js';
import * as C from '../arch/commands.js';
import * as R from '../arch/registers.js';
import * as PTE from '../arch/pte.js';
import * as STE from '../arch/ste.js';
import { bringUp, cfgiAll, dataSizeFor, finish } from './bringup.js';
import type { Device, Domain, Mapping, World } from './world.js';
import {
  guestPages, mapGuest, mutateS2, newS2Space, s2Invalidation, s2MapRandom, s2Ste, startLevels, tlbiS2Ipa, type S2Fields, type S2Space,
} from './stage2.js';
import { unassigned } from './safe-memory.js';
import { pickSid, tlbiCmd, sync as syncCmd } from './command-gen.js';
import { drainEvents, pickIova, pickLen, dmaAction } from './traffic.js';
import { mapRandom } from './page-tables.js';

const B = BigInt;
const OA = 0x0000fffffffff000n;

function cfgiSte(sid: number): Words {
  return put(put([B(C.CMD_CFGI_STE), 0n], C.CMD_SID, sid), C.CMD_LEAF, 1);
}

function sync(w: World, cmds: Words[]): void {
  w.submit([...cmds, syncCmd(w)]);
  w.afterBatch();
}

/** Points a device at a VM's stage 2 (Config 0b110) or at a guest domain behind it (0b111). */
function attachS2(w: World, dev: Device, sp: S2Space, d?: Domain, fields: Partial<S2Fields> = {}): void {
  const kind = d ? 'nested' : 's2';
  if (!w.writeSte(dev.sid, s2Ste(w, sp, kind, d?.cd ?? 0, fields))) return;
  dev.state = kind;
  dev.domain = d ?? sp.dom;
  if (w.r.chance(0.85)) sync(w, [cfgiSte(dev.sid)]);
}

/** DMA of `dev` through mapping `m` and another address: read one, write the other. */
function dmaVia(w: World, dev: Device, m: Mapping, read: boolean): void {
  const r = w.r;
  const len = Math.min(pickLen(w), Math.max(1, m.len));
  const off = B(r.int(0, Math.max(0, m.len - len)));
  const other = pickIova(w, dev, len);
  if (read) w.b.dma(dev.sid, m.iova + off, other, len);
  else w.b.dma(dev.sid, other, m.iova + off, len);
  if (r.chance(0.6)) w.observeData();
  if (r.chance(0.6)) drainEvents(w, r.chance(0.9));
}

// ---- stage 2 ----------------------------------------------------------------------------------

interface S2Setup {
  spaces: S2Space[];
}

/** Bring-up, a data area and one or two VMs with mappings; most devices on a VM's stage 2. */
function s2Setup(w: World, o: { granule?: 12 | 14 | 16; vms?: number; maps?: [number, number]; shareVmid?: boolean } = {}): S2Setup {
  const r = w.r;
  bringUp(w);
  const g = o.granule ?? r.pick([12, 14, 16] as const);
  w.setupData(dataSizeFor([g]));
  const spaces: S2Space[] = [];
  const n = o.vms ?? r.int(1, 2);
  for (let i = 0; i < n; i++) {
    // a second VM with the first one's VMID shares its IOTLB entries (QEMU keys them by VMID)
    const vmid = i > 0 && (o.shareVmid ?? r.chance(0.4)) ? spaces[0].fields.vmid : undefined;
    const sp = newS2Space(w, { granule: r.chance(0.7) ? g : undefined, vmid });
    const [lo, hi] = o.maps ?? [3, 10];
    for (let k = r.int(lo, hi); k > 0; k--) s2MapRandom(w, sp);
    spaces.push(sp);
  }
  for (const dev of w.devices) if (r.chance(0.85)) attachS2(w, dev, r.pick(spaces));
  return { spaces };
}

function spaceOf(s: S2Setup, dev: Device): S2Space | undefined {
  return s.spaces.find((sp) => sp.dom === dev.domain);
}

/** Stage-2 walks: every granule, start level (concatenated start tables too) and IPA size; DMA through them. */
export const s2Walk = (w: World): void => {
  const { r } = w;
  const s = s2Setup(w);
  for (let i = r.int(4, 12); i > 0; i--) {
    if (r.chance(0.15)) s2MapRandom(w, r.pick(s.spaces));
    if (r.chance(0.08)) mutateS2(w, r.pick(s.spaces), r.pick(s.spaces).dom.mappings[0]?.iova ?? 0n);
    const dev = r.pick(w.devices);
    const maps = dev.domain?.mappings ?? [];
    if (maps.length && r.chance(0.7)) dmaVia(w, dev, r.pick(maps), r.chance(0.5));
    else dmaAction(w, dev);
  }
  finish(w);
};

/** STE S2 fields, valid and not: S2TG, S2T0SZ, S2SL0, S2PS, S2ENDI, S2S, S2R, S2AFFD, S1 fields on a stage-2 STE, S2TTB outside RAM. */
export const s2SteChecks = (w: World): void => {
  const { r } = w;
  const s = s2Setup(w, { vms: 1 });
  const sp = s.spaces[0];
  for (let i = r.int(3, 8); i > 0; i--) {
    const dev = r.pick(w.devices);
    const sh = sp.shape;
    const stride = sh.granule - 3;
    // a start level with more than 16 concatenated tables (never one that resolves no IPA bit)
    const tooMany = [0, 1, 2, 3].filter((l) => sh.ipaBits - (sh.granule + stride * (3 - l)) > stride + 4 && (sh.granule === 12 ? l <= 2 : l >= 1));
    const v = r.weighted<Partial<S2Fields> & { cdmax?: boolean; stalld?: boolean; cfg?: number }>([
      [5, {}],
      [1, { tg: 3 }],
      [1, { t0sz: r.chance(0.5) ? r.int(40, 63) : r.int(0, 19) }],
      [1, { ps: r.int(0, 7) }],
      [tooMany.length ? 1 : 0, { sl0: tooMany.length ? (sh.granule === 12 ? 2 - r.pick(tooMany) : 3 - r.pick(tooMany)) : 0 }],
      [1, { endi: 1 }],
      [1, { s: 1 }],
      [1, { r: 1 - sp.fields.r }],
      [1, { affd: 1 - sp.fields.affd }],
      [1, { ptw: 1, ha: 1, hd: 1 }],
      [1, { cdmax: true }],
      [1, { stalld: true }],
      [1, { ttb: B(unassigned(w, 2 ** 16)) }],
      [0.5, { ttb: sp.fields.ttb + B(r.int(1, 3) * 16) }],
      [1, { vmid: r.int(0, 0xffff) }],
      [1, { cfg: 5 }],
    ]);
    if (v.ps !== undefined && [32, 36, 40, 42, 44][Math.min(v.ps, 4)] >= sh.ipaBits) v.ps = 0; // an S2PS smaller than the IPA size
    if (v.ps === 0 && sh.ipaBits <= 32) delete v.ps;
    const ste = s2Ste(w, sp, 's2', 0, v);
    if (v.cdmax) put(ste, STE.STE_S1CDMAX, r.int(1, 31));
    if (v.stalld) put(ste, STE.STE_S1STALLD, 1);
    if (v.cfg !== undefined) {
      // stage 1 on this SMMU: C_BAD_STE without stage 1, else an empty CD (C_BAD_CD)
      put(ste, STE.STE_CONFIG, v.cfg);
      put(ste, STE.STE_S1CTXPTR_QEMU, w.b.alloc(64, 64) >> 6);
    }
    if (w.writeSte(dev.sid, ste)) {
      dev.state = 's2';
      dev.domain = sp.dom;
    }
    if (r.chance(0.85)) sync(w, [cfgiSte(dev.sid), ...(r.chance(0.3) ? s2Invalidation(w, sp, undefined, dev.sid) : [])]);
    dmaAction(w, dev);
    if (r.chance(0.5)) drainEvents(w);
  }
  finish(w);
};

/** S2AP permissions: read-only, write-only, none; cold and cached accesses; AF = 0 with and without S2AFFD; S2R. */
export const s2Perm = (w: World): void => {
  const { r } = w;
  const s = s2Setup(w, { maps: [1, 3] });
  const maps: Mapping[] = [];
  for (const sp of s.spaces) {
    for (let k = r.int(3, 8); k > 0; k--) {
      const m = s2MapRandom(w, sp, { perm: r.int(0, 3), af: r.chance(0.8) });
      if (m) maps.push(m);
    }
  }
  for (let i = r.int(4, 12); i > 0; i--) {
    const dev = r.pick(w.devices);
    const sp = spaceOf(s, dev);
    const mine = maps.filter((m) => sp && m.d === sp.dom);
    const act = r.weighted<string>([[6, 'dma'], [1, 'ste'], [1, 'mutate'], [1, 'inval']]);
    if (act === 'dma' && mine.length) {
      const m = r.pick(mine);
      // the same page read, then written (or the other way round): the second hits the IOTLB
      dmaVia(w, dev, m, true);
      if (r.chance(0.6)) dmaVia(w, dev, m, false);
    } else if (act === 'ste' && sp) {
      attachS2(w, dev, sp, undefined, { r: r.int(0, 1), affd: r.int(0, 1) });
    } else if (act === 'mutate' && sp && mine.length) {
      mutateS2(w, sp, r.pick(mine).iova);
    } else if (sp) {
      sync(w, s2Invalidation(w, sp, mine.length ? r.pick(mine).iova : undefined, dev.sid));
    } else {
      dmaAction(w, dev);
    }
  }
  finish(w);
};

/** VMID-tagged caching: DMA, change a stage-2 entry or STE, DMA, invalidate (or not), DMA; devices sharing a VMID. */
export const s2Cache = (w: World): void => {
  const { r } = w;
  const s = s2Setup(w, { vms: r.int(1, 2), shareVmid: r.chance(0.6) });
  for (let i = r.int(2, 6); i > 0; i--) {
    const dev = r.pick(w.devices);
    const sp = spaceOf(s, dev) ?? r.pick(s.spaces);
    const m = sp.dom.mappings.length ? r.pick(sp.dom.mappings) : undefined;
    if (m) dmaVia(w, dev, m, r.chance(0.5));
    else dmaAction(w, dev);
    if (r.chance(0.8) && m) mutateS2(w, sp, m.iova);
    else attachS2(w, r.pick(w.devices), r.pick(s.spaces), undefined, r.chance(0.3) ? { vmid: r.int(0, 15) } : {});
    if (r.chance(0.5)) (m ? dmaVia(w, r.pick(w.devices), m, r.chance(0.5)) : dmaAction(w));
    const cmds: Words[] = [];
    for (let k = r.int(0, 3); k > 0; k--) cmds.push(...(m && r.chance(0.5) ? [tlbiS2Ipa(w, sp, m.iova)] : s2Invalidation(w, sp, m?.iova, dev.sid)));
    if (cmds.length || r.chance(0.5)) sync(w, cmds);
    if (m) dmaVia(w, dev, m, r.chance(0.5));
    for (const other of w.devices) if (other !== dev && r.chance(0.3)) dmaAction(w, other);
  }
  finish(w);
};

// ---- nested -----------------------------------------------------------------------------------

interface NestedSetup {
  sp: S2Space;
  doms: Domain[];
}

/**
 * A VM whose guest programs stage 1 (CDs, tables, mappings) in its IPA space, which
 * the hypervisor's stage 2 maps to PA = IPA - ipaDelta; devices nested on them.
 */
function nestedSetup(w: World, o: { s1Granule?: 12 | 14 | 16; s2Granule?: 12 | 14 | 16 } = {}): NestedSetup {
  const r = w.r;
  bringUp(w);
  const g1 = o.s1Granule ?? r.pick([12, 14, 16] as const);
  const sp = newS2Space(w, { granule: o.s2Granule, minIpa: 32 });
  // IPA = PA + delta, a multiple of 1 GiB that keeps every guest page below 2^ipaBits
  const maxK = Math.floor((2 ** sp.shape.ipaBits - 0x60000000) / 2 ** 30);
  const k = r.chance(0.15) ? 0 : r.int(-1, Math.min(maxK, 64));
  w.ipaDelta = B(k) * (1n << 30n);
  w.setupData(dataSizeFor([g1, sp.shape.granule]));
  // nothing else shares a stage-2 page with the data area: its pages may be remapped onto other data pages
  w.b.alloc(1, 0x10000);
  const doms: Domain[] = [];
  for (let i = r.int(1, 2); i > 0; i--) {
    const d = w.newDomain({ granule: r.chance(0.8) ? g1 : undefined });
    for (let n = r.int(2, 8); n > 0; n--) mapRandom(w, d);
    doms.push(d);
  }
  // a few stage-2 mappings beyond the guest's RAM (device windows, holes) and the guest's own pages
  for (let n = r.int(0, 3); n > 0; n--) s2MapRandom(w, sp);
  mapGuest(w, sp, doms);
  for (const dev of w.devices) if (r.chance(0.85)) attachS2(w, dev, sp, r.pick(doms));
  return { sp, doms };
}

/** Nested translation: the CD, stage-1 tables and outputs all behind stage 2; DMA through both. */
export const nestedWalk = (w: World): void => {
  const { r } = w;
  const n = nestedSetup(w);
  for (let i = r.int(4, 12); i > 0; i--) {
    if (r.chance(0.15)) {
      mapRandom(w, r.pick(n.doms));
      mapGuest(w, n.sp, n.doms);
    }
    const dev = r.pick(w.devices);
    const maps = dev.domain?.mappings ?? [];
    if (maps.length && r.chance(0.6)) dmaVia(w, dev, r.pick(maps), r.chance(0.5));
    else dmaAction(w, dev);
  }
  finish(w);
};

/** The IPA page (of the stage-2 granule) holding guest PA `pa`. */
function ipaPage(w: World, sp: S2Space, pa: number): bigint {
  return w.ipaOf(pa) & ~(2n ** B(sp.shape.granule) - 1n);
}

/**
 * The hypervisor moves a guest page: copies it to a new PA (with an edit) and points
 * the stage-2 entry of its IPA there. Returns the new PA of `pa`.
 */
function movePage(w: World, sp: S2Space, pa: number, edit?: (newPa: number) => void): number | undefined {
  const size = 2 ** sp.shape.granule;
  const old = Math.floor(pa / size) * size;
  const desc = sp.pt.descAddr(ipaPage(w, sp, pa), 3);
  const cur = w.b.peek64(desc);
  if ((cur & 3n) !== 3n) return undefined;
  const np = w.b.alloc(size, size);
  w.b.fill(np, w.b.m.readMemory(old, size));
  edit?.(np + (pa - old));
  w.b.memW(desc, 8, (cur & ~OA) | B(np));
  return np + (pa - old);
}

/** A fault at one stage or the other, as a hypervisor or guest causes it. */
function nestedFault(w: World, n: NestedSetup): { ipa?: bigint; sid?: number } {
  const { b, r } = w;
  const d = r.pick(n.doms);
  const dev = w.devices.find((x) => x.domain === d) ?? r.pick(w.devices);
  const tables = [...(d.tts[0]?.pt.tables ?? [])];
  const what = r.weighted<string>([[3, 's2-data'], [2, 's2-table'], [2, 's2-cd'], [2, 's1-pte'], [1, 'cd-outside'], [1, 'ste-r'], [1, 'cd-r']]);
  switch (what) {
    case 's2-data': {
      const m = d.mappings.length ? r.pick(d.mappings) : undefined;
      if (!m) return {};
      const ipa = B(b.peek64(m.desc) & OA) & ~(2n ** B(n.sp.shape.granule) - 1n);
      if (n.sp.guest.has(Number(ipa))) mutateS2(w, n.sp, ipa);
      return { ipa, sid: dev.sid };
    }
    case 's2-table': {
      const t = r.pick(tables);
      const ipa = ipaPage(w, n.sp, t);
      mutateS2(w, n.sp, ipa, true);
      return { ipa, sid: dev.sid };
    }
    case 's2-cd': {
      const ipa = ipaPage(w, n.sp, d.cd);
      mutateS2(w, n.sp, ipa, true);
      return { ipa, sid: dev.sid };
    }
    case 's1-pte': {
      const m = d.mappings.length ? r.pick(d.mappings) : undefined;
      if (!m) return {};
      const cur = b.peek64(m.desc);
      b.memW(m.desc, 8, r.weighted<bigint>([[3, cur ^ (2n << 6n)], [2, 0n], [1, cur & ~(1n << 10n)], [1, (cur & ~OA) | w.ipaOf(unassigned(w, 0x10000))]]));
      return { sid: dev.sid };
    }
    case 'cd-outside': {
      // the CD's IPA page now maps to unassigned memory: F_CD_FETCH with the PA
      const desc = n.sp.pt.descAddr(ipaPage(w, n.sp, d.cd), 3);
      b.memW(desc, 8, (b.peek64(desc) & ~OA) | B(unassigned(w, 2 ** n.sp.shape.granule)));
      return { ipa: ipaPage(w, n.sp, d.cd), sid: dev.sid };
    }
    case 'ste-r':
      attachS2(w, dev, n.sp, d, { r: r.int(0, 1), affd: r.int(0, 1) });
      return { sid: dev.sid };
    default: {
      w.writeCd(d, { r: r.int(0, 1) });
      return { sid: dev.sid };
    }
  }
}

/** Faults at each stage: stage-2 entries of data, tables and CDs, stage-1 PTEs, CD.R and S2R; re-validated by invalidation. */
export const nestedFaults = (w: World): void => {
  const { r } = w;
  const n = nestedSetup(w);
  for (let i = r.int(3, 8); i > 0; i--) {
    const { ipa, sid } = nestedFault(w, n);
    dmaAction(w, sid !== undefined ? w.devices.find((x) => x.sid === sid) : undefined);
    if (r.chance(0.6)) {
      const cmds: Words[] = [];
      if (ipa !== undefined && r.chance(0.6)) cmds.push(tlbiS2Ipa(w, n.sp, ipa));
      if (r.chance(0.5)) cmds.push(put([B(C.CMD_TLBI_S12_VMALL), 0n], C.CMD_VMID, n.sp.fields.vmid));
      if (r.chance(0.5)) cmds.push(r.chance(0.5) ? cfgiAll() : put(put([B(C.CMD_CFGI_CD), 0n], C.CMD_SID, sid ?? pickSid(w)), C.CMD_LEAF, 1));
      sync(w, cmds);
      dmaAction(w);
    }
  }
  finish(w);
};

/** Stale-then-invalidated across both stages: stage-1 PTEs, stage-2 entries of data, tables and the CD, moved pages. */
export const nestedCache = (w: World): void => {
  const { b, r } = w;
  const n = nestedSetup(w);
  for (let i = r.int(2, 6); i > 0; i--) {
    const d = r.pick(n.doms);
    const dev = w.devices.find((x) => x.domain === d) ?? r.pick(w.devices);
    const m = d.mappings.length ? r.pick(d.mappings) : undefined;
    if (m) dmaVia(w, dev, m, r.chance(0.5));
    let ipa: bigint | undefined;
    const what = r.weighted<string>([[3, 's1'], [3, 's2'], [1, 'cd-via-s2'], [1, 'table-via-s2'], [1, 'fault']]);
    if (what === 's1' && m) {
      const cur = b.peek64(m.desc);
      b.memW(m.desc, 8, r.chance(0.5) ? cur ^ (2n << 6n) : (cur & ~OA) | w.ipaOf(w.dataAddr(0x10000, 0x10000)));
    } else if (what === 's2' && m) {
      ipa = B(b.peek64(m.desc) & OA) & ~(2n ** B(n.sp.shape.granule) - 1n);
      if (n.sp.guest.has(Number(ipa))) mutateS2(w, n.sp, ipa);
    } else if (what === 'cd-via-s2') {
      ipa = ipaPage(w, n.sp, d.cd);
      movePage(w, n.sp, d.cd, (np) => b.memW(np + 8, 8, r.chance(0.5) ? 0n : b.peek64(d.cd + 8))); // the moved CD loses its TTB0 sometimes
    } else if (what === 'table-via-s2') {
      const t = r.pick([...(d.tts[0]?.pt.tables ?? [])]);
      ipa = ipaPage(w, n.sp, t);
      movePage(w, n.sp, t, (np) => {
        for (let k = 0; k < 4; k++) if (r.chance(0.5)) b.memW(np + r.int(0, 63) * 8, 8, 0n);
      });
    } else {
      ipa = nestedFault(w, n).ipa;
    }
    if (r.chance(0.5)) dmaAction(w, dev);
    const cmds: Words[] = [];
    for (let k = r.int(0, 3); k > 0; k--) {
      cmds.push(
        ...r.weighted<Words[]>([
          [3, ipa !== undefined ? [tlbiS2Ipa(w, n.sp, ipa)] : s2Invalidation(w, n.sp, undefined, dev.sid)],
          [2, s2Invalidation(w, n.sp, ipa, dev.sid)],
          [2, m ? [put(tlbiCmd(w, C.CMD_TLBI_NH_VA, m), C.CMD_VMID, r.chance(0.8) ? n.sp.fields.vmid : 0)] : []],
          [1, [put(put([B(C.CMD_CFGI_CD), 0n], C.CMD_SID, dev.sid), C.CMD_LEAF, 1)]],
          [1, [cfgiSte(dev.sid)]],
        ]),
      );
    }
    if (cmds.length || r.chance(0.5)) sync(w, cmds);
    if (m) dmaVia(w, dev, m, r.chance(0.5));
    else dmaAction(w, dev);
  }
  finish(w);
};

// ---- registers ---------------------------------------------------------------------------------

/** ID registers, GBPA (implemented in 10.0) and the stage-specific legality of every TLBI opcode. */
export const regs10 = (w: World): void => {
  const { b, r } = w;
  for (const off of [R.R_IDR0, R.R_IDR1, R.R_IDR2, R.R_IDR3, R.R_IDR4, R.R_IDR5, R.R_IIDR, R.R_AIDR]) b.mmioR(off + (r.chance(0.2) ? R.SMMU_PAGE1 : 0));
  b.mmioR(R.R_GBPA);
  for (let i = r.int(1, 4); i > 0; i--) {
    b.mmioW(R.R_GBPA, 4, r.weighted<number>([[2, 0x80100000], [2, 0x80000000 | r.int(0, 0x1fffff)], [1, r.u32()], [1, 0x100000], [1, 0x80000000]]));
    b.mmioR(R.R_GBPA);
  }
  bringUp(w);
  w.setupData(dataSizeFor([12]));
  const tlbis = [C.CMD_TLBI_NH_ALL, C.CMD_TLBI_NH_ASID, C.CMD_TLBI_NH_VA, C.CMD_TLBI_NH_VAA, C.CMD_TLBI_S12_VMALL, C.CMD_TLBI_S2_IPA, C.CMD_TLBI_NSNH_ALL, C.CMD_TLBI_EL2_ALL, C.CMD_TLBI_EL2_ASID, C.CMD_TLBI_EL2_VA, C.CMD_TLBI_EL2_VAA, C.CMD_TLBI_EL3_ALL, C.CMD_TLBI_EL3_VA];
  for (let i = r.int(4, 12); i > 0; i--) {
    const c = tlbiCmd(w, r.pick(tlbis));
    if (r.chance(0.3)) c[0] |= 1n << 10n; // SSEC
    sync(w, [c]);
  }
  if (r.chance(0.5)) {
    // a disabled SMMU with GBPA.ABORT, then without
    b.mmioW(R.R_GBPA, 4, 0x80100000);
    w.writeCr0(w.cr0 & ~1);
    dmaAction(w);
    b.mmioW(R.R_GBPA, 4, 0x80001000);
    dmaAction(w);
    w.writeCr0(w.cr0 | 1);
  }
  finish(w);
};

/** The page-table shapes a stage-2 VM may have (for tests and docs). */
export { startLevels, guestPages, PTE };
