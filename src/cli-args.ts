// The command line's one argument parser: every subcommand declares its options as a table
// (`defineCommand`), parsed by Node's util.parseArgs in strict mode and then checked and
// converted here. User errors are `UsageError`s: one line on stderr, exit status 2.

import { parseArgs } from 'node:util';

/** A problem with what the user typed (or named: a missing file, a busy port). Exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

interface OptBase {
  /** One line for the usage text. */
  help: string;
  short?: string;
}
export interface FlagOpt extends OptBase { type: 'boolean' }
export interface StringOpt extends OptBase { type: 'string'; value: string; default?: string; multiple?: boolean }
export interface NumberOpt extends OptBase {
  type: 'int' | 'number';
  value?: string;
  default?: number;
  min?: number;
  max?: number;
}
export interface ChoiceOpt extends OptBase { type: 'choice'; choices: readonly string[]; default?: string; multiple?: boolean }
export type OptionSpec = FlagOpt | StringOpt | NumberOpt | ChoiceOpt;
export type OptionTable = Record<string, OptionSpec>;

/** The parsed value of one option, typed from its declaration. */
export type OptionValue<O extends OptionSpec> =
  O extends FlagOpt ? boolean
    : O extends { multiple: true } ? string[]
      : O extends NumberOpt ? (O extends { default: number } ? number : number | undefined)
        : O extends { default: string } ? string : string | undefined;

export type OptionValues<T extends OptionTable> = { [K in keyof T]: OptionValue<T[K]> };

export interface Parsed<T extends OptionTable> {
  values: OptionValues<T>;
  positionals: string[];
}

export interface CommandSpec<T extends OptionTable = OptionTable> {
  name: string;
  /** One line: what the command does. */
  summary: string;
  /** Positional arguments, e.g. `<file-or-dir>...`; omitted: none are accepted. */
  args?: { usage: string; min: number; max?: number };
  /** Extra lines printed after the options by --help. */
  notes?: () => string[] | Promise<string[]>;
  options: T;
  run(parsed: Parsed<T>): Promise<number>;
}

export type Command = CommandSpec<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Options every command accepts (handled by the CLI, not by the command). */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h', help: 'print this help and exit' },
  debug: { type: 'boolean', help: 'show the stack trace of an error' },
} as const satisfies OptionTable;

export function defineCommand<const T extends OptionTable>(spec: CommandSpec<T>): CommandSpec<T> {
  for (const k of Object.keys(spec.options)) {
    if (k in COMMON_OPTIONS) throw new Error(`${spec.name}: option --${k} is reserved`);
  }
  return spec;
}

function optionLabel(name: string, o: OptionSpec): string {
  const flag = (o.short ? `-${o.short}, ` : '') + `--${name}`;
  if (o.type === 'boolean') return flag;
  if (o.type === 'choice') return `${flag} ${o.choices.join('|')}`;
  if (o.type === 'string') return `${flag} ${o.value}`;
  return `${flag} ${o.value ?? 'N'}`;
}

function optionHelp(o: OptionSpec): string {
  const d = o.type !== 'boolean' && o.default !== undefined ? ` (default ${o.default})` : '';
  const rep = (o.type === 'string' || o.type === 'choice') && o.multiple ? ' (repeatable)' : '';
  return o.help + d + rep;
}

/** The one-line synopsis: `vsmmu NAME [options] ARGS`. */
export function synopsis(c: Command): string {
  const opts = Object.keys(c.options).length ? ' [options]' : '';
  return `vsmmu ${c.name}${opts}${c.args ? ' ' + c.args.usage : ''}`;
}

/** The text `vsmmu NAME --help` prints. */
export async function commandHelp(c: Command): Promise<string> {
  const table: OptionTable = { ...c.options, ...COMMON_OPTIONS };
  const rows = Object.entries(table).map(([n, o]) => [optionLabel(n, o), optionHelp(o)] as const);
  const w = Math.min(32, Math.max(...rows.map((r) => r[0].length)));
  const lines = [`usage: ${synopsis(c)}`, '', c.summary, '', 'options:'];
  for (const [l, h] of rows) lines.push(l.length > w ? `  ${l}\n  ${' '.repeat(w)}  ${h}` : `  ${l.padEnd(w)}  ${h}`);
  const notes = c.notes ? await c.notes() : [];
  if (notes.length) lines.push('', ...notes);
  return lines.join('\n') + '\n';
}

