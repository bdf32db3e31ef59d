// Random live-migration points for generated scenarios: a share of scenarios is migrated
// (QMP on QEMU, save/restore on the model) at 1-3 random places between operations, so
// that every family is also checked across migrations (registers, raw queue pointers,
// pending command errors, caches that QEMU drops). Drawn from their own generator, so the
// rest of a scenario is the same with or without them.

import { Rng } from './rng.js';
import type { Op } from '../ops.js';

/** Share of scenarios that get migration points. */
export const MIGRATING_SHARE = 0.3;
export const MAX_MIGRATIONS = 3;

/** `ops` with migrate ops inserted at random points (or unchanged), deterministically per seed. */
export function withMigrationPoints(seed: number, ops: readonly Op[]): Op[] {
  const r = new Rng((seed ^ 0x6d696772) >>> 0);
  const out = [...ops];
  if (out.length < 2 || !r.chance(MIGRATING_SHARE)) return out;
  const n = r.int(1, MAX_MIGRATIONS);
  const at = Array.from({ length: n }, () => r.int(1, out.length - 1)).sort((a, b) => b - a);
  for (const i of at) out.splice(i, 0, { op: 'migrate' });
  return out;
}
