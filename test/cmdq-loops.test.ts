// The command queue's behaviour through each of the engine's consumption loops: the fast
// one (queue in RAM, no trace), the general one traced (queue in RAM), and the general one
// with the queue read through the host's memory callbacks (staged in bulk, per entry where
// a bulk read fails). Every loop must give what QEMU's smmuv3_cmdq_consume gives: CONS
// stops on the illegal or unreadable entry (with CERROR_ILL / CERROR_ABT in CONS.ERR),
// nothing runs while GERROR.CMDQ_ERR is pending, a full queue is consumed whole. With
// passthrough backends, a failed forwarded entry puts CONS back on its own command, and a
// run longer than one forwarding window reaches the backends whole and in order.

import { createSmmu, type Smmu } from '../src/index.js';
import * as R from '../src/arch/registers.js';
import * as C from '../src/arch/commands.js';
import * as A from '../src/arch/abi.js';
import { cmdSync, cmdRaw, cmdTlbiNhAll, cmdCfgiSteRange, cmdCfgiCd, ste, wordsToBytes, bytesToWords, type Words } from '../src/guest/encode.js';
import { engineDebug } from '../src/engine-debug.js';
import type { BatchResult, PsmmuBackend } from '../src/backends/types.js';
import type { IrqLine, SmmuOptions } from '../src/types.js';

const RAM = 0x40000000;
const RAM_SIZE = 0x200000;
const Q = RAM + 0x10000;

type Mode = 'fast' | 'traced' | 'staged';
const MODES: Mode[] = ['fast', 'traced', 'staged'];

interface Dev {
  s: Smmu;
  irqs: Record<IrqLine, number>;
  /** Host reads of guest memory (staged mode), as [address, length]. */
  reads: Array<[number, number]>;
  /** Staged mode: reads that overlap this address range fail. */
  unreadable: { from: number; to: number } | null;
  /** Traced mode: the trace lines. */
  trace: string[];
}

async function dev(mode: Mode, extra: Partial<SmmuOptions> = {}): Promise<Dev> {
  const irqs: Record<IrqLine, number> = { eventq: 0, priq: 0, 'cmd-sync': 0, gerror: 0 };
  const d: Dev = { s: undefined as unknown as Smmu, irqs, reads: [], unreadable: null, trace: [] };
  const mem = new Uint8Array(RAM_SIZE);
  const inRam = (a: number, n: number): boolean => a >= RAM && a + n <= RAM + RAM_SIZE;
  const where: Partial<SmmuOptions> = mode === 'staged' ? {
    memory: {
      read: (a, buf) => {
        d.reads.push([a, buf.length]);
        if (!inRam(a, buf.length)) return false;
        if (d.unreadable && a < d.unreadable.to && a + buf.length > d.unreadable.from) return false;
        buf.set(mem.subarray(a - RAM, a - RAM + buf.length));
        return true;
      },
      write: (a, buf) => {
        if (!inRam(a, buf.length)) return false;
        mem.set(buf, a - RAM);
        return true;
      },
    },
  } : { ram: [{ base: RAM, size: RAM_SIZE }] };
  d.s = await createSmmu({ devices: [0x18], irq: (l, n) => { irqs[l] += n; }, ...where, ...extra });
  if (mode === 'traced') d.s.setTrace((l) => d.trace.push(l));
  return d;
}

function setupQueue(s: Smmu, log2: number, start = 0): void {
  s.mmioWrite(R.R_CMDQ_BASE, 8, BigInt(Q) | BigInt(log2));
  s.mmioWrite(R.R_CMDQ_PROD, 4, start);
  s.mmioWrite(R.R_CMDQ_CONS, 4, start);
  s.mmioWrite(R.R_IRQ_CTRL, 4, 1); // GERROR_IRQEN
  s.mmioWrite(R.R_CR0, 4, 8);
}

const put = (s: Smmu, log2: number, index: number, c: Words): void => s.writeMemory(Q + (index & ((1 << log2) - 1)) * 16, wordsToBytes(c));
const cons = (s: Smmu): number => Number(s.mmioRead(R.R_CMDQ_CONS, 4));
const gerror = (s: Smmu): number => Number(s.mmioRead(R.R_GERROR, 4));
/** CONS with the error code `err` (IHI 0070 6.3.27: CMDQ_CONS.ERR in bits 30:24). */
const consErr = (index: number, err: number): number => index | (err << 24);

