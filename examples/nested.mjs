// The README's stage-2 / nested example: a QEMU 10.0 vSMMU with both stages (as QEMU
// 10's `virt` machine has), a guest hypervisor's stage 2 (VMID 9) under a stage-1
// domain, a nested STE, a translation through both stages, then a stage-2 remap seen
// only after TLBI_S2_IPA + TLBI_NH_ASID, and a stage-2 fault's record.
// Run with `node examples/nested.mjs` after `npm ci`.

import { createSmmu, GuestDriver, Stage2Tables, encode } from 'vsmmu';

const smmu = await createSmmu({ profile: 'qemu-10.0', stage: 'nested', ram: [{ base: 0x40000000, size: 0x1000000 }], devices: [0x18] });
const driver = new GuestDriver(smmu, { heap: { base: 0x40100000, size: 0x800000 } });
driver.init();

// stage 2: 40-bit IPAs, 4 KiB pages; the driver's heap at IPA = PA (stage-1 tables and CDs are IPAs)
const s2 = new Stage2Tables(driver, { vmid: 9, ipaBits: 40 });
s2.map(0x40100000, 0x40100000, 0x800000);
s2.map(0x80000000, 0x40900000, 0x1000); // the IPA the device's buffer has

// stage 1: IOVA 0x1000 -> IPA 0x80000000; a nested STE (Config 0b111)
const domain = driver.createDomain({ asid: 1 });
driver.map(domain, 0x1000, 0x80000000, 0x1000);
driver.setSte(0x18, { config: 7, s1ctxptr: domain.cdAddr, s2: s2.steFields() });

const r = smmu.translate(0x18, 0x1abc, 'write');
console.log(r.status, '0x' + r.addr.toString(16), r.size);            // success 0x40900abc 4096

s2.map(0x80000000, 0x40a00000, 0x1000);                                // stage-2 remap, no invalidation yet
console.log('0x' + smmu.translate(0x18, 0x1abc).addr.toString(16));    // 0x40900abc: the combined entry is cached
driver.submit([encode.cmdTlbiS2Ipa({ vmid: 9, addr: 0x80000000 }), encode.cmdTlbiNhAsid(1, 9), encode.cmdSync()]);
console.log('0x' + smmu.translate(0x18, 0x1abc).addr.toString(16));    // 0x40a00abc

s2.unmap(0x80000000, 0x1000);
driver.submit([encode.cmdTlbiS12Vmall(9), encode.cmdSync()]);
const f = smmu.translate(0x18, 0x1abc);
const [ev] = driver.events();
// F_TRANSLATION at stage 2 (S2 = 1, CLASS = IN), ADDR = the IOVA, ADDR2 = the IPA
console.log(`event 0x${ev.type.toString(16)} s2 ${(ev.words[1] >> 39n) & 1n} ipa 0x${ev.words[3].toString(16)}`, f.status);
