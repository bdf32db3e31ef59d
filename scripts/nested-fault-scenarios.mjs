// Nested-fault scenarios for QEMU 10.0 (the model writes the operations as a trace; `vsmmu record`
// on QEMU 10.0.2 gives the expectations; see test/traces/qemu-10.0-local/ORIGIN.md):
//   A  a stage-1 table whose IPA's stage-2 walk aborts (table outside RAM)
//   C  a CD IPA whose stage-2 walk aborts, S2R = 0
//   D  a TTB0 IPA whose stage-2 walk aborts
//   E  a stage-1 table page whose stage-2 leaf has AF = 0 (S2AFFD = 0)
// Usage: npm run build && node scripts/nested-fault-scenarios.mjs out.jsonl
import { qemu10Machine, writeTrace, s1Table, Stage2Tables, enc, R, RAM } from './qemu10-machine.mjs';
const { smmu, rec, drv } = await qemu10Machine('nested', 0x200000);
const PA = RAM + 0x4000000;
function mkS2(vmid, o = {}) {
  const t = new Stage2Tables(drv, { vmid, ipaBits: 40, ...o });
  t.map(RAM + 0x100000, RAM + 0x100000, 0x200000, { level: 3 });
  t.map(0x80000000, PA, 0x10000);
  return t;
}
function events() { return drv.events(); }
// A: a stage-1 L3 table at IPA 0x100000000 whose stage-2 L1 entry points at an unassigned table
{
  const t = mkS2(1);
  const d = drv.createDomain({ asid: 1 });
  drv.map(d, 0x1000, 0x80000000, 0x1000);
  const l2 = s1Table(drv, d, 0x1000, 2);
  const l3 = s1Table(drv, d, 0x1000, 3);
  // copy the L3 table to PA 0x44000000 and make its IPA 0x100000000; stage 2 maps that IPA via an unassigned table
  drv.write64(l2 + 0 * 8, enc.pteTable({ addr: 0x100000000 }));
  drv.write64(t.root + 4 * 8, enc.pteTable({ addr: 0x200000000 }));
  drv.setSte(0x18, { config: 7, s1ctxptr: d.cdAddr, s2: t.steFields() });
  rec.dma(0x18, 0x1000, 0x1000, 16);
}
// C: a CD at IPA 0x140000000 whose stage-2 walk aborts (S2R = 0)
{
  const t = mkS2(2, { ste: { r: false } });
  const d = drv.createDomain({ asid: 2 });
  drv.map(d, 0x1000, 0x80000000, 0x1000);
  drv.write64(t.root + 5 * 8, enc.pteTable({ addr: 0x200000000 }));
  drv.setSte(0x20, { config: 7, s1ctxptr: 0x140000040, s2: t.steFields() });
  rec.dma(0x20, 0x1000, 0x1000, 4);
}
// D: TTB0 at an IPA whose stage-2 walk aborts
{
  const t = mkS2(3);
  const d = drv.createDomain({ asid: 3, cd: { ttb0: 0x180000000 } });
  drv.write64(t.root + 6 * 8, enc.pteTable({ addr: 0x200000000 }));
  drv.setSte(0x28, { config: 7, s1ctxptr: d.cdAddr, s2: t.steFields() });
  rec.dma(0x28, 0x1000, 0x1000, 4);
}
// E: a stage-1 table page whose stage-2 leaf has AF = 0 (S2AFFD = 0); a second device reads a WO s2 data page after a write
{
  const t = mkS2(4, { ste: { affd: false } });
  const d = drv.createDomain({ asid: 4 });
  drv.map(d, 0x1000, 0x80000000, 0x1000);
  const l3 = s1Table(drv, d, 0x1000, 3);
  t.map(l3, l3, 0x1000, { af: false });
  drv.setSte(0x30, { config: 7, s1ctxptr: d.cdAddr, s2: t.steFields() });
  rec.dma(0x30, 0x1000, 0x1000, 4);
}
for (const e of events()) console.log(e.type.toString(16), "sid", e.sid.toString(16), "w1", e.words[1].toString(16), "addr", e.words[2].toString(16), "addr2", e.words[3].toString(16));
const lines = [{ format: 'vsmmu-trace', version: 1, profile: 'qemu-10.0', stage: 'nested', name: 'nested-s2-aborts-af', smmu_base: '0x9050000', ram: [{ base: '0x40000000', size: '0x10000000' }], devices: [0x18, 0x20, 0x28, 0x30].map((s) => ({ sid: '0x' + s.toString(16) })) }, ...rec.lines];
writeTrace(lines, 'nested-s2-aborts-af.jsonl');
console.log('ops', rec.lines.length);