describe.each(MODES)('%s loop', (mode) => {
  test('the error lands on the illegal entry, from any CONS and across the wrap; commands before it take effect', async () => {
    for (const log2 of [2, 3]) {
      const size = 1 << log2;
      const wrap = 2 * size - 1;
      for (let start = 0; start < 2 * size; start += 3) {
        for (let bad = 0; bad < size; bad++) {
          const { s, irqs } = await dev(mode);
          setupQueue(s, log2, start);
          const n = Math.min(size, bad + 2);
          for (let i = 0; i < n; i++) put(s, log2, start + i, i === bad ? cmdRaw(0x00) : cmdSync(1));
          s.mmioWrite(R.R_CMDQ_PROD, 4, (start + n) & wrap);
          expect([log2, start, bad, cons(s)]).toEqual([log2, start, bad, consErr((start + bad) & wrap, R.CERROR_ILL)]);
          expect([start, bad, irqs['cmd-sync'], irqs.gerror, gerror(s)]).toEqual([start, bad, bad, 1, 1]);
          expect(s.stats().commands).toBe(bad);
        }
      }
    }
  });

  test('a full queue (PROD = CONS, wrap bit flipped) is consumed whole, from any CONS', async () => {
    for (let start = 0; start < 16; start += 3) {
      const { s, irqs } = await dev(mode);
      setupQueue(s, 3, start);
      // a first run of SYNCs without interrupt, so that nothing stale can pass for the entries below
      for (let i = 0; i < 5; i++) put(s, 3, start + i, cmdSync(0));
      s.mmioWrite(R.R_CMDQ_PROD, 4, (start + 5) & 15);
      expect(cons(s)).toBe((start + 5) & 15);
      const c0 = (start + 5) & 15;
      for (let i = 0; i < 8; i++) put(s, 3, c0 + i, cmdSync(1));
      s.mmioWrite(R.R_CMDQ_PROD, 4, c0 ^ 8);
      expect([start, cons(s), irqs['cmd-sync']]).toEqual([start, c0 ^ 8, 8]);
      expect(s.stats().commands).toBe(13);
    }
  });

  test('nothing is consumed while CMDQ_ERR is pending; GERRORN resumes at the failed entry; CONS.ERR stays', async () => {
    const { s, irqs } = await dev(mode);
    setupQueue(s, 3, 6);
    put(s, 3, 6, cmdSync(1));
    put(s, 3, 7, cmdRaw(0x77));
    put(s, 3, 8, cmdSync(1));
    s.mmioWrite(R.R_CMDQ_PROD, 4, 9);
    expect(cons(s)).toBe(consErr(7, R.CERROR_ILL));
    put(s, 3, 7, cmdSync(1)); // fixed, but not acknowledged yet
    put(s, 3, 9, cmdSync(1));
    s.mmioWrite(R.R_CMDQ_PROD, 4, 10);
    s.mmioWrite(R.R_CR0, 4, 0);
    s.mmioWrite(R.R_CR0, 4, 8); // enabling again does not consume either
    expect([cons(s) & 0xf, irqs['cmd-sync'], s.stats().commands]).toEqual([7, 1, 1]);
    s.mmioWrite(R.R_GERRORN, 4, 1);
    expect(cons(s)).toBe(consErr(10, R.CERROR_ILL));
    expect([irqs['cmd-sync'], s.stats().commands, irqs.gerror]).toEqual([4, 4, 1]);
    // a second error toggles GERROR.CMDQ_ERR back (pending = GERROR ^ GERRORN)
    put(s, 3, 10, cmdRaw(0xff));
    s.mmioWrite(R.R_CMDQ_PROD, 4, 11);
    expect([cons(s), gerror(s), irqs.gerror]).toEqual([consErr(10, R.CERROR_ILL), 0, 2]);
  });

  test('CMDQEN = 0: PROD writes do not consume; enabling it consumes what is pending', async () => {
    const { s, irqs } = await dev(mode);
    setupQueue(s, 2, 3);
    s.mmioWrite(R.R_CR0, 4, 0);
    for (let i = 0; i < 3; i++) put(s, 2, 3 + i, cmdSync(1));
    s.mmioWrite(R.R_CMDQ_PROD, 4, 6);
    expect([cons(s), irqs['cmd-sync']]).toEqual([3, 0]);
    s.mmioWrite(R.R_CR0, 4, 8);
    expect([cons(s), irqs['cmd-sync']]).toEqual([6, 3]);
  });
});

