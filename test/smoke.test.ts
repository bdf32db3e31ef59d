import { machine, RAM_BASE, fillPattern } from './helpers.js';
import * as E from '../src/arch/events.js';

test('a mapped page translates, an unmapped one faults with F_TRANSLATION', async () => {
  const { smmu, driver } = await machine();
  const d = driver.createDomain({ asid: 7 });
  driver.map(d, 0x100000, RAM_BASE + 0x900000, 0x2000);
  driver.attach(0x18, d);
  const r = smmu.translate(0x18, 0x100abc, 'read');
  expect(r.status).toBe('success');
  expect(r.addr).toBe(RAM_BASE + 0x900abc);
  const data = fillPattern(smmu, RAM_BASE + 0x900000, 64, 1);
  const buf = new Uint8Array(64);
  expect(smmu.dma(0x18, 0x100000, 'read', buf)).toBe(0);
  expect(buf).toEqual(data);
  const f = smmu.translate(0x18, 0x300000, 'write');
  expect(f.status).toBe('fault');
  expect(f.event).toBe(E.EVT_F_TRANSLATION);
  const ev = driver.events();
  expect(ev.map((e) => e.type)).toEqual([E.EVT_F_TRANSLATION]);
  expect(ev[0].sid).toBe(0x18);
  expect(ev[0].words[2]).toBe(0x300000n);
});
