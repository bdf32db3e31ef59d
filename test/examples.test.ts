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
