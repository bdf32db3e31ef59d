// The command queue through the public API: every opcode, wrap, full queue, command
// errors and their recovery, CMD_SYNC interrupts, the enable and acknowledge side
// effects, and callback-based guest memory read in bulk.

import { createSmmu, type Smmu } from '../src/index.js';
import * as R from '../src/arch/registers.js';
import * as C from '../src/arch/commands.js';
import { cmdSync, cmdRaw, cmdCfgiSte, cmdCfgiCd, wordsToBytes, type Words } from '../src/guest/encode.js';
import type { IrqLine } from '../src/types.js';

const RAM = 0x40000000;
const Q = RAM + 0x10000;

async function dev(extra = {}): Promise<{ s: Smmu; irqs: Record<IrqLine, number> }> {
  const irqs: Record<IrqLine, number> = { eventq: 0, priq: 0, 'cmd-sync': 0, gerror: 0 };
  const s = await createSmmu({ ram: [{ base: RAM, size: 0x200000 }], devices: [0x18], irq: (l, n) => { irqs[l] += n; }, ...extra });
  return { s, irqs };
}

function setupQueue(s: Smmu, log2: number, enable = true): void {
  s.mmioWrite(R.R_CMDQ_BASE, 8, BigInt(Q) | BigInt(log2));
  s.mmioWrite(R.R_CMDQ_PROD, 4, 0);
  s.mmioWrite(R.R_CMDQ_CONS, 4, 0);
  s.mmioWrite(R.R_IRQ_CTRL, 4, 1); // GERROR_IRQEN
  if (enable) s.mmioWrite(R.R_CR0, 4, 8);
}

function put(s: Smmu, log2: number, index: number, c: Words): void {
  s.writeMemory(Q + (index & ((1 << log2) - 1)) * 16, wordsToBytes(c));
}

const cons = (s: Smmu) => Number(s.mmioRead(R.R_CMDQ_CONS, 4));
const gerror = (s: Smmu) => Number(s.mmioRead(R.R_GERROR, 4));

// QEMU 7.2's decode: which opcodes it executes (others are CERROR_ILL)
const ACCEPTED = new Set([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10, 0x11, 0x12, 0x13, 0x18, 0x1a, 0x20, 0x21, 0x22, 0x23, 0x28, 0x2a, 0x30, 0x40, 0x41, 0x44, 0x45, 0x46]);

test('every opcode 0x00-0xff: accepted ones advance CONS, the rest stop with CERROR_ILL and GERROR.CMDQ_ERR', async () => {
  for (let op = 0; op < 256; op++) {
    const { s, irqs } = await dev();
    setupQueue(s, 2);
    put(s, 2, 0, cmdRaw(op));
    put(s, 2, 1, cmdSync(1));
    s.mmioWrite(R.R_CMDQ_PROD, 4, 2);
    if (ACCEPTED.has(op)) {
      expect([op, cons(s)]).toEqual([op, 2]);
      expect(gerror(s)).toBe(0);
      expect(irqs['cmd-sync']).toBe(1); // only the CS=SIG_IRQ sync after it (a raw 0x46 has CS=0)
    } else {
      expect([op, cons(s)]).toEqual([op, (R.CERROR_ILL << 24) | 0]);
      expect(gerror(s)).toBe(1);
      expect(irqs.gerror).toBe(1);
      expect(irqs['cmd-sync']).toBe(0);
    }
  }
});

test('CFGI commands with SSEC set are illegal; other fields of accepted commands are not checked (QEMU 7.2)', async () => {
  for (const op of [C.CMD_CFGI_STE, C.CMD_CFGI_STE_RANGE, C.CMD_CFGI_CD, C.CMD_CFGI_CD_ALL]) {
    const { s } = await dev();
    setupQueue(s, 2);
    put(s, 2, 0, cmdRaw(op, 1n << 10n));
    s.mmioWrite(R.R_CMDQ_PROD, 4, 1);
    expect([op, cons(s) >>> 24]).toEqual([op, R.CERROR_ILL]);
  }
  const { s } = await dev();
  setupQueue(s, 2);
  put(s, 2, 0, cmdRaw(C.CMD_TLBI_NH_ALL, 0xffffffffffffff00n, 0xffffffffffffffffn));
  s.mmioWrite(R.R_CMDQ_PROD, 4, 1);
  expect(cons(s)).toBe(1);
});

test('CMD_SYNC: CS=SIG_IRQ (and CS=3) pulse the sync interrupt, SIG_NONE and SIG_SEV do not', async () => {
  const { s, irqs } = await dev();
  setupQueue(s, 3);
  [0, 1, 2, 3].forEach((cs, i) => put(s, 3, i, cmdSync(cs)));
  s.mmioWrite(R.R_CMDQ_PROD, 4, 4);
  expect(irqs['cmd-sync']).toBe(2);
  expect(s.stats().syncs).toBe(4);
});

