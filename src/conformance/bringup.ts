// Bring-up and wind-down of a scenario as a guest SMMU driver does them: probe-time
// register programming with random sizes and variations, and the final observations.

import type { World } from './world.js';
import * as R from '../arch/registers.js';
import * as C from '../arch/commands.js';
import { put, type Words } from '../guest/encode.js';
import { sync } from './command-gen.js';
import { drainEvents } from './traffic.js';

const B = BigInt;

export interface BringUp {
  strtab?: 'linear' | '2lvl' | 'any';
  /** LOG2SIZE of a linear stream table (random otherwise). */
  strtabLog2?: number;
  cmdqLog2?: number;
  evtqLog2?: number;
  eventq?: boolean;
  smmuen?: boolean;
}

/** Probe-time programming in the order a driver uses, with random sizes and variations. */
export function bringUp(w: World, o: BringUp = {}): void {
  const { b, r } = w;
  if (r.chance(0.3)) for (const off of [R.R_IDR0, R.R_IDR1, R.R_IDR3, R.R_IDR5]) b.mmioR(off);
  if (r.chance(0.2)) b.mmioR(R.R_AIDR);
  if (r.chance(0.5)) {
    b.mmioW(R.R_CR0, 4, 0);
    b.mmioR(R.R_CR0ACK);
  }
  const kind = o.strtab === 'any' || o.strtab === undefined ? (r.chance(0.25) ? '2lvl' : 'linear') : o.strtab;
  if (kind === 'linear') {
    w.setupLinear(o.strtabLog2 ?? r.weighted([[6, 8], [2, r.int(8, 12)], [1, 16], [1, r.int(17, 42)]]), r.chance(w.chaos * 0.5));
  } else {
    const log2 = r.weighted([[4, 8], [2, r.int(8, 16)], [1, r.int(17, 24)]]);
    w.setupTwoLevel(log2, r.weighted([[3, 6], [2, r.int(0, 8)], [1, r.int(0, Math.min(log2, 12))]]));
  }
  w.setupCmdq(o.cmdqLog2 ?? r.weighted([[4, r.int(2, 6)], [2, r.int(0, 2)], [2, 8], [0.5, r.int(20, 31)]]));
  b.mmioW(R.R_CMDQ_PROD, 4, 0);
  b.mmioW(R.R_CMDQ_CONS, 4, 0);
  w.setupEvtq(o.evtqLog2 ?? r.weighted([[4, r.int(3, 7)], [2, r.int(0, 2)], [0.5, r.int(20, 31)]]));
  const page = r.chance(0.7) ? R.SMMU_PAGE1 : 0;
  b.mmioW(R.R_EVENTQ_PROD + page, 4, 0);
  b.mmioW(R.R_EVENTQ_CONS + page, 4, 0);
  b.mmioW(R.R_IRQ_CTRL, 4, r.chance(0.8) ? 5 : r.int(0, 7));
  if (r.chance(0.3)) b.mmioR(R.R_IRQ_CTRLACK);
  let cr0 = 8;
  w.writeCr0(cr0);
  if (r.chance(0.8)) {
    w.submit([cfgiAll(), sync(w)]);
    w.afterBatch();
  }
  if (o.eventq ?? r.chance(0.95)) cr0 |= 4;
  w.writeCr0(cr0, r.chance(0.5));
  if (r.chance(0.1)) b.mmioW(R.R_GBPA, 4, r.chance(0.5) ? 0x80100000 : r.u32());
  if (o.smmuen ?? true) w.writeCr0(cr0 | 1);
}

export function cfgiAll(): Words {
  return put(put([B(C.CMD_CFGI_STE_RANGE), 0n], C.CMD_SID, 0), C.CMD_STE_RANGE, 31);
}

/** Data area size for the granules in use. */
export function dataSizeFor(granules: number[]): number {
  return Math.max(...granules.map((g) => 4 * 2 ** g), 0x8000);
}

export function finish(w: World): void {
  const { b, r } = w;
  b.mmioR(R.R_CMDQ_CONS);
  b.mmioR(R.R_GERROR);
  if (r.chance(0.5)) b.mmioR(R.R_GERRORN);
  b.mmioR(R.R_CR0ACK);
  drainEvents(w, false);
  if (w.dataSize) w.observeData();
}

