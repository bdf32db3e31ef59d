// Hostile hosts (issue 13): memory and irq callbacks that misbehave, throw or re-enter,
// backends that break their interface or hang, guest addresses across 2^31 and 2^32 in
// callback mode, lengths that do not fit 32 bits, bad arguments, hostile trace files and
// a demo server asked for what is outside its folders. Each class: nothing lost, nothing
// hangs, the guest gets the architected reaction, the host a clear error.

import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { createSmmu, HostError, type Smmu } from '../src/index.js';
import { GuestDriver, CommandError } from '../src/guest/driver.js';
import { cmdSync, cmdTlbiNhAsid, cmdRaw, wordsToBytes } from '../src/guest/encode.js';
import { replayText } from '../src/replay.js';
import { startServer } from '../src/serve.js';
import { runCampaign } from '../src/fuzz/campaign.js';
import * as R from '../src/arch/registers.js';
import * as E from '../src/arch/events.js';
import type { BatchResult, PsmmuBackend } from '../src/backends/types.js';
import type { GuestMemoryCallbacks, IrqLine, SmmuOptions } from '../src/types.js';

const RUNS = Number(process.env.VSMMU_PROPERTY_RUNS ?? 60);
const CMDQ_ERR = 1; // GERROR.CMDQ_ERR (bit 0)

/** Emulator-owned memory [base, base + size) behind callbacks; every address the model asks for is kept. */
function hostMemory(base: number, size: number) {
  const bytes = new Uint8Array(size);
  const seen: number[] = [];
  const inside = (a: number, n: number) => a >= base && a + n <= base + size;
  const hooks: { read?: (a: number, dst: Uint8Array) => unknown; write?: (a: number, src: Uint8Array) => unknown } = {};
  const memory: GuestMemoryCallbacks = {
    read: (a, dst) => {
      seen.push(a);
      if (hooks.read) {
        const r = hooks.read(a, dst);
        if (r !== undefined) return r as boolean;
      }
      if (!inside(a, dst.length)) return false;
      dst.set(bytes.subarray(a - base, a - base + dst.length));
      return true;
    },
    write: (a, src) => {
      seen.push(a);
      if (hooks.write) {
        const r = hooks.write(a, src);
        if (r !== undefined) return r as boolean;
      }
      if (!inside(a, src.length)) return false;
      bytes.set(src, a - base);
      return true;
    },
  };
  return { bytes, seen, memory, hooks };
}

interface Rig {
  smmu: Smmu;
  driver: GuestDriver;
  irqs: Record<IrqLine, number>;
  errors: HostError[];
  mem: ReturnType<typeof hostMemory>;
}

/** A vSMMU whose guest memory (queues, tables, data) is all behind callbacks at `base`. */
async function rig(base: number, opts: Partial<SmmuOptions> = {}, hook = true): Promise<Rig> {
  const mem = hostMemory(base, 0x200000);
  const irqs: Record<IrqLine, number> = { eventq: 0, priq: 0, 'cmd-sync': 0, gerror: 0 };
  const errors: HostError[] = [];
  const smmu = await createSmmu({
    memory: mem.memory,
    devices: [0x18],
    irq: (l, n) => { irqs[l] += n; },
    ...(hook ? { onHostError: (e: HostError) => { errors.push(e); } } : {}),
    ...opts,
  });
  const driver = new GuestDriver(smmu, { heap: { base, size: 0x100000 }, cmdqLog2: 6 });
  driver.init();
  return { smmu, driver, irqs, errors, mem };
}

const regs = (s: Smmu) => ({
  cons: Number(s.mmioRead(R.R_CMDQ_CONS, 4)),
  prod: Number(s.mmioRead(R.R_CMDQ_PROD, 4)),
  gerror: Number(s.mmioRead(R.R_GERROR, 4)),
  gerrorn: Number(s.mmioRead(R.R_GERRORN, 4)),
});
const consErr = (cons: number) => (cons >>> 24) & 0x7f;

// ---- 1. one address type: across 2^31 and 2^32 in callback mode ---------------------------

