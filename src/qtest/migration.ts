// Live migration of a QemuMachine, as the trace spec's migrate op was recorded: stop the
// VM, `migrate` to `exec:cat > FILE` over QMP, end that QEMU, start the same command line
// with `-incoming defer`, `migrate-incoming` from the file, wait for the `paused` state
// (a `cont` sent earlier is ignored and DMA would never complete), `cont`, and program
// the edu devices' BAR and command register again (edu has no migration state).

import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { QemuMachine } from './machine.js';
import { QmpClient, QmpError } from './qmp.js';

/** Removes a socket made by qmpSocketPath (and its directory). */
export function removeQmpSocket(path: string): void {
  rmSync(dirname(path), { recursive: true, force: true });
}

/** A fresh path for a QMP socket (in a private temporary directory). */
export function qmpSocketPath(): string {
  return join(mkdtempSync(join(tmpdir(), 'vsmmu-qmp-')), 'qmp.sock');
}

async function waitFor(qmp: QmpClient, what: string, done: () => Promise<boolean>, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new QmpError(`migration: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Migrates `m` (started with a qmpSocket) into a new QEMU; `m` is closed; returns the new machine. */
export async function migrateMachine(m: QemuMachine): Promise<QemuMachine> {
  const opts = m.options;
  if (!opts?.qmpSocket) throw new QmpError('migration: the machine was started without a QMP socket');
  m.q.flush();
  const dir = mkdtempSync(join(tmpdir(), 'vsmmu-migrate-'));
  const file = join(dir, 'state');
  try {
    const src = await QmpClient.connect(opts.qmpSocket);
    try {
      await src.execute('stop');
      await src.execute('migrate', { uri: `exec:cat > ${file}` });
      await waitFor(src, 'the outgoing migration', async () => {
        const r = (await src.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
        if (r.status === 'failed' || r.status === 'cancelled') throw new QmpError(`migration: outgoing migration ${r.status}: ${r['error-desc'] ?? ''}`);
        return r.status === 'completed';
      });
    } finally {
      src.close();
    }
    let trace = m.traceBefore;
    await m.close();
    removeQmpSocket(opts.qmpSocket);
    if (opts.traceFile && existsSync(opts.traceFile)) trace += readFileSync(opts.traceFile, 'utf8');
    const sock = qmpSocketPath();
    const n = await QemuMachine.start({ ...opts, qmpSocket: sock, incoming: true });
    n.traceBefore = trace;
    const dst = await QmpClient.connect(sock);
    try {
      await dst.execute('migrate-incoming', { uri: `exec:cat ${file}` });
      await waitFor(dst, 'the incoming migration', async () => {
        const r = (await dst.execute('query-status')) as { status?: string };
        if (r.status === 'internal-error' || r.status === 'shutdown') throw new QmpError(`migration: incoming side is ${r.status}`);
        return r.status === 'paused';
      });
      await dst.execute('cont');
    } finally {
      dst.close();
    }
    n.setupDevices();
    return n;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
