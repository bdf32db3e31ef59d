// The engine's batch export translates at most XB_CAPACITY requests whatever count it is
// given (the host API checks the count first; the export is the boundary and clamps too).

import { machine } from './helpers.js';
import { engineExports } from '../src/engine-debug.js';
import * as A from '../src/arch/abi.js';

test('translate_batch(n) past the capacity translates XB_CAPACITY requests', async () => {
  const m = await machine();
  const e = engineExports(m.smmu);
  for (const n of [A.XB_CAPACITY, A.XB_CAPACITY + 1, A.XB_CAPACITY + 1000]) {
    const before = m.smmu.stats().translations;
    e.translate_batch(n);
    expect([n, m.smmu.stats().translations - before]).toEqual([n, A.XB_CAPACITY]);
  }
});