test('callback mode: queues, STEs, CDs, walks and DMA across 2^31 and 2^32 reach the callbacks at their 64-bit addresses', async () => {
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(2 ** 31, 2 ** 32, 2 ** 33 + 2 ** 31),
    fc.integer({ min: 1, max: 15 }),
    fc.integer({ min: 0, max: 255 }),
    async (boundary, k, page) => {
      const base = boundary - k * 0x10000; // the region [base, base + 2 MiB) crosses the boundary
      const r = await rig(base);
      const d = r.driver.createDomain({ asid: 3 });
      const pa = base + 0x100000 + page * 0x1000; // data frames on both sides of the boundary
      r.driver.map(d, 0x200000, pa, 0x1000);
      r.driver.attach(0x18, d);
      const pattern = Uint8Array.from({ length: 64 }, (_, i) => (i * 7 + page) & 0xff);
      r.smmu.writeMemory(pa + 0x40, pattern);
      const t = r.smmu.translate(0x18, 0x200040, 'read');
      expect(t).toMatchObject({ status: 'success', addr: pa + 0x40 });
      const got = new Uint8Array(64);
      expect(r.smmu.dma(0x18, 0x200040, 'read', got)).toBe(0);
      expect(got).toEqual(pattern);
      expect(r.smmu.dma(0x18, 0x200100, 'write', pattern)).toBe(0);
      expect(r.mem.bytes.subarray(pa - base + 0x100, pa - base + 0x140)).toEqual(pattern);
      // every address the model asked for lies inside the emulator's region: none negative, none 4 GiB off
      expect(r.mem.seen.filter((a) => a < base || a >= base + 0x200000)).toEqual([]);
      expect(r.errors).toEqual([]);
    },
  ), { numRuns: 12 });
});

test('RAM of 2 GiB and more inside the model plus callbacks: commands fetched through callbacks work', async () => {
  // the second region (and the callback staging area) lie past 2^31 in the model's memory
  const r = await rig(0x40000000, { ram: [{ base: 2 ** 32, size: 2 ** 31 + 0x10000 }, { base: 2 ** 40, size: 0x10000 }] });
  r.driver.submit([cmdSync(1), cmdSync(1)]);
  expect(r.irqs['cmd-sync']).toBe(2);
  expect(r.smmu.ram(0).length).toBe(2 ** 31 + 0x10000);
  r.smmu.ram(1).set([9, 8, 7], 16);
  expect(Array.from(r.smmu.readMemory(2 ** 40 + 16, 3))).toEqual([9, 8, 7]);
  r.smmu.writeMemory(2 ** 32 + 2 ** 31, Uint8Array.of(1, 2, 3));
  expect(Array.from(r.smmu.readMemory(2 ** 32 + 2 ** 31, 3))).toEqual([1, 2, 3]);
  expect(r.errors).toEqual([]);
});

// ---- 2. lengths: a 2^32-byte DMA returns ----------------------------------------------------

test('dma() with a buffer of exactly 2^32 bytes returns, having moved every byte', async () => {
  let moved = 0;
  const smmu = await createSmmu({ memory: { read: (_a, d) => { moved += d.length; return true; }, write: (_a, s) => { moved += s.length; return true; } }, devices: [0x18] });
  const big = new Uint8Array(2 ** 32); // SMMUEN = 0: bypass, no translation faults
  expect(smmu.dma(0x18, 0, 'write', big)).toBe(0);
  expect(moved).toBe(2 ** 32);
});

// ---- 3. backend results -------------------------------------------------------------------

/** A hostile result: anything, malformed `done`s, throwing getters, thenables, rejections. */
const arbResult: fc.Arbitrary<{ label: string; make: () => unknown }> = fc.oneof(
  fc.anything().map((v) => ({ label: `anything ${typeof v}`, make: () => v })),
  fc.record({
    done: fc.oneof(fc.double(), fc.integer({ min: -3, max: 3 }), fc.string(), fc.constant(Number.NaN), fc.bigInt({ min: -2n, max: 2n }), fc.constant(undefined)),
    error: fc.option(fc.string(), { nil: undefined }),
  }).map((v) => ({ label: `done ${String(v.done)}`, make: () => ({ ...v }) })),
  fc.constant({ label: 'getter throws', make: () => ({ get done(): number { throw new Error('done getter exploded'); } }) }),
  fc.constant({ label: 'thenable', make: () => ({ done: 1, then: (ok: (v: unknown) => void) => ok({ done: 1 }) }) }),
  fc.constant({ label: 'rejects', make: () => Promise.reject(new Error('ioctl failed: EIO')) }),
  fc.integer({ min: -1, max: 2 }).map((done) => ({ label: `promise done ${done}`, make: () => Promise.resolve({ done, error: 'async refusal' }) })),
  fc.constant({ label: 'throws', make: () => { throw new Error('backend threw EBUSY'); } }),
);

