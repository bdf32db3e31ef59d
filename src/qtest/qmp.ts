// A small client for QEMU's QMP (docs/interop/qmp-spec.rst) over a Unix socket: the
// greeting, qmp_capabilities, then one command at a time (replies come in order;
// asynchronous events are kept apart). Used beside qtest for what qtest cannot do:
// stopping, migrating and resuming the VM.

import { createConnection, type Socket } from 'node:net';

export class QmpError extends Error {}

interface Waiter {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
}

export class QmpClient {
  private buf = '';
  private waiters: Waiter[] = [];
  private failed?: Error;
  /** Asynchronous events received so far (name, data). */
  readonly events: Array<{ event: string; data?: unknown }> = [];

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => this.onData(d));
    sock.on('error', (e) => this.fail(new QmpError(`qmp: ${e.message}`)));
    sock.on('close', () => this.fail(new QmpError('qmp: QEMU closed the QMP socket')));
  }

  /** Connects to `path` (retrying until QEMU listens, at most `timeoutMs`) and negotiates capabilities. */
  static async connect(path: string, timeoutMs = 20000): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<Socket>((resolve, reject) => {
          const s = createConnection(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        const c = new QmpClient(sock);
        const greeting = await c.next();
        if (!('QMP' in greeting)) throw new QmpError(`qmp: unexpected greeting ${JSON.stringify(greeting)}`);
        await c.execute('qmp_capabilities');
        return c;
      } catch (err) {
        if (err instanceof QmpError || Date.now() > deadline) throw err instanceof QmpError ? err : new QmpError(`qmp: cannot connect to ${path}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  }

  private onData(d: string): void {
    this.buf += d;
    for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line);
      } catch {
        this.fail(new QmpError(`qmp: not JSON: ${line.slice(0, 200)}`));
        return;
      }
      if ('event' in msg) {
        this.events.push({ event: String(msg.event), data: msg.data });
        continue;
      }
      const w = this.waiters.shift();
      if (w) w.resolve(msg);
    }
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const w of this.waiters.splice(0)) w.reject(e);
  }

  private next(): Promise<Record<string, unknown>> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Runs a command; returns its `return` value or throws QmpError with QEMU's error text. */
  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const reply = this.next();
    this.sock.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    const r = await reply;
    if ('error' in r) {
      const e = r.error as { class?: string; desc?: string };
      throw new QmpError(`qmp: ${command} failed: ${e.class ?? ''} ${e.desc ?? JSON.stringify(r.error)}`);
    }
    return r.return;
  }

  close(): void {
    this.sock.destroy();
  }
}
