// Nested configuration (QEMU 10.0 smmu_get_cd): the CD address is an IPA, translated
// through stage 2, and the CD is read at the output page plus the IPA's offset in it.

import { machine, RAM_BASE } from './helpers.js';
import { Stage2Tables } from '../src/guest/stage2.js';

const CD_IPA = 0x40000000;

test.each([0x1000, 0x10000])('a CD at offsets 0 .. end of its %i-byte stage-2 page is read there', async (granule) => {
  for (const offset of [0, 0x40, 0x440, granule - 0x40]) {
    const m = await machine({ profile: 'qemu-10.0', stage: 'nested' });
    const t = new Stage2Tables(m.driver, { vmid: 9, ipaBits: 40, granule });
    t.map(RAM_BASE + 0x100000, RAM_BASE + 0x100000, 0x800000); // the driver's heap: IPA = PA
    const d = m.driver.createDomain({ asid: 4 });
    m.driver.map(d, 0x10000, RAM_BASE + 0x300000, 0x1000);
    // the domain's CD copied into a page of its own, at CD_IPA + offset
    const page = m.driver.alloc(granule, granule);
    t.map(CD_IPA, page, granule);
    m.smmu.writeMemory(page + offset, m.smmu.readMemory(d.cdAddr, 64));
    m.driver.setSte(0x18, { config: 7, s1ctxptr: CD_IPA + offset, s2: t.steFields() });
    expect([offset, m.smmu.translate(0x18, 0x10020)]).toMatchObject([offset, { status: 'success', addr: RAM_BASE + 0x300020 }]);
  }
});