class ScriptedBackend implements PsmmuBackend {
  next: () => unknown = () => ({ done: 0 });
  readonly name = 'p0';
  invalidate(entries: Uint8Array): BatchResult | Promise<BatchResult> {
    void entries;
    return this.next() as BatchResult;
  }
  installSte(): BatchResult {
    return { done: 1 };
  }
}

/** What the interface says a result means for a call of one entry: true = applied. */
function applied(v: unknown): boolean {
  try {
    if (v === null || typeof v !== 'object' || typeof (v as { then?: unknown }).then === 'function') return false;
    const done = (v as { done?: unknown }).done;
    return typeof done === 'number' && Number.isSafeInteger(done) && done === 1;
  } catch {
    return false; // a getter that throws
  }
}

async function backendRig(extra: Partial<SmmuOptions> = {}) {
  const be = new ScriptedBackend();
  const r = await rig(0x40000000, {
    viommu: { backends: [{ name: 'p0', vmid: 9, backend: be }], devices: [{ sid: 0x20, backend: 'p0', psid: 0x1020 }] },
    ...extra,
  });
  return { ...r, be };
}

test('backend results: only a safe integer done in [0, count] counts; every other answer fails the first entry, is reported with its text, and the queue recovers', async () => {
  await fc.assert(fc.asyncProperty(arbResult, async ({ make }) => {
    const r = await backendRig();
    let value: unknown;
    r.be.next = () => (value = make());
    const idx = r.driver.cons & 63;
    let sync = true;
    try {
      r.driver.submit([cmdTlbiNhAsid(5), cmdSync()]); // one entry for p0 (ASID 5 is not known: broadcast)
    } catch (err) {
      expect(err).toBeInstanceOf(CommandError);
    }
    if (r.smmu.busy) {
      sync = false;
      await r.smmu.whenIdle();
    }
    const settled = value instanceof Promise ? await value.then((v) => v, () => undefined) : value;
    const ok = sync ? applied(value) : applied(settled);
    const g = regs(r.smmu);
    if (ok) {
      expect((g.gerror ^ g.gerrorn) & CMDQ_ERR).toBe(0);
      expect(g.cons & 127).toBe((idx + 2) & 127);
      expect(r.errors).toEqual([]);
    } else {
      expect((g.gerror ^ g.gerrorn) & CMDQ_ERR).toBe(CMDQ_ERR);
      expect(consErr(g.cons)).toBe(R.CERROR_ILL);
      expect(g.cons & 63).toBe(idx); // at the TLBI that produced the entry
      expect(r.errors.map((e) => [e.source, e.backend])).toEqual([['backend', 'p0']]);
      // the queue recovers as a driver recovers it
      r.driver.skipFailed();
      r.driver.ackErrors();
      r.driver.submit([cmdSync()]);
    }
    expect(r.smmu.busy).toBe(false);
  }), { numRuns: RUNS * 2 });
});

test('the backend\'s error text reaches onHostError', async () => {
  const r = await backendRig();
  for (const [res, text] of [[{ done: 0, error: 'EIO on the pSMMU' }, 'EIO on the pSMMU'], [{ get done(): number { throw new Error('getter boom'); } }, 'getter boom']] as const) {
    r.be.next = () => res;
    r.errors.length = 0;
    expect(() => r.driver.submit([cmdTlbiNhAsid(5), cmdSync()])).toThrow(CommandError);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0].message).toContain(text);
    expect(r.errors[0].message).toContain('"p0"');
    r.driver.skipFailed();
    r.driver.ackErrors();
  }
});

test('a backend that never answers: the deadline fails its command with CERROR_ILL', async () => {
  const r = await backendRig({ backendTimeoutMs: 1 });
  r.be.next = () => new Promise(() => undefined);
  const idx = r.driver.cons & 63;
  r.driver.submit([cmdTlbiNhAsid(5), cmdSync()]);
  expect(r.smmu.busy).toBe(true);
  await r.smmu.whenIdle();
  const g = regs(r.smmu);
  expect(consErr(g.cons)).toBe(R.CERROR_ILL);
  expect(g.cons & 63).toBe(idx);
  expect(r.errors[0].message).toMatch(/deadline/);
});

