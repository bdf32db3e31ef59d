// Stage-2-only scenarios for QEMU 10.0 (the model writes the operations as a trace; `vsmmu record`
// on QEMU 10.0.2 with -machine virt-9.1 -global arm-smmuv3.stage=2 gives the expectations; see
// test/traces/qemu-10.0-local/ORIGIN.md):
//   K  blocks: 4K at level 1, 64K at level 2 (512 MiB), 16K at level 2 (32 MiB)
//   L  S2PS = 0: an output at or above 4 GiB is F_ADDR_SIZE at stage 2
//   M  TLBI_S2_IPA with a TTL naming another level (containment) and the block's level
// Usage: npm run build && node scripts/s2-block-scenarios.mjs out.jsonl
import { qemu10Machine, writeTrace, Stage2Tables, enc, R, RAM } from './qemu10-machine.mjs';
const { smmu, rec, drv } = await qemu10Machine('2', 0x400000, (rec) => rec.mmioRead(R.R_IDR0, 4));
const DATA = RAM + 0x4000000;
for (let i = 0; i < 32; i++) rec.writeMemory(DATA + i * 0x1000, enc.wordsToBytes([BigInt(0x1000 + i)]));
const OUT = RAM + 0x5000000;
let slot = 0;
function probe(sid, iova, outIova) {
  const dst = outIova + (slot * 8);
  rec.dma(sid, iova, dst, 8);
  rec.readMemory(OUT + slot * 8, 8);
  slot++;
}
// K: 4K level-1 block and 64K level-2 block (512 MiB) and a 16K level-2 block (32 MiB)
const k4 = new Stage2Tables(drv, { vmid: 1, granule: 4096, ipaBits: 39, sl0: 1 });
k4.map(0x40000000, 0x40000000, 0x40000000, { level: 1 });
k4.map(0x100000, OUT, 0x1000);
drv.setSte(0x18, { config: 6, s2: k4.steFields() });
probe(0x18, DATA + 0x3000, 0x100000);
const k64 = new Stage2Tables(drv, { vmid: 2, granule: 65536, ipaBits: 42, sl0: 1 });
k64.map(0x60000000, 0x40000000, 0x20000000, { level: 2 });
k64.map(0x100000, OUT, 0x10000);
drv.setSte(0x20, { config: 6, s2: k64.steFields() });
probe(0x20, 0x60000000 + (DATA - RAM) + 0x5000, 0x100000);
const k16 = new Stage2Tables(drv, { vmid: 3, granule: 16384, ipaBits: 36, sl0: 1 });
k16.map(0x82000000, DATA, 0x2000000, { level: 2 });
k16.map(0x100000, OUT, 0x4000);
drv.setSte(0x28, { config: 6, s2: k16.steFields() });
probe(0x28, 0x82007000, 0x100000);
// L: S2PS = 0 (32-bit PA): an output at or above 4 GiB is F_ADDR_SIZE at stage 2 (the RAM is below)
const l = new Stage2Tables(drv, { vmid: 4, granule: 4096, ipaBits: 32, ste: { ps: 0 } });
l.map(0x1000, 0x100000000, 0x1000);
l.map(0x2000, DATA, 0x1000);
l.map(0x100000, OUT, 0x1000);
drv.setSte(0x30, { config: 6, s2: l.steFields() });
probe(0x30, 0x1000, 0x100000);
probe(0x30, 0x2000, 0x100000);
// M: TLBI_S2_IPA with TTL on a level-1 block (exact key) and on the wrong level (containment)
k4.map(0x40000000, 0x0, 0x40000000, { level: 1 });
drv.submit([enc.cmdTlbiS2Ipa({ vmid: 1, addr: 0x40000000, tg: 1, ttl: 2 }), enc.cmdSync()]);
probe(0x18, DATA + 0x3000, 0x100000);
drv.submit([enc.cmdTlbiS2Ipa({ vmid: 1, addr: 0x40000000, tg: 1, ttl: 1 }), enc.cmdSync()]);
probe(0x18, DATA + 0x3000, 0x100000);
for (const e of drv.events()) console.log(e.type.toString(16), 'sid', e.sid.toString(16), 'w1', e.words[1].toString(16), 'addr', e.words[2].toString(16), 'addr2', e.words[3].toString(16));
const lines = [{ format: 'vsmmu-trace', version: 1, profile: 'qemu-10.0', stage: '2', name: 's2-blocks-ps', smmu_base: '0x9050000', ram: [{ base: '0x40000000', size: '0x10000000' }], devices: [0x18, 0x20, 0x28, 0x30].map((s) => ({ sid: '0x' + s.toString(16) })) }, ...rec.lines];
writeTrace(lines, 's2-blocks-ps.jsonl');
console.log('ops', rec.lines.length);