describe('queue read through the host memory callbacks', () => {
  test('one bulk read per contiguous run: up to PROD, or to the end of the ring and then from its start', async () => {
    const d = await dev('staged');
    setupQueue(d.s, 3, 0);
    for (let i = 0; i < 8; i++) put(d.s, 3, i, cmdSync(1));
    const runs: Array<[number, number, Array<[number, number]>]> = [
      [0, 3, [[Q, 48]]],
      [3, 8, [[Q + 48, 80]]],
      [8, 8 | 6, [[Q, 96]]],
      [8 | 6, 2, [[Q + 96, 32], [Q, 32]]], // across the wrap
      [2, 2 ^ 8, [[Q + 32, 96], [Q, 32]]], // full: to the end, then from the start up to CONS
    ];
    for (const [from, to, want] of runs) {
      d.reads.length = 0;
      expect(cons(d.s)).toBe(from);
      d.s.mmioWrite(R.R_CMDQ_PROD, 4, to);
      expect([from, cons(d.s), d.reads]).toEqual([from, to, want]);
    }
  });

  test('an unreadable entry: the entries before it run (bulk read failing, then one entry at a time), CERROR_ABT at it', async () => {
    for (let start = 0; start < 16; start += 5) {
      for (let bad = 0; bad < 6; bad++) {
        const d = await dev('staged');
        setupQueue(d.s, 3, start);
        // entries with distinct effects: a SYNC with interrupt, or without, by position
        for (let i = 0; i < 8; i++) put(d.s, 3, start + i, cmdSync(i % 2 === 0 ? 1 : 0));
        const at = Q + ((start + bad) & 7) * 16;
        d.unreadable = { from: at, to: at + 16 };
        d.s.mmioWrite(R.R_CMDQ_PROD, 4, (start + 6) & 15);
        const irqsBefore = [0, 1, 2, 3, 4, 5].slice(0, bad).filter((i) => i % 2 === 0).length;
        expect([start, bad, cons(d.s), d.irqs['cmd-sync'], d.s.stats().syncs]).toEqual([start, bad, consErr((start + bad) & 15, R.CERROR_ABT), irqsBefore, bad]);
        expect(gerror(d.s)).toBe(1);
        // readable again and acknowledged: consumption resumes at that entry
        d.unreadable = null;
        d.s.mmioWrite(R.R_GERRORN, 4, 1);
        expect([start, bad, cons(d.s), d.irqs['cmd-sync'], d.s.stats().syncs]).toEqual([start, bad, consErr((start + 6) & 15, R.CERROR_ABT), 3, 6]);
      }
    }
  });

  test('a queue whose bulk read fails everywhere but one entry: that entry runs, then CERROR_ABT', async () => {
    const d = await dev('staged');
    setupQueue(d.s, 2, 1);
    put(d.s, 2, 1, cmdSync(1));
    put(d.s, 2, 2, cmdSync(1));
    d.unreadable = { from: Q + 32, to: Q + 48 }; // entry 2
    d.s.mmioWrite(R.R_CMDQ_PROD, 4, 3);
    expect([cons(d.s), d.irqs['cmd-sync']]).toEqual([consErr(2, R.CERROR_ABT), 1]);
    // the failed bulk read, then entry 1 alone, then entry 2 alone: nothing outside [1, 3) was read
    expect(d.reads.every(([a, n]) => a >= Q + 16 && a + n <= Q + 48)).toBe(true);
    expect(d.reads).toContainEqual([Q + 16, 16]);
    expect(d.reads).toContainEqual([Q + 32, 16]);
  });
});

/** A backend that records each entry's opcode and VMID word and fails the `failAt`-th entry it is given (0-based, counted over its life). */
class Failing implements PsmmuBackend {
  got: string[] = [];
  seen = 0;
  /** Entries per call: one call per forwarding window. */
  batches: number[] = [];
  constructor(readonly name: string, public failAt = -1) {}
  invalidate(entries: Uint8Array): BatchResult {
    this.batches.push(entries.length / 16);
    for (let i = 0; i < entries.length; i += 16) {
      if (this.seen === this.failAt) {
        this.seen++;
        return { done: i / 16, error: 'refused' };
      }
      this.seen++;
      const [w0] = bytesToWords(entries.subarray(i, i + 16));
      this.got.push(w0.toString(16));
    }
    return { done: entries.length / 16 };
  }
  installSte(): BatchResult { return { done: 1 }; }
}