test('queue wrap: many batches around a 4-entry queue, CONS follows PROD with the wrap bit', async () => {
  const { s, irqs } = await dev();
  setupQueue(s, 2);
  let prod = 0;
  for (let batch = 0; batch < 10; batch++) {
    const n = 1 + (batch % 4);
    for (let i = 0; i < n; i++) put(s, 2, prod + i, cmdSync(1));
    prod = (prod + n) & 7;
    s.mmioWrite(R.R_CMDQ_PROD, 4, prod);
    expect(cons(s)).toBe(prod);
  }
  expect(irqs['cmd-sync']).toBe(1 + 2 + 3 + 4 + 1 + 2 + 3 + 4 + 1 + 2);
});

test('each entry is read at its own index: from any CONS, across the wrap, the error lands on the illegal entry', async () => {
  for (const start of [0, 1, 5, 6, 7]) {
    for (const bad of [1, 2, 3]) {
      const { s, irqs } = await dev();
      setupQueue(s, 3);
      s.mmioWrite(R.R_CMDQ_CONS, 4, start);
      s.mmioWrite(R.R_CMDQ_PROD, 4, start);
      // start: SYNC (CS=IRQ) ... then an illegal opcode at start + bad, then more SYNCs
      for (let i = 0; i < 5; i++) put(s, 3, start + i, i === bad ? cmdRaw(0x00) : cmdSync(i === bad ? 0 : 1));
      s.mmioWrite(R.R_CMDQ_PROD, 4, (start + 5) & 15);
      expect([start, bad, cons(s)]).toEqual([start, bad, ((start + bad) & 15) | (R.CERROR_ILL << 24)]);
      expect(irqs['cmd-sync']).toBe(bad);
    }
  }
});

test('a full queue (PROD = CONS with the wrap bit flipped) is consumed entirely', async () => {
  const { s } = await dev();
  setupQueue(s, 3);
  s.mmioWrite(R.R_CMDQ_CONS, 4, 5);
  for (let i = 0; i < 8; i++) put(s, 3, 5 + i, cmdSync());
  s.mmioWrite(R.R_CMDQ_PROD, 4, 5 | 8);
  expect(cons(s)).toBe(5 | 8);
  expect(s.stats().syncs).toBe(8);
});

test('LOG2SIZE beyond 19 is used as 19', async () => {
  const { s } = await dev({ ram: [{ base: RAM, size: 0x1000000 }] });
  s.mmioWrite(R.R_CMDQ_BASE, 8, BigInt(Q) | 31n);
  s.mmioWrite(R.R_CR0, 4, 8);
  s.mmioWrite(R.R_CMDQ_PROD, 4, 1 << 19); // queue of 2^19 entries of zeros... opcode 0 is illegal
  expect(cons(s) >>> 24).toBe(R.CERROR_ILL);
  expect(cons(s) & 0xfffff).toBe(0);
});

test('error recovery: CONS stays on the bad command, consumption resumes at it after GERRORN, CONS.ERR is never cleared', async () => {
  const { s, irqs } = await dev();
  setupQueue(s, 3);
  put(s, 3, 0, cmdSync());
  put(s, 3, 1, cmdRaw(0x77));
  put(s, 3, 2, cmdSync(1));
  s.mmioWrite(R.R_CMDQ_PROD, 4, 3);
  expect(cons(s)).toBe((R.CERROR_ILL << 24) | 1);
  expect(gerror(s)).toBe(1);
  // more PROD writes do nothing while the error is pending
  s.mmioWrite(R.R_CMDQ_PROD, 4, 3);
  expect(cons(s) & 0xff).toBe(1);
  // the guest fixes the command and acknowledges
  put(s, 3, 1, cmdSync());
  s.mmioWrite(R.R_GERRORN, 4, 1);
  expect(cons(s)).toBe((R.CERROR_ILL << 24) | 3);
  expect(irqs['cmd-sync']).toBe(1);
  // a second error toggles GERROR back to 0 (pending = GERROR ^ GERRORN)
  put(s, 3, 3, cmdRaw(0xff));
  s.mmioWrite(R.R_CMDQ_PROD, 4, 4);
  expect(gerror(s)).toBe(0);
  expect(Number(s.mmioRead(R.R_GERRORN, 4))).toBe(1);
  expect(irqs.gerror).toBe(2);
});

