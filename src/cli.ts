#!/usr/bin/env node
// vsmmu command line. Each subcommand is a module in ./commands exporting `command`, a
// declarative table made with `defineCommand` (./cli-args.ts), which parses every command's
// arguments the same way. Exit status: 0 done, 1 a failed check (mismatches), 2 unusable input.

import { readdirSync, readFileSync } from 'node:fs';
import { commandHelp, describeError, parseCommandArgs, UsageError, type Command } from './cli-args.js';

function commandNames(): string[] {
  const dir = new URL('./commands/', import.meta.url);
  return readdirSync(dir).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3)).sort();
}

async function loadCommand(name: string): Promise<Command> {
  if (!/^[a-z][a-z0-9-]*$/.test(name) || !commandNames().includes(name)) {
    throw new UsageError(`unknown command ${JSON.stringify(name)} (commands: ${commandNames().join(', ')})`);
  }
  const mod = (await import(`./commands/${name}.js`)) as { command?: Command };
  if (!mod.command) throw new Error(`commands/${name}.js exports no command`);
  return mod.command;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function mainHelp(): Promise<string> {
  const cmds = await Promise.all(commandNames().map(loadCommand));
  const w = Math.max(...cmds.map((c) => c.name.length));
  return [
    'usage: vsmmu <command> [options]',
    '',
    'Arm SMMUv3 device model (QEMU arm-smmuv3): replay traces, check against QEMU, explore vIOMMU topologies.',
    '',
    'commands:',
    ...cmds.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'vsmmu <command> --help (or vsmmu help <command>) describes a command\'s options.',
    'vsmmu --version prints the version. Exit status: 0 done, 1 a check failed, 2 unusable input.',
    '',
  ].join('\n');
}

const out = (s: string) => process.stdout.write(s);

async function main(argv: string[]): Promise<number> {
  let debug = argv.includes('--debug');
  let name = '';
  try {
    const [first, ...rest] = argv[0] === '--debug' ? argv.slice(1) : argv;
    if (first === undefined) throw new UsageError('no command given');
    if (first === '--help' || first === '-h') return out(await mainHelp()), 0;
    if (first === '--version' || first === '-V') return out(version() + '\n'), 0;
    if (first === 'help') {
      if (rest.length === 0) return out(await mainHelp()), 0;
      if (rest.length > 1) throw new UsageError(`help takes one command name, got ${rest.length}`);
      return out(await commandHelp(await loadCommand(rest[0]))), 0;
    }
    if (first.startsWith('-')) throw new UsageError(`unknown option ${first}`);
    const cmd = await loadCommand(first);
    name = cmd.name;
    const parsed = parseCommandArgs(cmd, rest);
    debug ||= parsed.debug;
    if (parsed.help) return out(await commandHelp(cmd)), 0;
    return await cmd.run(parsed);
  } catch (err) {
    const who = name ? `vsmmu ${name}` : 'vsmmu';
    if (debug && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.stderr.write(`${who}: ${describeError(err)} (see ${who} --help)\n`);
    return 2;
  }
}

/**
 * Exits with `code` once stdout and stderr have handed everything written to them to the
 * OS: writes to a pipe complete asynchronously, and process.exit would drop what is still
 * queued (the end of a `replay --trace` piped to another program). A reader that went
 * away (EPIPE) ends the wait too.
 */
function exitWhenFlushed(code: number): void {
  let left = 2;
  const done = (): void => { if (--left === 0) process.exit(code); };
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', () => process.exit(code));
    s.write('', done);
  }
}

main(process.argv.slice(2)).then(exitWhenFlushed);
