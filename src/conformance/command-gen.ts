// Commands a driver (careful, careless or hostile) puts in the command queue of a
// scenario's World: random commands, TLBIs aimed at what is mapped, the invalidations
// after a change, CMD_SYNC.

import * as C from '../arch/commands.js';
import { put, type Words } from '../guest/encode.js';
import type { World, Mapping } from './world.js';

const B = BigInt;

/** Opcodes QEMU 7.2 decodes (0x07 CFGI_ALL is not among them: it is CFGI_STE_RANGE with Range 31). */
export const VALID_OPCODES: readonly number[] = [
  C.CMD_PREFETCH_CONFIG, C.CMD_PREFETCH_ADDR, C.CMD_CFGI_STE, C.CMD_CFGI_STE_RANGE, C.CMD_CFGI_CD, C.CMD_CFGI_CD_ALL,
  C.CMD_TLBI_NH_ALL, C.CMD_TLBI_NH_ASID, C.CMD_TLBI_NH_VA, C.CMD_TLBI_NH_VAA, C.CMD_TLBI_EL3_ALL, C.CMD_TLBI_EL3_VA,
  C.CMD_TLBI_EL2_ALL, C.CMD_TLBI_EL2_ASID, C.CMD_TLBI_EL2_VA, C.CMD_TLBI_EL2_VAA, C.CMD_TLBI_S12_VMALL, C.CMD_TLBI_S2_IPA,
  C.CMD_TLBI_NSNH_ALL, C.CMD_ATC_INV, C.CMD_PRI_RESP, C.CMD_RESUME, C.CMD_STALL_TERM, C.CMD_SYNC,
];
/** A random command: a valid one with random fields, any opcode, or garbage. */
export function randomCmd(world: World): Words {
  const r = world.r;
  const kind = r.weighted<'valid' | 'any' | 'garbage'>([[8, 'valid'], [2, 'any'], [1, 'garbage']]);
  if (kind === 'garbage') return [r.u64(), r.u64()];
  const op = kind === 'any' ? r.int(0, 255) : r.pick(VALID_OPCODES);
  const w: Words = [B(op), 0n];
  const sid = pickSid(world);
  switch (op) {
    case C.CMD_SYNC:
      put(w, C.CMD_SYNC_CS, r.int(0, 3));
      if (r.chance(0.3)) w[1] = r.u64() & ~3n; // MSI address / data: ignored
      if (r.chance(0.3)) put(w, C.CMD_SID, r.u32()); // MSIData
      break;
    case C.CMD_CFGI_STE:
    case C.CMD_CFGI_CD:
    case C.CMD_CFGI_CD_ALL:
    case C.CMD_PREFETCH_CONFIG:
    case C.CMD_PREFETCH_ADDR:
    case C.CMD_ATC_INV:
    case C.CMD_PRI_RESP:
    case C.CMD_RESUME:
    case C.CMD_STALL_TERM:
      put(w, C.CMD_SID, sid);
      if (r.chance(0.3)) put(w, C.CMD_SSID, r.int(0, 0xfffff));
      if (r.chance(0.3)) w[0] |= 1n << 11n; // SSV
      w[1] = r.chance(0.5) ? B(r.int(0, 1)) : r.u64();
      break;
    case C.CMD_CFGI_STE_RANGE:
      put(w, C.CMD_SID, sid);
      put(w, C.CMD_STE_RANGE, r.weighted([[3, r.int(0, 8)], [1, 31], [1, r.int(0, 31)]]));
      break;
    case C.CMD_TLBI_NH_ASID:
    case C.CMD_TLBI_NH_VA:
    case C.CMD_TLBI_NH_VAA:
    case C.CMD_TLBI_NH_ALL:
    case C.CMD_TLBI_EL2_ASID:
    case C.CMD_TLBI_EL2_VA:
    case C.CMD_TLBI_EL2_VAA:
    case C.CMD_TLBI_EL2_ALL:
    case C.CMD_TLBI_EL3_ALL:
    case C.CMD_TLBI_EL3_VA:
    case C.CMD_TLBI_S12_VMALL:
    case C.CMD_TLBI_S2_IPA:
    case C.CMD_TLBI_NSNH_ALL:
      return tlbiCmd(world, op);
    default:
      w[0] |= r.u64() & ~0xffn;
      w[1] = r.u64();
  }
  if (r.chance(world.chaos * 0.5)) w[0] |= 1n << 10n; // SSEC
  return w;
}

export function pickSid(world: World): number {
  const r = world.r;
  return r.weighted<number>([
    [8, r.pick(world.devices).sid],
    [1, r.int(0, 0xff)],
    [1, r.pick(world.devices).sid | (r.int(1, 0xffff) << 16)], // QEMU keys devices by the low 16 bits
    [0.5, r.u32()],
  ]);
}

export function pickAsid(world: World): number {
  const r = world.r;
  if (world.domains.length && r.chance(0.8)) return r.pick(world.domains).asid;
  return r.int(0, 0xffff);
}

