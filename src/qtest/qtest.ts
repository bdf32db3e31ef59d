// A synchronous client for QEMU's qtest protocol (docs/devel/qtest.rst): QEMU runs
// with `-qtest pipe:<fifo>`, we write request lines to <fifo>.in and read replies from
// <fifo>.out with blocking reads. Requests whose reply is a bare "OK" are queued and
// sent in batches (pipelined); a request whose reply we need flushes the queue first
// and checks every pending reply. Being synchronous lets the guest driver (GuestBus)
// drive QEMU exactly as it drives the model.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface QtestSpawnOptions {
  /** The QEMU binary (default: $VSMMU_QEMU or qemu-system-aarch64 on PATH). */
  binary?: string;
  /** Machine arguments (everything but the -qtest options). */
  args: string[];
  /** Milliseconds to wait for QEMU to open its qtest channel (default 20000). */
  startTimeoutMs?: number;
}

export class QtestError extends Error {}

/** The QEMU binary the project uses. */
export function qemuBinary(): string {
  return process.env.VSMMU_QEMU || 'qemu-system-aarch64';
}

/** The version line of the QEMU binary, or undefined when it cannot be run. */
export function qemuVersion(binary = qemuBinary()): string | undefined {
  try {
    return execFileSync(binary, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0].trim();
  } catch {
    return undefined;
  }
}

const live = new Set<QtestProcess>();
let exitHook = false;

const MAX_PENDING = 2048;
const SETPRIV = '/usr/bin/setpriv';

export class QtestProcess {
  private inFd = -1;
  private outFd = -1;
  private pending: string[] = [];
  private pendingBytes = 0;
  private rbuf = Buffer.alloc(1 << 16);
  private text = '';
  private closed = false;
  /** Requests sent (for statistics). */
  requests = 0;

