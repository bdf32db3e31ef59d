// vsmmu serve [--port N] [--host ADDR] [--quiet]: serves the browser demo (web/, dist/, build/).

import { existsSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT, startServer } from '../serve.js';

export const usage = 'vsmmu serve [--port N] [--host ADDR] [--quiet]   serve the browser demo (topology explorer) on http://127.0.0.1:8080/';

export async function run(args: string[]): Promise<number> {
  let port = 8080;
  let host = '127.0.0.1';
  let quiet = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--port') {
      port = Number(args[++i]);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port must be an integer in [0, 65535] (0: any free port)');
    } else if (a === '--host') {
      host = args[++i] ?? '';
      if (!host) throw new Error('--host needs an address');
    } else if (a === '--quiet') quiet = true;
    else {
      process.stderr.write(`unknown argument ${a}\nusage: ${usage}\n`);
      return 2;
    }
  }
  for (const need of ['web/index.html', 'build/vsmmu.wasm', 'dist/src/web/demo.js']) {
    if (!existsSync(path.join(PACKAGE_ROOT, need))) process.stderr.write(`vsmmu serve: warning: ${need} is missing (run npm run build)\n`);
  }
  const s = await startServer({
    port, host,
    log: quiet ? undefined : (m, u, st) => { if (st >= 400) process.stderr.write(`${st} ${m} ${u}\n`); },
  });
  process.stdout.write(`vsmmu demo: ${s.url}  (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await s.close();
  return 0;
}
