// Recording: runs a scenario's operations on real QEMU and fills in every
// observation's `expect` with what QEMU returned.

import { QemuMachine, RAM_RESERVED, SMMU_SIZE } from '../qtest/machine.js';
import { applyOp, type Op, type OpTarget } from '../ops.js';
import { QEMU72, machineOptions, targetBinary, type QemuTarget } from '../qtest/target.js';
import { migrateMachine, qmpSocketPath, removeQmpSocket } from '../qtest/migration.js';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';

export interface RecordOptions {
  /** Which QEMU and SMMU stages (default QEMU 7.2). */
  target?: QemuTarget;
  binary?: string;
  /** QEMU's smmu* trace events go to this file. */
  traceFile?: string;
  /** Called with QEMU's pid once it runs (for watchdogs). */
  onStart?: (pid: number) => void;
}

export interface Recording {
  ops: Op[];
  origin: string;
  /** Milliseconds spent in QEMU (start to close). */
  ms: number;
  qtestRequests: number;
}

const versionLines = new Map<string, string>();

/** "recorded from <QEMU version> -machine ... [-global ...] ..." for trace headers. */
export function recordingOrigin(binary?: string, target: QemuTarget = QEMU72): string {
  const bin = binary ?? targetBinary(target);
  let v = versionLines.get(bin);
  if (v === undefined) {
    v = QemuMachine.version(bin) ?? 'qemu-system-aarch64 (unknown version)';
    versionLines.set(bin, v);
  }
  const { machine, globals } = machineOptions(target);
  return `recorded from ${v} -machine ${machine}${globals.length ? ' ' + globals.join(' ') : ''} via qtest (vsmmu conformance); edu devices as DMA engines`;
}

/** Refuses operations the qtest machine cannot perform faithfully. */
export function checkOp(o: Op): void {
  switch (o.op) {
    case 'mmio_read':
    case 'mmio_write':
      if (o.offset < 0 || o.offset + o.size > SMMU_SIZE) throw new RangeError(`register offset 0x${o.offset.toString(16)} outside the SMMU`);
      return;
    case 'dma':
      if (o.len < 1 || o.len > 4095) throw new RangeError(`dma len ${o.len}: the edu device moves 1..4095 bytes`);
      return;
    default:
      return;
  }
}

/** Where a scenario's memory operation overlaps what QEMU wrote at boot (its RAM is not all zero). */
export function touchesReserved(addr: number, len: number): boolean {
  return RAM_RESERVED.some((r) => addr < r.base + r.size && r.base < addr + len);
}

/** QEMU as an operation target: qtest loads/stores, b64 memory, edu DMA, a digest over qtest. */
export function qemuTarget(m: QemuMachine): OpTarget {
  return {
    mmioRead: (off, size) => m.mmioRead(off, size),
    mmioWrite: (off, size, v) => m.mmioWrite(off, size, v),
    readMemory: (a, n) => m.readMemory(a, n),
    writeMemory: (a, d) => m.writeMemory(a, d),
    memWrite: (a, size, v) => m.write(a, size, v),
    memRead: (a, size) => m.read(a, size),
    digest: (a, n) => m.digest(a, n),
    dmaCopy: (sid, src, dst, len) => m.dma(sid, src, dst, len),
  };
}

/** Applies one operation to QEMU; returns the observed value for observations. */
export function applyQemu(m: QemuMachine, o: Op): bigint | string | undefined {
  return applyOp(qemuTarget(m), o);
}

/** Runs `ops` on a fresh QEMU with these devices and returns them with QEMU's values as expects. */
export async function recordOnQemu(devices: number[], ops: readonly Op[], opts: RecordOptions = {}): Promise<Recording> {
  for (const o of ops) checkOp(o);
  const t0 = Date.now();
  const migrates = ops.some((o) => o.op === 'migrate');
  let m = await QemuMachine.start({ devices, target: opts.target, binary: opts.binary, traceFile: opts.traceFile, qmpSocket: migrates ? qmpSocketPath() : undefined });
  opts.onStart?.(m.pid);
  const out: Op[] = [];
  let requests = 0;
  try {
    for (const o of ops) {
      if (o.op === 'migrate') {
        requests += m.q.requests;
        m = await migrateMachine(m);
        opts.onStart?.(m.pid);
        out.push(o);
        continue;
      }
      const v = applyQemu(m, o);
      if (o.op === 'mmio_read' || o.op === 'mem_read') out.push({ ...o, expect: v as bigint });
      else if (o.op === 'mem_digest') out.push({ ...o, expect: v as string });
      else out.push(o);
    }
  } finally {
    await m.close();
    if (m.options?.qmpSocket) removeQmpSocket(m.options.qmpSocket);
    // one log for the whole run: the processes a migration replaced wrote theirs first
    if (opts.traceFile && m.traceBefore) writeFileSync(opts.traceFile, m.traceBefore + (existsSync(opts.traceFile) ? readFileSync(opts.traceFile, 'utf8') : ''));
  }
  return { ops: out, origin: recordingOrigin(opts.binary, opts.target) + (migrates ? '; migrate = QMP stop, migrate to exec:cat > FILE, a new QEMU with -incoming defer, migrate-incoming, cont at paused, edu BARs re-programmed' : ''), ms: Date.now() - t0, qtestRequests: requests + m.q.requests };
}
