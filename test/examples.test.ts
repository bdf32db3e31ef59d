// The README's runnable example runs and prints what the README says it does.

import { execFileSync } from 'node:child_process';

test('examples/quickstart.mjs', () => {
  const out = execFileSync(process.execPath, [new URL('../../examples/quickstart.mjs', import.meta.url).pathname], { encoding: 'utf8' });
  expect(out.split('\n')).toEqual([
    'success 0x40900abc',
    'hello through the SMMU',
    'irq eventq x1',
    'fault event 0x10',
    'event 0x10 sid 0x18',
    '',
  ]);
});

test('examples/migrate.mjs', () => {
  const out = execFileSync(process.execPath, [new URL('../../examples/migrate.mjs', import.meta.url).pathname], { encoding: 'utf8' });
  expect(out.split('\n')).toEqual([
    'host A: translate 0x40900000 iotlb 1',
    'rewind (caches kept): iotlb 1 snapshot bytes RAM + state',
    'migration snapshot without RAM: 294 bytes',
    'host B: arrival ste:0x7: | b0: 0 | iotlb 0',
    'host B: translate 0x40901000 holders of ASID 5: b1',
    'host B: TLBI_NH_VA went to b1',
    "refused (topology): vsmmu snapshot: the guest's StreamIDs differ: saved but absent here 0x40; here but not saved 0x20",
    '',
  ]);
});

test('examples/nested.mjs', () => {
  const out = execFileSync(process.execPath, [new URL('../../examples/nested.mjs', import.meta.url).pathname], { encoding: 'utf8' });
  expect(out.split('\n')).toEqual([
    'success 0x40900abc 4096',
    '0x40900abc',
    '0x40a00abc',
    'event 0x10 s2 1 ipa 0x80000abc fault',
    '',
  ]);
});