/** parseArgs' error messages, shortened to the problem and the option it concerns. */
function parseError(err: unknown): UsageError {
  const e = err as Error & { code?: string };
  const quoted = /'([^']*)'/.exec(e.message)?.[1] ?? '';
  const opt = quoted.split(' ')[0];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': return new UsageError(`unknown option ${opt}`);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': return new UsageError(`unexpected argument ${JSON.stringify(quoted)}`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return new UsageError(/does not take/.test(e.message) ? `option ${opt} takes no value` : `option ${opt} needs a value`);
    default: return new UsageError(e.message);
  }
}

function convert(name: string, o: OptionSpec, raw: string): string | number {
  const flag = `--${name}`;
  if (o.type === 'choice') {
    if (!o.choices.includes(raw)) throw new UsageError(`${flag}: expected one of ${o.choices.join(', ')}, got ${JSON.stringify(raw)}`);
    return raw;
  }
  if (o.type === 'int' || o.type === 'number') {
    const v = raw.trim() === '' ? NaN : Number(raw);
    const kind = o.type === 'int' ? 'an integer' : 'a number';
    if (!Number.isFinite(v) || (o.type === 'int' && !Number.isInteger(v))) throw new UsageError(`${flag}: expected ${kind}, got ${JSON.stringify(raw)}`);
    if (o.min !== undefined && v < o.min) throw new UsageError(`${flag}: expected ${kind} >= ${o.min}, got ${raw}`);
    if (o.max !== undefined && v > o.max) throw new UsageError(`${flag}: expected ${kind} <= ${o.max}, got ${raw}`);
    return v;
  }
  return raw;
}

/** Parses `argv` (after the command name) against the command's table and COMMON_OPTIONS. */
export function parseCommandArgs<T extends OptionTable>(c: CommandSpec<T>, argv: string[]): Parsed<T> & { help: boolean; debug: boolean } {
  const table: OptionTable = { ...c.options, ...COMMON_OPTIONS };
  const config: Record<string, { type: 'boolean' | 'string'; short?: string; multiple?: boolean }> = {};
  for (const [n, o] of Object.entries(table)) {
    config[n] = { type: o.type === 'boolean' ? 'boolean' : 'string', ...(o.short ? { short: o.short } : {}), ...('multiple' in o && o.multiple ? { multiple: true } : {}) };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options: config, strict: true, allowPositionals: c.args !== undefined });
  } catch (err) {
    throw parseError(err);
  }
  const raw = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const help = raw.help === true;
  const debug = raw.debug === true;
  const values: Record<string, unknown> = {};
  for (const [n, o] of Object.entries(c.options)) {
    const r = raw[n];
    if (o.type === 'boolean') values[n] = r === true;
    else if (Array.isArray(r)) values[n] = r.map((x) => convert(n, o, x));
    else if (r === undefined) values[n] = 'multiple' in o && o.multiple ? [] : o.default;
    else values[n] = convert(n, o, r as string);
  }
  const positionals = parsed.positionals;
  if (!help && c.args) {
    if (positionals.length < c.args.min) throw new UsageError(`missing ${c.args.usage}`);
    if (c.args.max !== undefined && positionals.length > c.args.max) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[c.args.max])}`);
  }
  return { values: values as OptionValues<T>, positionals, help, debug };
}

/** One line for an error a user can act on (system errors named by what failed). */
export function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (!(err instanceof Error)) return String(err);
  const where = e.path ?? (e.address !== undefined ? `${e.address}:${e.port}` : undefined);
  switch (e.code) {
    case 'ENOENT': return `${where ?? 'file'}: no such file or directory`;
    case 'EACCES': case 'EPERM': return `${where ?? 'resource'}: permission denied`;
    case 'EISDIR': return `${where ?? 'path'}: is a directory`;
    case 'ENOTDIR': return `${where ?? 'path'}: not a directory`;
    case 'EADDRINUSE': return `${where ?? 'address'} is already in use`;
    case 'EADDRNOTAVAIL': return `${where ?? 'address'}: address not available`;
    default: return e.message.split('\n')[0];
  }
}
