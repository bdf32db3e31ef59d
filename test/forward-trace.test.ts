// The dispatcher's `vsmmu_forward` trace records (one per entry it forwards, in guest
// order): each names the backend, the kind, the physical StreamID (0 for entries that name
// none) and the entry's words exactly as that backend then receives them.

import { machine, RAM_BASE, Recorder } from './helpers.js';
import { CommandError } from '../src/guest/driver.js';
import type { BatchResult } from '../src/backends/types.js';
import * as R from '../src/arch/registers.js';
import { cd, wordsToBytes, cmdSync, cmdCfgiSte, cmdCfgiSteRange, cmdCfgiCd, cmdTlbiNhAll, cmdTlbiNsnhAll, cmdTlbiNhAsid, cmdTlbiVa, cmdAtcInv } from '../src/guest/encode.js';

test('each forwarded entry is traced once with its backend, kind, pSID (0 when it names none) and the words the backend receives', async () => {
  const lines: string[] = [];
  const recs = [new Recorder('p0'), new Recorder('p1')];
  const m = await machine({
    trace: (l) => { if (l.startsWith('vsmmu_forward')) lines.push(l); },
    viommu: { backends: recs.map((backend, i) => ({ name: `p${i}`, vmid: 0x30 + i, backend })) },
  });
  m.smmu.bindDevice({ sid: 0x40, backend: 'p1', psid: 0x1234 });
  const table = m.driver.alloc(64, 64);
  m.smmu.writeMemory(table, wordsToBytes(cd({ asid: 7, ttb0: RAM_BASE, t0sz: 16, tg0: 0 })));
  m.driver.setSte(0x40, { config: 5, s1ctxptr: table }, false);
  for (const r of recs) r.got.length = 0;
  lines.length = 0;
  m.driver.submit([
    cmdTlbiNsnhAll(), cmdTlbiNhAll(5), cmdTlbiNhAsid(9), cmdCfgiSte(0x40), cmdCfgiCd(0x40), cmdAtcInv(0x40),
    cmdTlbiVa({ asid: 7, addr: 0x5000 }), cmdSync(),
  ]);
  // NSNH_ALL, NH_ALL, NH_ASID of an unknown ASID: both backends; the STE install, CFGI_CD, ATC_INV
  // and the TLBI of the learned ASID 7: the device's backend only
  expect(lines).toHaveLength(10);
  for (let b = 0; b < 2; b++) {
    const mine = lines.filter((l) => l.includes(`backend=${b} `)).map((l) => {
      const f = Object.fromEntries(l.split(' ').slice(1).map((kv) => kv.split('=')));
      return f.kind === 'ste' ? `ste ${BigInt(f.psid).toString(16)} ${BigInt(f.w0).toString(16)} ${BigInt(f.w1).toString(16)}` : `inv ${BigInt(f.w0).toString(16)} ${BigInt(f.w1).toString(16)}`;
    });
    expect(mine).toEqual(recs[b].got);
  }
  // the pSID field: the bound pSID for the install, CFGI_CD and ATC_INV; 0 for the TLBIs
  const psids = lines.map((l) => /psid=(\S+)/.exec(l)![1]);
  expect(psids).toEqual(['0x0', '0x0', '0x0', '0x0', '0x0', '0x0', '0x1234', '0x1234', '0x1234', '0x0']);
});

test('a refused entry of each broadcast command, at each position of its window: CERROR_ILL at that command', async () => {
  const kinds = [cmdTlbiNsnhAll, () => cmdTlbiNhAll(3), () => cmdTlbiNhAsid(11)];
  for (const [k, make] of kinds.entries()) {
    for (let at = 0; at < 3; at++) {
      const rec = new Recorder('p0');
      let seen = 0;
      rec.invalidate = (entries: Uint8Array): BatchResult => {
        const n = entries.length / 16;
        const ok = Math.max(0, Math.min(n, at - seen));
        seen += n;
        return ok < n ? { done: ok, error: 'refused' } : { done: n };
      };
      const m = await machine({ viommu: { backends: [{ name: 'p0', vmid: 2, backend: rec }] } });
      const before = Number(m.smmu.mmioRead(R.R_CMDQ_CONS, 4));
      let err: unknown;
      try {
        m.driver.submit([make(), make(), make(), cmdSync()]);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CommandError);
      expect([k, at, (err as CommandError).code, (err as CommandError).index - before]).toEqual([k, at, R.CERROR_ILL, at]);
    }
  }
});

test('CFGI_STE_RANGE refused at its second device: the first device\'s install, already in the window, is taken back (nothing sent), CERROR_ILL at the command', async () => {
  const rec = new Recorder('p0');
  const m = await machine({ viommu: { backends: [{ name: 'p0', vmid: 2, backend: rec }] } });
  m.smmu.bindDevice({ sid: 0x40, backend: 'p0', psid: 0x100 });
  m.smmu.bindDevice({ sid: 0x41, backend: 'p0', psid: 0x101 });
  const table = m.driver.alloc(64, 64);
  m.smmu.writeMemory(table, wordsToBytes(cd({ asid: 7, ttb0: RAM_BASE, t0sz: 16, tg0: 0 })));
  m.driver.setSte(0x40, { config: 5, s1ctxptr: table }, false);
  m.driver.setSte(0x41, { config: 6 }, false); // stage 2: not an STE iommufd installs for a nested stage 1
  rec.got.length = 0;
  const before = Number(m.smmu.mmioRead(R.R_CMDQ_CONS, 4));
  let err: unknown;
  try {
    m.driver.submit([cmdTlbiNhAll(1), cmdCfgiSteRange(0x40, 1), cmdSync()]);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CommandError);
  expect([(err as CommandError).code, (err as CommandError).index - before]).toEqual([R.CERROR_ILL, 1]);
  expect(rec.got.map((g) => g.split(' ')[0])).toEqual(['inv']); // the TLBI before it; no STE install
});
