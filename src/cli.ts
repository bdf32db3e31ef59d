#!/usr/bin/env node
// vsmmu command line. Each subcommand is a module in ./commands exporting
// `usage` (one line) and `run(args): Promise<number>` (the exit status).

import { readdirSync } from 'node:fs';

interface Command {
  usage: string;
  run(args: string[]): Promise<number>;
}

function commandNames(): string[] {
  const dir = new URL('./commands/', import.meta.url);
  return readdirSync(dir).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3)).sort();
}

async function usage(): Promise<string> {
  const lines: string[] = [];
  for (const n of commandNames()) lines.push('  ' + ((await import(`./commands/${n}.js`)) as Command).usage);
  return `usage:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || !/^[a-z][a-z0-9-]*$/.test(cmd) || !commandNames().includes(cmd)) {
    process.stderr.write(await usage());
    return 2;
  }
  const mod = (await import(`./commands/${cmd}.js`)) as Command;
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`vsmmu: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  },
);