test('a backend that never answers: cancelBackend() and reset() recover the queue', async () => {
  const r = await backendRig();
  r.be.next = () => new Promise(() => undefined);
  const idx = r.driver.cons & 63;
  r.driver.submit([cmdTlbiNhAsid(5), cmdSync()]);
  expect(r.smmu.cancelBackend('test')).toBe(true);
  await r.smmu.whenIdle();
  expect(consErr(regs(r.smmu).cons)).toBe(R.CERROR_ILL);
  expect(regs(r.smmu).cons & 63).toBe(idx);
  expect(r.smmu.cancelBackend()).toBe(false);
  // a hung call again; this time the VMM resets the device
  r.driver.skipFailed();
  r.driver.ackErrors();
  r.driver.submit([cmdTlbiNhAsid(5), cmdSync()]);
  expect(r.smmu.busy).toBe(true);
  r.smmu.reset();
  expect(r.smmu.busy).toBe(false);
  r.be.next = () => ({ done: 1 });
  r.driver.init();
  r.driver.submit([cmdTlbiNhAsid(5), cmdSync(1)]);
  expect(regs(r.smmu).gerror).toBe(regs(r.smmu).gerrorn);
  await r.smmu.whenIdle();
});

// ---- 4. memory read callbacks: only true is success; nothing stale runs ----------------------

const arbNotTrue = fc.oneof(
  fc.constantFrom<unknown>(1, 'true', {}, [], Promise.resolve(true), () => true, Number.NaN, 0, null, undefined, false),
  fc.anything().filter((v) => v !== true && v !== undefined),
);

test('a queue read callback answering anything but true is CERROR_ABT at that command', async () => {
  await fc.assert(fc.asyncProperty(arbNotTrue, async (v) => {
    const r = await rig(0x40000000);
    const q = r.driver.cmdqBase;
    const idx = r.driver.cons & 63;
    r.mem.hooks.read = (a) => (a >= q && a < q + 64 * 16 ? (v === undefined ? false : v) : undefined);
    expect(() => r.driver.submit([cmdSync(1)])).toThrow(CommandError);
    r.mem.hooks.read = undefined;
    expect(consErr(regs(r.smmu).cons)).toBe(R.CERROR_ABT);
    expect(regs(r.smmu).cons & 63).toBe(idx);
    expect(r.irqs['cmd-sync']).toBe(0);
    if (v !== false && v !== undefined) expect(r.errors.map((e) => e.source)).toContain('memory');
  }), { numRuns: RUNS });
});

test('a read callback that says true without filling never lets staged commands run again', async () => {
  const r = await rig(0x40000000);
  r.driver.submit([cmdSync(1), cmdSync(1), cmdSync(1)]); // staged and run: three cmd-sync pulses
  expect(r.irqs['cmd-sync']).toBe(3);
  r.driver.submit([cmdSync(0)]); // moves the staging window on
  const q = r.driver.cmdqBase;
  r.mem.hooks.read = (a) => (a >= q && a < q + 64 * 16 ? true : undefined); // "filled" (it is not)
  expect(() => r.driver.submit([cmdSync(1), cmdSync(1), cmdSync(1)])).toThrow(CommandError);
  expect(r.irqs['cmd-sync']).toBe(3); // nothing ran twice: the unfilled bytes read as zeros (opcode 0)
  expect(consErr(regs(r.smmu).cons)).toBe(R.CERROR_ILL);
});

test('STE, CD and page-table reads answering anything but true give F_STE_FETCH, F_CD_FETCH and F_WALK_EABT', async () => {
  const r = await rig(0x40000000);
  const d = r.driver.createDomain({ asid: 4 });
  r.driver.map(d, 0x300000, 0x40180000, 0x1000);
  r.driver.attach(0x18, d);
  const targets: Array<[string, number, number]> = [
    ['ste', r.driver.steAddr(0x18), E.EVT_F_STE_FETCH],
    ['cd', d.cdAddr, E.EVT_F_CD_FETCH],
    ['pte', d.root, E.EVT_F_WALK_EABT],
  ];
  await fc.assert(fc.asyncProperty(fc.constantFrom(...targets), arbNotTrue, async ([, addr, event], v) => {
    r.driver.submit([cmdRaw(0x04, 0n, 31n), cmdSync()]); // CFGI_ALL (range 31): forget cached configurations
    r.driver.submit([cmdTlbiNhAsid(4), cmdSync()]);
    r.mem.hooks.read = (a, dst) => (a < addr + 64 && a + dst.length > addr ? (v === undefined ? false : v) : undefined);
    const t = r.smmu.translate(0x18, 0x300010, 'read');
    r.mem.hooks.read = undefined;
    expect(t.status).toBe('fault');
    expect(t.event).toBe(event);
    expect(r.smmu.translate(0x18, 0x300010, 'read').status).toBe('success'); // nothing of the failed read was kept
  }), { numRuns: RUNS });
});

