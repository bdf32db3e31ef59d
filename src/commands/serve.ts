// vsmmu serve [--port N] [--host ADDR] [--quiet]: serves the browser demo (web/, dist/, build/).

import { existsSync } from 'node:fs';
import path from 'node:path';
import { defineCommand, UsageError } from '../cli-args.js';
import { PACKAGE_ROOT, startServer } from '../serve.js';

export const command = defineCommand({
  name: 'serve',
  summary: 'serve the browser demo (topology explorer) over HTTP',
  options: {
    port: { type: 'int', default: 8080, min: 0, max: 65535, help: 'TCP port; 0 picks a free one' },
    host: { type: 'string', value: 'ADDR', default: '127.0.0.1', help: 'address to listen on' },
    quiet: { type: 'boolean', help: 'do not log failed requests' },
  },
  async run({ values }) {
    if (values.host.trim() === '') throw new UsageError('--host: expected an address, got ""');
    for (const need of ['web/index.html', 'dist/src/vsmmu.wasm', 'dist/src/web/demo.js']) {
      if (!existsSync(path.join(PACKAGE_ROOT, need))) process.stderr.write(`vsmmu serve: warning: ${need} is missing (run npm run build)\n`);
    }
    const s = await startServer({
      port: values.port, host: values.host,
      log: values.quiet ? undefined : (m, u, st) => { if (st >= 400) process.stderr.write(`${st} ${m} ${u}\n`); },
    });
    process.stdout.write(`vsmmu demo: ${s.url}  (Ctrl-C to stop)\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await s.close();
    return 0;
  },
});
