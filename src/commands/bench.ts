// vsmmu bench [--json] [--runs N] [--commands N] [--no-qemu] [--stream NAME]... [--quiet]

import { runBench } from '../bench/index.js';
import { toJson, toText } from '../bench/report.js';

export const usage = 'vsmmu bench [--json] [--runs N] [--commands N] [--no-qemu] [--stream NAME]   time the engine against the TS reference, QEMU 7.2 and memcpy';

export async function run(args: string[]): Promise<number> {
  let json = false;
  let quiet = false;
  let runs: number | undefined;
  let commands: number | undefined;
  let qemu: boolean | undefined;
  const streams: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const int = () => {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 1) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    try {
      if (a === '--json') json = true;
      else if (a === '--quiet') quiet = true;
      else if (a === '--runs') runs = int();
      else if (a === '--commands') commands = int();
      else if (a === '--no-qemu') qemu = false;
      else if (a === '--qemu') qemu = true;
      else if (a === '--stream') streams.push(value());
      else throw new Error(`unknown argument ${a}`);
    } catch (err) {
      process.stderr.write(`vsmmu bench: ${(err as Error).message}\nusage: ${usage}\n`);
      return 2;
    }
  }
  const result = await runBench({
    runs,
    commands,
    qemu,
    streams: streams.length ? streams : undefined,
    log: quiet ? undefined : (l) => process.stderr.write(l + '\n'),
  });
  process.stdout.write(json ? JSON.stringify(toJson(result)) + '\n' : toText(result));
  return 0;
}