// ---- 5. callbacks that throw or re-enter ------------------------------------------------------

test('an irq callback that throws loses no other line; without a hook the call throws after the model is consistent', async () => {
  const seen: IrqLine[] = [];
  const r = await rig(0x40000000, { irq: (l) => { seen.push(l); if (l === 'cmd-sync') throw new Error('GIC on fire'); } }, false);
  const idx = r.driver.cons & 63;
  const q = r.driver.cmdqBase;
  r.smmu.writeMemory(q + idx * 16, wordsToBytes(cmdSync(1)));
  r.smmu.writeMemory(q + ((idx + 1) & 63) * 16, wordsToBytes(cmdRaw(0xff)));
  let thrown: unknown;
  try {
    r.smmu.mmioWrite(R.R_CMDQ_PROD, 4, (idx + 2) & 127);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(HostError);
  expect((thrown as HostError).source).toBe('irq');
  expect((thrown as HostError).message).toContain('GIC on fire');
  expect(seen).toEqual(['cmd-sync', 'gerror']); // both lines of the call delivered
  const g = regs(r.smmu);
  expect(g.cons & 63).toBe((idx + 1) & 63);
  expect(consErr(g.cons)).toBe(R.CERROR_ILL);
});

test('an irq callback that throws after an asynchronous backend is never an unhandled rejection: whenIdle() rejects with it', () => {
  // in a process of its own: Node ends a process on an unhandled rejection
  const dir = mkdtempSync(join(tmpdir(), 'vsmmu-unhandled-'));
  const index = join(process.cwd(), 'dist/src/index.js');
  writeFileSync(join(dir, 'run.mjs'), `
    import { createSmmu, GuestDriver, encode } from ${JSON.stringify(index)};
    const backend = { name: 'p0', invalidate: () => Promise.resolve({ done: 1 }), installSte: () => ({ done: 1 }) };
    const smmu = await createSmmu({
      ram: [{ base: 0x40000000, size: 0x1000000 }],
      irq: (line) => { if (line === 'cmd-sync') throw new Error('late irq failure'); },
      viommu: { backends: [{ name: 'p0', vmid: 9, backend }], devices: [{ sid: 0x20, backend: 'p0', psid: 0x1020 }] },
    });
    const driver = new GuestDriver(smmu, { heap: { base: 0x40100000, size: 0x800000 } });
    driver.init();
    driver.submit([encode.cmdTlbiNhAsid(5), encode.cmdSync(1)]);
    if (!smmu.busy) throw new Error('expected an outstanding backend call');
    while (smmu.busy) await new Promise((r) => setImmediate(r)); // nobody awaits whenIdle() meanwhile
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    const err = await smmu.whenIdle().then(() => null, (e) => e);
    await smmu.whenIdle(); // reported once
    driver.submit([encode.cmdSync()]); // the model goes on
    console.log(err && err.name + ' ' + err.source + ': ' + err.message);
  `);
  const p = spawnSync(process.execPath, [join(dir, 'run.mjs')], { encoding: 'utf8' });
  expect(p.stderr).toBe('');
  expect(p.status).toBe(0);
  expect(p.stdout.trim()).toBe('HostError irq: vsmmu: irq callback threw for line cmd-sync: late irq failure');
});

type Reentry = 'prod' | 'dma' | 'reset' | 'translate' | 'readMemory' | 'mmioRead' | 'setTrace';

test('re-entry from a memory callback is refused with a clear error; commands run once; the model goes on', async () => {
  await fc.assert(fc.asyncProperty(fc.constantFrom<Reentry>('prod', 'dma', 'reset', 'translate', 'readMemory', 'mmioRead', 'setTrace'), fc.constantFrom('queue', 'dma'), async (what, where) => {
  const r = await rig(0x40000000);
  const act: Record<Reentry, () => unknown> = {
    prod: () => r.smmu.mmioWrite(R.R_CMDQ_PROD, 4, Number(r.smmu.mmioRead(R.R_CMDQ_PROD, 4))),
    dma: () => r.smmu.dma(0x18, 0x1000, 'read', new Uint8Array(16)),
    reset: () => r.smmu.reset(),
    translate: () => r.smmu.translate(0x18, 0x1000),
    readMemory: () => r.smmu.readMemory(0x40000000, 4),
    mmioRead: () => r.smmu.mmioRead(R.R_CR0, 4),
    setTrace: () => r.smmu.setTrace(undefined),
  };
    r.driver.setSte(0x18, { config: 4 }); // bypass: DMA at IOVA = PA
    r.errors.length = 0;
    r.irqs['cmd-sync'] = 0;
    const caught: unknown[] = [];
    const q = r.driver.cmdqBase;
    let armed = true;
    r.mem.hooks.read = (a) => {
      const hit = where === 'queue' ? a >= q && a < q + 64 * 16 : a >= 0x40180000 && a < 0x40190000;
      if (hit && armed) {
        armed = false;
        try { act[what](); } catch (err) { caught.push(err); }
      }
      return undefined;
    };
    const c0 = r.smmu.stats().commands;
    let out = new Uint8Array(32);
    if (where === 'queue') r.driver.submit([cmdSync(1), cmdSync(1), cmdSync(1)]);
    else {
      r.smmu.writeMemory(0x40180000, Uint8Array.from({ length: 32 }, (_, i) => i + 1));
      out = new Uint8Array(32);
      expect(r.smmu.dma(0x18, 0x40180000, 'read', out)).toBe(0);
    }
    r.mem.hooks.read = undefined;
    expect(caught).toHaveLength(1);
    expect(caught[0]).toBeInstanceOf(HostError);
    expect((caught[0] as HostError).source).toBe('reentry');
    expect((caught[0] as HostError).message).toMatch(/re-entry is refused/);
    expect(r.errors.map((e) => e.source)).toEqual(['reentry']);
    if (where === 'queue') {
      expect(r.smmu.stats().commands - c0).toBe(3); // each command ran once
      expect(r.irqs['cmd-sync']).toBe(3);
    } else {
      expect(Array.from(out)).toEqual(Array.from({ length: 32 }, (_, i) => i + 1));
    }
    r.driver.submit([cmdSync()]);
  }), { numRuns: RUNS });
});

// ---- 6. arguments ---------------------------------------------------------------------------

test('bad arguments are TypeError/RangeError naming the argument', async () => {
  const s = await createSmmu({ ram: [{ base: 0x40000000, size: 0x10000 }], devices: [0x18] });
  expect(() => s.setTrace(5 as never)).toThrow(TypeError);
  expect(() => s.setTrace(5 as never)).toThrow(/sink/);
  s.translate(0x18, 0); // still usable
  expect(() => s.translate64(0x18, 0n, 'execute' as never)).toThrow(/access/);
  expect(() => s.dma64(0x18, 0n, 'read', new Uint16Array(4) as never)).toThrow(TypeError);
  expect(() => s.dma64(0x18, 0n, 'read', new Uint16Array(4) as never)).toThrow(/bytes/);
  await expect(createSmmu({ ram: [{ base: 'abc' as never, size: 0x1000 }] })).rejects.toThrow(/ram\[0\]\.base/);
  await expect(createSmmu({ ram: [{ base: 'abc' as never, size: 0x1000 }] })).rejects.toBeInstanceOf(TypeError);
  await expect(createSmmu({ ram: [{ base: 0, size: 0xc0000001 }] })).rejects.toThrow(/ram\[0\]\.size/);
  await expect(createSmmu({ ram: [{ base: 0, size: 0x80000000 }, { base: 0x100000000, size: 0x40001000 }] })).rejects.toThrow(/3 GiB/);
  await expect(createSmmu({ onHostError: 3 as never })).rejects.toThrow(/onHostError/);
  await expect(createSmmu({ backendTimeoutMs: -1 })).rejects.toThrow(/backendTimeoutMs/);
});

// ---- 7. trace files -------------------------------------------------------------------------

const GOOD = readFileSync(join(process.cwd(), 'test/traces/qemu-7.2/regs-reset.jsonl'), 'utf8').trim().split('\n');
const HOSTILE_LINES = [
  'null', '42', '[]', '"op"', '{}', '{"op":null}', 'not json', '{"op":"mem_read","addr":"0x40000000","size":1e9,"expect":"0x0"}',
  '{"op":"mem_digest","addr":"0x40000000","len":1073741825,"expect":"' + '0'.repeat(64) + '"}', '{"op":"mem_digest","addr":"0x40000000","len":64,"expect":7}',
  '{"op":"dma","sid":"0x18","src":"0x0","dst":"0x0","len":4294967296}', '{"op":"mmio_write","offset":"0x20000","size":4,"value":"0x0"}',
  '{"op":"mem_write","addr":"0x40000000","size":3,"value":"0x1"}', '{"op":"mem_fill","addr":"0x0","hex":"abc"}',
  '{"op":"mmio_read","offset":"0x0","size":4}', '{"op":"mmio_write","offset":"0x0","size":4,"value":"0x100000000"}',
  '{"op":"mem_read","addr":"0x1fffffffffffff","size":8,"expect":"0x0"}',
];

test('hostile trace lines: the first one is a one-line error naming its line; nothing throws or runs long', async () => {
  await fc.assert(fc.asyncProperty(
    fc.integer({ min: 1, max: GOOD.length - 1 }),
    fc.oneof(fc.constantFrom(...HOSTILE_LINES), fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)).map((v) => JSON.stringify(v))),
    fc.array(fc.constantFrom(...HOSTILE_LINES, ...GOOD.slice(1)), { maxLength: 5 }),
    async (keep, bad, rest) => {
      const text = [...GOOD.slice(0, keep), bad, ...rest].join('\n');
      const r = await replayText(text, 'hostile.jsonl');
      expect(r.error?.line).toBe(keep + 1);
      expect(r.error?.message).not.toMatch(/\n/);
    },
  ), { numRuns: RUNS * 2 });
});