describe.each(MODES)('%s loop with passthrough backends', (mode) => {
  test('a failed forwarded entry puts CONS back on its own command (CERROR_ILL), across the wrap; acknowledging resumes there', async () => {
    for (const start of [0, 5, 13]) {
      for (const failAt of [0, 3, 6]) {
        const b = new Failing('p0', failAt);
        const d = await dev(mode, { viommu: { backends: [{ name: 'p0', vmid: 9, backend: b }] } });
        setupQueue(d.s, 3, start);
        // TLBI_NH_ALL goes to every backend: one entry per command, command k is entry k
        for (let i = 0; i < 8; i++) put(d.s, 3, start + i, cmdTlbiNhAll(i));
        d.s.mmioWrite(R.R_CMDQ_PROD, 4, (start + 8) & 15);
        expect([start, failAt, cons(d.s)]).toEqual([start, failAt, consErr((start + failAt) & 15, R.CERROR_ILL)]);
        expect(b.got).toHaveLength(failAt);
        d.s.mmioWrite(R.R_GERRORN, 4, 1);
        expect([start, failAt, cons(d.s) & 0xffffff]).toEqual([start, failAt, (start + 8) & 15]);
        // every command reached the backend once, in order (the failed one when resent), with the vSMMU's VMID
        expect(b.got.map((w) => BigInt('0x' + w) >> 32n & 0xffffn)).toEqual(new Array(8).fill(9n));
      }
    }
  });

  test('a failed entry behind a CMD_SYNC fence: CONS goes back to its command after the SYNC', async () => {
    const b = new Failing('p0', 2);
    const d = await dev(mode, { viommu: { backends: [{ name: 'p0', vmid: 3, backend: b }] } });
    setupQueue(d.s, 3, 14);
    const cmds = [cmdTlbiNhAll(), cmdTlbiNhAll(), cmdSync(1), cmdTlbiNhAll(), cmdSync(1), cmdTlbiNhAll()];
    cmds.forEach((c, i) => put(d.s, 3, 14 + i, c));
    d.s.mmioWrite(R.R_CMDQ_PROD, 4, (14 + cmds.length) & 15);
    expect(cons(d.s)).toBe(consErr((14 + 3) & 15, R.CERROR_ILL));
    expect([b.got.length, d.irqs['cmd-sync']]).toEqual([2, 1]);
  });

  test('one backend call per forwarding window: a window ends at a CMD_SYNC (after forwarded commands) and at the end of the run, not at the end of the ring', async () => {
    const b = new Failing('p0');
    const d = await dev(mode, { viommu: { backends: [{ name: 'p0', vmid: 1, backend: b }] } });
    setupQueue(d.s, 3, 2);
    // indices 2..9: NH_ALL, SYNC, then six NH_ALL across the end of the ring (index 8 is entry 0)
    const cmds = [cmdTlbiNhAll(), cmdSync(1), ...new Array(6).fill(0).map(() => cmdTlbiNhAll())];
    cmds.forEach((c, i) => put(d.s, 3, 2 + i, c));
    d.s.mmioWrite(R.R_CMDQ_PROD, 4, 2 + 8);
    expect([cons(d.s), d.irqs['cmd-sync'], b.batches]).toEqual([10, 1, [1, 6]]);
    // a run of one forwarded command: sent at its end as well
    put(d.s, 3, 10, cmdTlbiNhAll());
    d.s.mmioWrite(R.R_CMDQ_PROD, 4, 11);
    expect([cons(d.s), b.batches]).toEqual([11, [1, 6, 1]]);
  });

  test('a window filled to its room over two backends: every entry reaches its backend intact', async () => {
    const b0 = new Failing('p0');
    const b1 = new Failing('p1');
    const d = await dev(mode, { viommu: { backends: [{ name: 'p0', vmid: 1, backend: b0 }, { name: 'p1', vmid: 2, backend: b1 }], devices: [{ sid: 0x20, backend: 'p0', psid: 0x1020 }] } });
    setupQueue(d.s, 13, 0);
    // n1 TLBI_NH_ALL (an entry for each backend, the ASID field a sequence number), then CFGI_CDs
    // of the passthrough device on p0 (its pSID in each) up to the last entry the window takes
    const n1 = 100;
    const n0 = A.FW_CAPACITY - A.MAX_VDEVS - A.MAX_BACKENDS - 1 - 2 * n1;
    const buf = new Uint8Array((n1 + n0) * 16);
    for (let i = 0; i < n1; i++) buf.set(wordsToBytes([BigInt(C.CMD_TLBI_NH_ALL) | (BigInt(i) << 48n), 0n]), i * 16);
    for (let i = 0; i < n0; i++) buf.set(wordsToBytes(cmdCfgiCd(0x20, i)), (n1 + i) * 16);
    d.s.writeMemory(Q, buf);
    d.s.mmioWrite(R.R_CMDQ_PROD, 4, n1 + n0);
    expect([cons(d.s), b0.batches, b1.batches]).toEqual([n1 + n0, [n1 + n0], [n1]]);
    const field = (w: string, shift: bigint): bigint => (BigInt('0x' + w) >> shift) & 0xffffn;
    expect(b1.got.map((w) => [field(w, 32n), field(w, 48n)])).toEqual(Array.from({ length: n1 }, (_, i) => [2n, BigInt(i)]));
    expect(b0.got.slice(0, n1).map((w) => [field(w, 32n), field(w, 48n)])).toEqual(Array.from({ length: n1 }, (_, i) => [1n, BigInt(i)]));
    expect(b0.got.slice(n1).every((w) => field(w, 32n) === 0x1020n && (field(w, 0n) & 0xffn) === BigInt(C.CMD_CFGI_CD))).toBe(true);
  });

  test('more commands than one forwarding window: every one reaches the backend once, in order, and CONS reaches PROD', async () => {
    const b = new Failing('p0');
    const d = await dev(mode, { viommu: { backends: [{ name: 'p0', vmid: 1, backend: b }] } });
    const log2 = 14;
    const n = 10000; // beyond FW_CAPACITY less the room kept for one command (8192 - 1057)
    setupQueue(d.s, log2, 0x3000);
    const buf = new Uint8Array(n * 16);
    for (let i = 0; i < n; i++) {
      // ASID field as a sequence number (TLBI_NH_ALL ignores it; the entry keeps it)
      buf.set(wordsToBytes([BigInt(C.CMD_TLBI_NH_ALL) | (BigInt(i & 0xffff) << 48n), 0n]), i * 16);
    }
    const size = 1 << log2;
    const first = 0x3000;
    const head = (size - first) * 16;
    d.s.writeMemory(Q + first * 16, buf.subarray(0, head));
    d.s.writeMemory(Q, buf.subarray(head));
    d.s.mmioWrite(R.R_CMDQ_PROD, 4, ((first + n) & (2 * size - 1)));
    expect(cons(d.s)).toBe((first + n) & (2 * size - 1));
    expect(b.got).toHaveLength(n);
    expect(b.got.every((w, i) => BigInt('0x' + w) >> 48n === BigInt(i & 0xffff))).toBe(true);
    expect(d.s.stats().commands).toBe(n);
    // the log is sent when it could not take one more command's worst case (an entry per
    // device and per backend): after FW_CAPACITY - MAX_VDEVS - MAX_BACKENDS entries, then the rest
    const full = A.FW_CAPACITY - A.MAX_VDEVS - A.MAX_BACKENDS;
    expect(b.batches).toEqual([full, n - full]);
  });
});

