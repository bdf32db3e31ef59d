// The README's first example: a vSMMU with RAM inside the model, a guest driver that
// programs it like Linux, a translation, a DMA, an unmap with TLBI + CMD_SYNC, a fault.
// Run with `node examples/quickstart.mjs` after `npm ci && npm run build`.

import { createSmmu, GuestDriver, encode } from 'vsmmu';

const smmu = await createSmmu({
  ram: [{ base: 0x40000000, size: 0x1000000 }],
  devices: [0x18],
  irq: (line, count) => console.log(`irq ${line} x${count}`),
});

const driver = new GuestDriver(smmu, { heap: { base: 0x40100000, size: 0x800000 } });
driver.init();
const domain = driver.createDomain({ asid: 1 });
driver.map(domain, 0x100000, 0x40900000, 0x2000);
driver.attach(0x18, domain);

const ok = smmu.translate(0x18, 0x100abc, 'write');
console.log(ok.status, '0x' + ok.addr.toString(16));

smmu.writeMemory(0x40900000, new TextEncoder().encode('hello through the SMMU'));
const buf = new Uint8Array(22);
smmu.dma(0x18, 0x100000, 'read', buf);
console.log(new TextDecoder().decode(buf));

driver.submit([...driver.unmap(domain, 0x100000, 0x1000), encode.cmdSync()]);
const fault = smmu.translate(0x18, 0x100000);
console.log(fault.status, 'event 0x' + fault.event.toString(16));
console.log(driver.events().map((e) => `event 0x${e.type.toString(16)} sid 0x${e.sid.toString(16)}`).join('\n'));
