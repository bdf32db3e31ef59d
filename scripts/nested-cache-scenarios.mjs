// Nested-cache scenarios for QEMU 10.0 (the model writes the operations as a trace; `vsmmu record`
// on QEMU 10.0.2 gives the expectations; see test/traces/qemu-10.0-local/ORIGIN.md):
//   F  TLBI_NH_ALL with the VMID leaves a stage-1 table's stage-2 entry; TLBI_S2_IPA (TG, TTL) of it drops it
//   G  TLBI_S2_IPA ranges (NUM, SCALE) leave combined entries; TLBI_NH_ASID with a wrong / the right VMID
//   H  a stage-1-only STE carries its S2VMID: TLBI_NH_VA with VMID 0 misses it, with its VMID hits; TLBI_NH_VAA
//   I  a stage-2-only STE of the same VMID shares the stage-2 entries; TLBI_S12_VMALL
// Usage: npm run build && node scripts/nested-cache-scenarios.mjs out.jsonl
import { qemu10Machine, writeTrace, s1Table, Stage2Tables, enc, R, RAM } from './qemu10-machine.mjs';
const { smmu, rec, drv } = await qemu10Machine('nested', 0x200000);
const DATA = RAM + 0x4000000; // 16 pages of data, each page's first word = its index + 1
for (let i = 0; i < 32; i++) rec.writeMemory(DATA + i * 0x1000, enc.wordsToBytes([BigInt(0x1000 + i)]));
const OUT = RAM + 0x5000000;
function mkS2(vmid, o = {}) {
  const t = new Stage2Tables(drv, { vmid, ipaBits: 40, ...o });
  t.map(RAM + 0x100000, RAM + 0x100000, 0x200000, { level: 3 });
  t.map(0x80000000, DATA, 0x20000);
  t.map(0x90000000, OUT, 0x10000);
  return t;
}
let slot = 0;
// copy 8 bytes from iova to the output area (identity-mapped output at IOVA 0x90000000 + ...), read it back
function probe(sid, iova) {
  const dst = 0x90000000 + (slot++) * 8;
  rec.dma(sid, iova, dst, 8);
  rec.readMemory(OUT + (dst - 0x90000000), 8);
}
const sync = () => drv.submit([enc.cmdSync()]);
// F: NH_ALL(vmid) leaves the table-IPA entries; S12_VMALL drops them
const t = mkS2(7);
const d = drv.createDomain({ asid: 1 });
drv.map(d, 0x1000, 0x80000000, 0x4000);
drv.map(d, 0x90000000, 0x90000000, 0x10000);
drv.setSte(0x18, { config: 7, s1ctxptr: d.cdAddr, s2: t.steFields() });
for (let i = 0; i < 4; i++) probe(0x18, 0x1000 + i * 0x1000);
const l3 = s1Table(drv, d, 0x1000, 3);
const copy = drv.alloc(0x1000);
for (let i = 0; i < 512; i++) { const v = drv.read64(l3 + i * 8); if (v) drv.write64(copy + i * 8, v); }
for (let i = 1; i < 5; i++) drv.write64(copy + i * 8, enc.pteLeaf({ addr: 0x80000000 + (i + 8) * 0x1000 }, 3));
t.map(l3, copy, 0x1000);
drv.submit([enc.cmdTlbiNhAll(7), enc.cmdSync()]);
probe(0x18, 0x1000);
drv.submit([enc.cmdTlbiS2Ipa({ vmid: 7, addr: l3, tg: 1, ttl: 3 }), enc.cmdTlbiNhAsid(1, 7), enc.cmdSync()]);
probe(0x18, 0x1000); probe(0x18, 0x2000);
// G: s2 leaf remap of data pages, TLBI_S2_IPA range with scale, then NH_ASID with wrong / right vmid
t.map(0x80000000, DATA + 0x10000, 0x10000);
drv.submit([enc.cmdTlbiS2Ipa({ vmid: 7, addr: 0x80008000, tg: 1, num: 1, scale: 1 }), enc.cmdSync()]);
probe(0x18, 0x2000); probe(0x18, 0x3000);
drv.submit([enc.cmdTlbiNhAsid(1, 0), enc.cmdSync()]);
probe(0x18, 0x2000);
drv.submit([enc.cmdTlbiNhAsid(1, 7), enc.cmdSync()]);
probe(0x18, 0x2000); probe(0x18, 0x3000);
// H: a stage-1-only STE with S2VMID 5 on the nested SMMU; TLBI_NH_VA vmid 0 vs 5; TLBI_NH_VAA vmid 5
const d2 = drv.createDomain({ asid: 2 });
drv.map(d2, 0x1000, DATA, 0x4000);
drv.map(d2, 0x90000000, OUT, 0x10000);
drv.setSte(0x20, { config: 5, s1ctxptr: d2.cdAddr, s2: { ...t.steFields(), vmid: 5 } });
probe(0x20, 0x1000); probe(0x20, 0x2000);
drv.map(d2, 0x1000, DATA + 0x5000, 0x2000);
drv.submit([enc.cmdTlbiVa({ asid: 2, vmid: 0, addr: 0x1000 }), enc.cmdSync()]);
probe(0x20, 0x1000);
drv.submit([enc.cmdTlbiVa({ asid: 2, vmid: 5, addr: 0x1000 }), enc.cmdTlbiVa({ vmid: 5, addr: 0x2000, tg: 1, ttl: 3 }), enc.cmdSync()]);
probe(0x20, 0x1000); probe(0x20, 0x2000);
// I: a stage-2-only STE of VMID 7 shares the IPA entries of sid 0x18's tables: remap IPA 0x80001000 and use both
drv.setSte(0x28, { config: 6, s2: t.steFields() });
probe(0x28, 0x80001000);
t.map(0x80001000, DATA + 0x1f000, 0x1000);
probe(0x28, 0x80001000);
drv.submit([enc.cmdTlbiS12Vmall(7), enc.cmdSync()]);
probe(0x28, 0x80001000); probe(0x18, 0x1000);
for (const e of drv.events()) console.log(e.type.toString(16), 'sid', e.sid.toString(16), 'w1', e.words[1].toString(16), 'addr', e.words[2].toString(16), 'addr2', e.words[3].toString(16));
const lines = [{ format: 'vsmmu-trace', version: 1, profile: 'qemu-10.0', stage: 'nested', name: 'nested-cache-vmid', smmu_base: '0x9050000', ram: [{ base: '0x40000000', size: '0x10000000' }], devices: [0x18, 0x20, 0x28, 0x30].map((s) => ({ sid: '0x' + s.toString(16) })) }, ...rec.lines];
writeTrace(lines, 'nested-cache-vmid.jsonl');
console.log('ops', rec.lines.length);