test('hostile headers are one-line errors at line 1', async () => {
  for (const h of ['null', '42', '[]', '{}', '{"format":"vsmmu-trace","version":2}', '{"format":"vsmmu-trace","version":1,"ram":7}', '{"format":"vsmmu-trace","version":1,"ram":[{"base":"abc","size":"0x1000"}]}']) {
    const r = await replayText(h + '\n' + GOOD.slice(1).join('\n'), 'h.jsonl');
    expect(r.error?.line).toBe(1);
    expect(r.error?.message).toMatch(/^header: /);
  }
});

test('vsmmu replay: unusable files are one line each naming file and line, the others still run, exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsmmu-replay-'));
  writeFileSync(join(dir, 'a.jsonl'), GOOD[0] + '\nnull\n42\n');
  writeFileSync(join(dir, 'b.jsonl'), 'null\n');
  writeFileSync(join(dir, 'c.jsonl'), GOOD.join('\n') + '\n');
  writeFileSync(join(dir, 'd.jsonl'), GOOD[0] + '\n{"op":"mem_read","addr":"0x40000000","size":1e9,"expect":"0x0"}\n');
  const p = spawnSync(process.execPath, ['dist/src/cli.js', 'replay', dir, join(dir, 'missing.jsonl')], { encoding: 'utf8' });
  expect(p.status).toBe(2);
  const lines = p.stderr.trim().split('\n');
  expect(lines).toHaveLength(4);
  expect(lines.every((l) => /: error: /.test(l) && !/^\s+at /.test(l))).toBe(true);
  expect(p.stderr).toContain('a.jsonl:2: error:');
  expect(p.stderr).toContain('b.jsonl:1: error: header');
  expect(p.stderr).toContain('d.jsonl:2: error: mem_read: size');
  expect(p.stderr).toContain('missing.jsonl: error: cannot read');
  expect(p.stdout).toMatch(/1 passed, 4 failed \(4 unusable\)/);
  // mismatches alone: exit 1
  writeFileSync(join(dir, 'c.jsonl'), GOOD.join('\n').replace('"expect": "0xd40101a"', '"expect": "0xd40101b"') + '\n');
  expect(spawnSync(process.execPath, ['dist/src/cli.js', 'replay', join(dir, 'c.jsonl')], { encoding: 'utf8' }).status).toBe(1);
});

