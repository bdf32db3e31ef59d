// examples/hostile-host.mjs (run it: node examples/hostile-host.mjs)
// What a VMM sees when its own parts misbehave: a pSMMU that never answers, a memory
// callback outside its contract, a callback that calls back into the vSMMU.
import { createSmmu, GuestDriver, encode } from 'vsmmu';

const hung = { name: 'hung-psmmu', invalidate: () => new Promise(() => {}), installSte: () => ({ done: 1 }) };
let reenter = false;
const smmu = await createSmmu({
  ram: [{ base: 0x40000000, size: 0x1000000 }],
  memory: {                                            // addresses outside ram: emulator-owned
    read: (addr, dst) => {
      if (reenter) smmu.reset();                       // refused: the engine is inside this callback
      return 1;                                        // not `true`: a failed read (external abort)
    },
    write: () => true,
  },
  viommu: { backends: [{ name: 'p0', vmid: 1, backend: hung }], devices: [{ sid: 0x20, backend: 'p0', psid: 0x1020 }] },
  backendTimeoutMs: 20,                                // a pSMMU call that takes longer fails its command
  onHostError: (e) => console.log(`host error (${e.source}): ${e.message}`),
});
const driver = new GuestDriver(smmu, { heap: { base: 0x40100000, size: 0x800000 } });
driver.init();

driver.submit([encode.cmdTlbiNhAsid(5), encode.cmdSync()]); // the TLBI goes to the hung pSMMU
await smmu.whenIdle();                                        // the deadline fails it
const cons = Number(smmu.mmioRead(0x9c, 4));                  // CMDQ_CONS
console.log(`CONS.ERR ${(cons >>> 24) & 0x7f} (CERROR_ILL) at index ${cons & 0xff}`);

driver.skipFailed();                                           // as Linux does: the failed command becomes a CMD_SYNC
driver.ackErrors();                                            // GERRORN: the queue goes on

reenter = true;
smmu.mmioWrite(0x80, 8, 0x1_0000_0000n);                       // STRTAB_BASE outside ram: STEs come through the callback
const t = smmu.translate(0x20, 0x1000);
console.log(`${t.status}: event 0x${t.event.toString(16)} (F_STE_FETCH)`);