  private constructor(private readonly child: ChildProcess, private readonly dir: string, readonly binary: string, readonly args: string[]) {}

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Starts QEMU and connects to its qtest channel. */
  static async spawn(opts: QtestSpawnOptions): Promise<QtestProcess> {
    const binary = opts.binary ?? qemuBinary();
    const dir = mkdtempSync(join(tmpdir(), 'vsmmu-qtest-'));
    const fifo = join(dir, 'qtest');
    try {
      execFileSync('mkfifo', [fifo + '.in', fifo + '.out']);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw new QtestError(`cannot create FIFOs for qtest in ${dir}: ${(err as Error).message}`);
    }
    const errFd = openSync(join(dir, 'stderr.log'), 'w');
    const args = [...opts.args, '-qtest', `pipe:${fifo}`, '-qtest-log', 'none'];
    let child: ChildProcess;
    try {
      // QEMU dies with the thread that started it (setpriv sets PR_SET_PDEATHSIG, then execs QEMU)
      child = existsSync(SETPRIV)
        ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', binary, ...args], { stdio: ['ignore', errFd, errFd] })
        : spawn(binary, args, { stdio: ['ignore', errFd, errFd] });
    } finally {
      closeSync(errFd);
    }
    const q = new QtestProcess(child, dir, binary, args);
    let exited: string | undefined;
    let spawnError: Error | undefined;
    child.on('exit', (code, sig) => { exited = sig ? `signal ${sig}` : `exit status ${code}`; });
    child.on('error', (err) => { spawnError = err; });
    const deadline = Date.now() + (opts.startTimeoutMs ?? 20000);
    // Wait until QEMU has opened <fifo>.in for reading (it opens both ends O_RDWR):
    // a non-blocking write-only open fails with ENXIO until then.
    for (;;) {
      if (spawnError) {
        q.cleanup();
        throw new QtestError(`cannot run ${binary}: ${spawnError.message}`);
      }
      if (exited) {
        const log = q.stderr();
        q.cleanup();
        throw new QtestError(`${binary} exited (${exited}) before opening its qtest channel${log ? ':\n' + log : ''}`);
      }
      try {
        const probe = openSync(fifo + '.in', constants.O_WRONLY | constants.O_NONBLOCK);
        closeSync(probe);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENXIO') {
          q.kill();
          q.cleanup();
          throw err;
        }
      }
      if (Date.now() > deadline) {
        q.kill();
        q.cleanup();
        throw new QtestError(`${binary} did not open its qtest channel within ${opts.startTimeoutMs ?? 20000} ms`);
      }
      await new Promise((r) => setTimeout(r, 3));
    }
    q.inFd = openSync(fifo + '.in', constants.O_WRONLY);
    q.outFd = openSync(fifo + '.out', constants.O_RDONLY);
    live.add(q);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => {
        for (const p of live) {
          p.kill();
          p.cleanup();
        }
      });
    }
    return q;
  }

  /** What QEMU wrote to stderr so far. */
  stderr(): string {
    try {
      return readFileSync(join(this.dir, 'stderr.log'), 'utf8').trim();
    } catch {
      return '';
    }
  }

  /** Queues a request whose reply must be "OK". */
  send(cmd: string): void {
    if (this.closed) throw new QtestError('qtest: the QEMU process is closed');
    this.pending.push(cmd);
    this.pendingBytes += cmd.length + 1;
    if (this.pending.length >= MAX_PENDING || this.pendingBytes >= 1 << 20) this.flush();
  }

  /** Sends a request and returns its reply after "OK" (e.g. "0x00000000000000ff"). */
  query(cmd: string): string {
    if (this.closed) throw new QtestError('qtest: the QEMU process is closed');
    const n = this.pending.length;
    this.pending.push(cmd);
    this.writeAll(this.pending.join('\n') + '\n');
    this.pending = [];
    this.pendingBytes = 0;
    for (let i = 0; i < n; i++) this.expectOk(this.readLine());
    const line = this.readLine();
    if (!line.startsWith('OK')) throw new QtestError(`qtest: "${cmd}" failed: ${line}`);
    return line.slice(2).trim();
  }

  /** Sends every queued request and checks their replies. */
  flush(): void {
    if (this.pending.length === 0) return;
    const n = this.pending.length;
    this.writeAll(this.pending.join('\n') + '\n');
    this.pending = [];
    this.pendingBytes = 0;
    for (let i = 0; i < n; i++) this.expectOk(this.readLine());
  }

  private expectOk(line: string): void {
    if (line !== 'OK') throw new QtestError(`qtest: unexpected reply "${line}"`);
  }

  private writeAll(s: string): void {
    this.requests += s.split('\n').length - 1;
    const b = Buffer.from(s, 'latin1');
    let off = 0;
    try {
      while (off < b.length) off += writeSync(this.inFd, b, off, b.length - off);
    } catch (err) {
      throw new QtestError(`qtest: QEMU stopped reading (${(err as Error).message})${this.deathNote()}`);
    }
  }

  private readLine(): string {
    for (;;) {
      const nl = this.text.indexOf('\n');
      if (nl >= 0) {
        const line = this.text.slice(0, nl);
        this.text = this.text.slice(nl + 1);
        // asynchronous notifications (IRQ ...) are not requested by this client; skip them
        if (line.startsWith('IRQ ')) continue;
        return line;
      }
      let n: number;
      try {
        n = readSync(this.outFd, this.rbuf, 0, this.rbuf.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        throw err;
      }
      if (n === 0) throw new QtestError(`qtest: QEMU closed its qtest channel${this.deathNote()}`);
      this.text += this.rbuf.toString('latin1', 0, n);
    }
  }

  private deathNote(): string {
    const e = this.stderr();
    return e ? `; QEMU said:\n${e}` : '';
  }

  private kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null && this.child.pid) {
      try {
        process.kill(this.child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }

  private cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Stops QEMU (SIGTERM, so that it flushes its logs) and removes the FIFOs. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    try {
      if (this.pending.length) this.flush();
    } catch {
      /* closing anyway */
    }
    const done = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      else this.child.once('exit', () => resolve());
    });
    if (this.child.pid && this.child.exitCode === null && this.child.signalCode === null) {
      try {
        process.kill(this.child.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    const timer = setTimeout(() => this.kill(), 5000);
    await done;
    clearTimeout(timer);
    for (const fd of [this.inFd, this.outFd]) if (fd >= 0) closeSync(fd);
    this.inFd = this.outFd = -1;
    if (existsSync(this.dir)) this.cleanup();
  }
}