describe.each(MODES)('%s loop: a command error behind forwarded commands', (mode) => {
  test('the entries of the commands before it reach the backend first; then CERROR_ILL at it; nothing after it is forwarded', async () => {
    for (const bad of [0, 1, 3]) {
      const b = new Failing('p0');
      const d = await dev(mode, { viommu: { backends: [{ name: 'p0', vmid: 2, backend: b }] } });
      setupQueue(d.s, 3, 6);
      for (let i = 0; i < 6; i++) put(d.s, 3, 6 + i, i === bad ? cmdRaw(0x00) : cmdTlbiNhAll());
      d.s.mmioWrite(R.R_CMDQ_PROD, 4, 12);
      expect([bad, cons(d.s), b.got.length, gerror(d.s), d.irqs.gerror]).toEqual([bad, consErr(6 + bad, R.CERROR_ILL), bad, 1, 1]);
      expect(d.s.stats().commands).toBe(bad);
      // QEMU traces each command's opcode once as it is consumed (the failing one too), not again when the window ends
      if (mode === 'traced') expect(d.trace.filter((l) => l.startsWith('smmuv3_cmdq_opcode')).length).toBe(bad + 1);
    }
  });
});

describe('CFGI_STE_RANGE (IHI 0070 4.3.3): the 2^(Range + 1) StreamIDs aligned around SID lose their cached configuration', () => {
  const DEVICES = [0x00, 0x0f, 0x10, 0x11, 0x17, 0x18, 0x1f, 0x20, 0xff, 0x100, 0x101, 0x1ff];
  const STRTAB = RAM + 0x100000;
  test.each(MODES)('%s loop: every RANGE from 0 to 31, SIDs at and beside the range\'s edges', async (mode) => {
    const { s } = await dev(mode, { devices: DEVICES });
    // a linear stream table of 512 bypass STEs, so that each device's configuration can be cached
    s.mmioWrite(R.R_STRTAB_BASE, 8, BigInt(STRTAB));
    s.mmioWrite(R.R_STRTAB_BASE_CFG, 4, 9);
    for (const d of DEVICES) s.writeMemory(STRTAB + d * 64, wordsToBytes(ste({ config: 4 })));
    setupQueue(s, 3, 0);
    let prod = 0;
    for (const sid of [0x18, 0x11, 0x1f, 0x100]) {
      for (let range = 0; range < 32; range++) {
        const dbg = engineDebug(s);
        for (const d of DEVICES) expect(dbg.loadConfig(d)).toBe(true);
        put(s, 3, prod, cmdCfgiSteRange(sid, range));
        prod = (prod + 1) & 15;
        s.mmioWrite(R.R_CMDQ_PROD, 4, prod);
        const span = 2 ** (range + 1);
        const first = Math.floor(sid / span) * span;
        const want = DEVICES.filter((d) => d < first || d >= first + span);
        expect([sid, range, DEVICES.filter((d) => dbg.configCached(d))]).toEqual([sid, range, want]);
      }
    }
  });
});