// ---- 8. vsmmu serve -------------------------------------------------------------------------

function get(port: number, path: string): Promise<{ status: number; length: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, length: Number(res.headers['content-length']), body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('serve: symbolic links out of the served folders are refused; files are streamed whole', async () => {
  const root = mkdtempSync(join(tmpdir(), 'vsmmu-serve-'));
  const outside = mkdtempSync(join(tmpdir(), 'vsmmu-secret-'));
  writeFileSync(join(outside, 'secret.txt'), 'secret');
  mkdirSync(join(root, 'web'));
  mkdirSync(join(root, 'docs'));
  const big = Buffer.alloc(3 << 20, 7);
  writeFileSync(join(root, 'web', 'big.wasm'), big);
  writeFileSync(join(root, 'docs', 'fine.txt'), 'fine');
  symlinkSync(join(outside, 'secret.txt'), join(root, 'web', 'leak.txt'));
  symlinkSync(outside, join(root, 'web', 'dir'));
  symlinkSync(join(root, 'docs', 'fine.txt'), join(root, 'web', 'inside.txt'));
  const s = await startServer({ port: 0, root });
  try {
    expect((await get(s.port, '/web/leak.txt')).status).toBe(404);
    expect((await get(s.port, '/web/dir/secret.txt')).status).toBe(404);
    const inside = await get(s.port, '/web/inside.txt'); // a link that stays inside the served folders... of another folder
    expect(inside.status).toBe(404);
    const b = await get(s.port, '/web/big.wasm');
    expect(b.status).toBe(200);
    expect(b.length).toBe(big.length);
    expect(b.body.equals(big)).toBe(true);
    const many = await Promise.all(Array.from({ length: 50 }, () => get(s.port, '/web/big.wasm')));
    expect(many.every((m) => m.status === 200 && m.body.length === big.length)).toBe(true);
  } finally {
    await s.close();
  }
});

// ---- the campaign as a function ------------------------------------------------------------

test('a short fuzz campaign in each mode is clean and counts what it did', async () => {
  for (const mode of ['ram', 'callbacks', 'viommu'] as const) {
    const rep = await runCampaign({ seed: 7, commands: 20000, mode });
    expect(rep.failures).toEqual([]);
    expect(rep.commands).toBeGreaterThanOrEqual(20000);
    expect(rep.translations).toBeGreaterThan(0);
    expect(rep.growth_bytes).toBe(0);
  }
});

test('examples/hostile-host.mjs prints what the README says', () => {
  const p = spawnSync(process.execPath, ['examples/hostile-host.mjs'], { encoding: 'utf8' });
  expect(p.status).toBe(0);
  expect(p.stdout.split('\n')).toEqual([
    'host error (backend): vsmmu: backend "p0": no answer within 20 ms (deadline)',
    'CONS.ERR 1 (CERROR_ILL) at index 2',
    'host error (reentry): vsmmu: reset() called from inside a memory read callback: re-entry is refused (call it after the callback returns)',
    'host error (memory): vsmmu: memory read callback threw at 0x100000800 (+64): vsmmu: reset() called from inside a memory read callback: re-entry is refused (call it after the callback returns)',
    'fault: event 0x3 (F_STE_FETCH)',
    '',
  ]);
});

test('vsmmu fuzz --json prints exactly one object with the documented keys; bad arguments exit 2', () => {
  const p = spawnSync(process.execPath, ['dist/src/cli.js', 'fuzz', '--seed', '3', '--commands', '20000', '--mode', 'callbacks', '--json'], { encoding: 'utf8' });
  expect(p.status).toBe(0);
  const lines = p.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  const o = JSON.parse(lines[0]);
  expect(Object.keys(o)).toEqual(['seed', 'mode', 'commands', 'translations', 'exceptions', 'traps', 'hangs', 'mismatches', 'growth_bytes', 'failures']);
  expect(o).toMatchObject({ seed: 3, mode: 'callbacks', exceptions: 0, traps: 0, hangs: 0, mismatches: 0, growth_bytes: 0, failures: [] });
  expect(o.commands).toBeGreaterThanOrEqual(20000);
  expect(p.stderr).toMatch(/fuzz callbacks: done/);
  for (const bad of [['--mode', 'nope'], ['--seed', '-1'], ['--commands'], ['--frobnicate']]) {
    const q = spawnSync(process.execPath, ['dist/src/cli.js', 'fuzz', ...bad], { encoding: 'utf8' });
    expect(q.status).toBe(2);
    expect(q.stderr.split('\n')[0]).toMatch(/^vsmmu fuzz: /);
    expect(q.stderr).not.toMatch(/\n\s+at /);
  }
});