/** A TLBI command of opcode `op`, aimed at something mapped most of the time. */
export function tlbiCmd(world: World, op: number, target?: Mapping): Words {
  const r = world.r;
  const w: Words = [B(op), 0n];
  const m = target ?? (world.allMappings().length && r.chance(0.8) ? r.pick(world.allMappings()) : undefined);
  put(w, C.CMD_ASID, m && r.chance(0.85) ? m.d.asid : pickAsid(world));
  put(w, C.CMD_VMID, r.chance(0.8) ? 0 : r.int(0, 0xffff));
  let addr = m ? m.iova + (r.chance(0.5) ? 0n : B(r.int(0, Math.max(0, m.len - 1)))) : B(r.int(0, 0xfffff)) << 12n;
  if (r.chance(0.1)) addr = r.u64();
  w[1] = addr & ~0xfffn;
  put(w, C.CMD_LEAF, r.int(0, 1));
  if (r.chance(0.45)) {
    // range invalidation (IDR3.RIL): TG, TTL, NUM, SCALE
    const gr = m ? m.tt.pt.granule : r.pick([12, 14, 16]);
    const tg = r.chance(0.8) ? (gr - 10) / 2 : r.int(0, 3);
    put(w, C.CMD_TG, tg);
    put(w, C.CMD_TTL, r.chance(0.5) && m ? m.level & 3 : r.int(0, 3));
    put(w, C.CMD_NUM, r.weighted([[3, 0], [2, r.int(0, 3)], [1, r.int(0, 31)]]));
    put(w, C.CMD_SCALE, r.weighted([[3, 0], [2, r.int(0, 4)], [1, r.int(0, 31)]]));
  } else if (r.chance(0.2)) {
    put(w, C.CMD_TTL, r.int(0, 3));
  }
  if (r.chance(world.chaos)) w[0] |= B(r.int(0, 3)) << 8n | B(r.int(0, 1)) << 11n;
  return w;
}

/** One invalidation (of any kind) that a driver might issue after changing `m` or an STE/CD. */
export function invalidation(world: World, m?: Mapping, sid?: number): Words[] {
  const r = world.r;
  const s = sid ?? pickSid(world);
  const kind = r.weighted<number>([
    [6, C.CMD_TLBI_NH_VA], [2, C.CMD_TLBI_NH_VAA], [3, C.CMD_TLBI_NH_ASID], [2, C.CMD_TLBI_NH_ALL],
    [1, C.CMD_TLBI_NSNH_ALL], [1, r.pick([C.CMD_TLBI_EL2_ALL, C.CMD_TLBI_EL2_ASID, C.CMD_TLBI_EL2_VA, C.CMD_TLBI_EL2_VAA, C.CMD_TLBI_S12_VMALL, C.CMD_TLBI_S2_IPA, C.CMD_TLBI_EL3_ALL, C.CMD_TLBI_EL3_VA])],
    [3, C.CMD_CFGI_STE], [2, C.CMD_CFGI_STE_RANGE], [2, C.CMD_CFGI_CD], [1, C.CMD_CFGI_CD_ALL], [1, -1],
    [1, C.CMD_PREFETCH_CONFIG],
  ]);
  const out: Words[] = [];
  switch (kind) {
    case C.CMD_CFGI_STE:
      out.push(put(put([B(kind), 0n], C.CMD_SID, s), C.CMD_LEAF, r.int(0, 1)));
      break;
    case C.CMD_CFGI_STE_RANGE:
      out.push(put(put([B(kind), 0n], C.CMD_SID, s), C.CMD_STE_RANGE, r.weighted([[2, r.int(0, 8)], [1, 31], [1, r.int(0, 31)]])));
      break;
    case -1: // CFGI_ALL
      out.push(put(put([B(C.CMD_CFGI_STE_RANGE), 0n], C.CMD_SID, r.chance(0.8) ? 0 : r.u32()), C.CMD_STE_RANGE, 31));
      break;
    case C.CMD_CFGI_CD:
    case C.CMD_CFGI_CD_ALL:
    case C.CMD_PREFETCH_CONFIG:
      out.push(put(put([B(kind), 0n], C.CMD_SID, s), C.CMD_SSID, r.chance(0.8) ? 0 : r.int(0, 0xfffff)));
      if (kind === C.CMD_CFGI_CD) put(out[0], C.CMD_LEAF, r.int(0, 1));
      break;
    default:
      out.push(tlbiCmd(world, kind, m));
  }
  if (r.chance(world.chaos * 0.5)) out[0][0] |= 1n << 10n; // SSEC: CERROR_ILL for the CFGI ones
  return out;
}

/** CMD_SYNC with a random CS (and junk MSI fields sometimes). */
export function sync(world: World): Words {
  const r = world.r;
  const w = put([B(C.CMD_SYNC), 0n], C.CMD_SYNC_CS, r.weighted([[4, 0], [3, 1], [1, 2], [1, 3]]));
  if (r.chance(0.2)) w[1] = r.u64() & ~3n;
  return w;
}