/** A backend whose batches complete when the test says so (each a Promise). */
class Later implements PsmmuBackend {
  got: string[] = [];
  waiting: Array<() => void> = [];
  constructor(readonly name: string) {}
  invalidate(entries: Uint8Array): Promise<BatchResult> {
    const copy = entries.slice();
    return new Promise((done) => this.waiting.push(() => {
      for (let i = 0; i < copy.length; i += 16) this.got.push(bytesToWords(copy.subarray(i, i + 16))[0].toString(16));
      done({ done: copy.length / 16 });
    }));
  }
  installSte(): BatchResult { return { done: 1 }; }
  release(): void {
    const w = this.waiting;
    this.waiting = [];
    for (const f of w) f();
  }
}

describe.each(MODES)('%s loop with a backend that answers later', (mode) => {
  test('CONS is held at the first forwarded command, PROD writes meanwhile consume nothing, and the rest follows in order once it answers', async () => {
    const b = new Later('p0');
    const d = await dev(mode, { viommu: { backends: [{ name: 'p0', vmid: 4, backend: b }] } });
    setupQueue(d.s, 3, 13);
    // ASID field as a sequence number (ignored by TLBI_NH_ALL, kept in the entry)
    const nh = (k: number): Words => { const w = cmdTlbiNhAll(); w[0] |= BigInt(k) << 48n; return w; };
    const cmds = [nh(1), nh(2), cmdSync(1), nh(3), nh(4)];
    cmds.forEach((c, i) => put(d.s, 3, 13 + i, c));
    d.s.mmioWrite(R.R_CMDQ_PROD, 4, (13 + 5) & 15);
    expect([cons(d.s), d.irqs['cmd-sync'], b.waiting.length]).toEqual([13, 0, 1]); // the SYNC waits for the window before it
    // more commands while the backend has not answered: nothing is consumed
    put(d.s, 3, 13 + 5, nh(5));
    put(d.s, 3, 13 + 6, cmdSync(1));
    d.s.mmioWrite(R.R_CMDQ_PROD, 4, (13 + 7) & 15);
    expect([cons(d.s), d.irqs['cmd-sync'], b.waiting.length, b.got]).toEqual([13, 0, 1, []]);
    // answer each batch as it comes (a turn of the event loop lets the model go on after each answer)
    for (let turn = 0; turn < 20 && (b.waiting.length > 0 || d.s.busy); turn++) {
      b.release();
      await new Promise((r) => setImmediate(r));
    }
    await d.s.whenIdle();
    expect([cons(d.s), d.irqs['cmd-sync'], d.s.stats().commands]).toEqual([(13 + 7) & 15, 2, 7]);
    expect(b.got.map((w) => Number(BigInt('0x' + w) >> 48n))).toEqual([1, 2, 3, 4, 5]);
  });
});