test('CERROR_ABT when the queue cannot be read (queue outside RAM)', async () => {
  const { s } = await dev();
  s.mmioWrite(R.R_CMDQ_BASE, 8, 0x80000000n | 2n);
  s.mmioWrite(R.R_CR0, 4, 8);
  s.mmioWrite(R.R_CMDQ_PROD, 4, 1);
  expect(cons(s)).toBe(R.CERROR_ABT << 24);
  expect(gerror(s)).toBe(1);
});

test('a partly unreadable queue executes what it can read, then CERROR_ABT at the first unreadable entry', async () => {
  const end = RAM + 0x200000;
  const { s, irqs } = await dev();
  s.mmioWrite(R.R_CMDQ_BASE, 8, BigInt(end - 64) | 3n); // entries 0-3 in RAM, 4-7 beyond it
  for (let i = 0; i < 4; i++) s.writeMemory(end - 64 + i * 16, wordsToBytes(cmdSync(1)));
  s.mmioWrite(R.R_CR0, 4, 8);
  s.mmioWrite(R.R_CMDQ_PROD, 4, 6);
  expect(cons(s)).toBe((R.CERROR_ABT << 24) | 4);
  expect(irqs['cmd-sync']).toBe(4);
});

test('CMDQEN=0: PROD writes do not consume; enabling CR0.CMDQEN consumes what is pending', async () => {
  const { s } = await dev();
  setupQueue(s, 2, false);
  put(s, 2, 0, cmdSync());
  s.mmioWrite(R.R_CMDQ_PROD, 4, 1);
  expect(cons(s)).toBe(0);
  s.mmioWrite(R.R_CR0, 4, 8);
  expect(cons(s)).toBe(1);
});

test('an SMMU that was never given a queue size uses one entry (QEMU leaves log2size 0 until CMDQ_BASE is written)', async () => {
  const { s } = await dev();
  s.mmioWrite(R.R_CR0, 4, 8);
  s.mmioWrite(R.R_CMDQ_PROD, 4, 1); // base 0: unreadable
  expect(cons(s)).toBe(R.CERROR_ABT << 24);
});

test('CFGI_STE / CFGI_CD drop the configuration of the named device (and of sid & 0xffff)', async () => {
  const { s } = await dev();
  s.mmioWrite(R.R_STRTAB_BASE, 8, BigInt(RAM));
  s.mmioWrite(R.R_STRTAB_BASE_CFG, 4, 8);
  s.writeMemory(RAM + 0x18 * 64, wordsToBytes([0x9n])); // bypass
  setupQueue(s, 3);
  s.mmioWrite(R.R_CR0, 4, 9);
  expect(s.translate(0x18, 0x1234).status).toBe('bypass');
  s.writeMemory(RAM + 0x18 * 64, wordsToBytes([0x1n])); // abort
  expect(s.translate(0x18, 0x1234).status).toBe('bypass'); // stale, as in QEMU
  put(s, 3, 0, cmdCfgiSte(0x10018));
  s.mmioWrite(R.R_CMDQ_PROD, 4, 1);
  expect(s.translate(0x18, 0x1234).status).toBe('abort');
  s.writeMemory(RAM + 0x18 * 64, wordsToBytes([0x9n]));
  put(s, 3, 1, cmdCfgiCd(0x18));
  s.mmioWrite(R.R_CMDQ_PROD, 4, 2);
  expect(s.translate(0x18, 0x1234).status).toBe('bypass');
});

test('callback memory: the queue is read with one bulk copy per batch, two at a wrap', async () => {
  const mem = new Uint8Array(0x100000);
  const reads: Array<[number, number]> = [];
  const s = await createSmmu({
    memory: {
      read: (a, d) => { reads.push([a, d.length]); d.set(mem.subarray(a - RAM, a - RAM + d.length)); return true; },
      write: (a, d) => { mem.set(d, a - RAM); return true; },
    },
  });
  s.mmioWrite(R.R_CMDQ_BASE, 8, BigInt(Q) | 4n); // 16 entries
  s.mmioWrite(R.R_CR0, 4, 8);
  for (let i = 0; i < 16; i++) mem.set(wordsToBytes(cmdSync()), Q - RAM + i * 16);
  s.mmioWrite(R.R_CMDQ_PROD, 4, 12);
  expect(reads).toEqual([[Q, 12 * 16]]);
  reads.length = 0;
  s.mmioWrite(R.R_CMDQ_PROD, 4, 16 | 6); // wraps: entries 12-15 then 0-5
  expect(reads).toEqual([[Q + 12 * 16, 4 * 16], [Q, 6 * 16]]);
  expect(cons(s)).toBe(16 | 6);
});
