// The boundary between the host and the engine is declared once (ENGINE_FUNCTIONS and
// ENGINE_IMPORTS in src/engine.ts, from which the TypeScript types are derived). This
// reads the built modules themselves (type, import, function and export sections) and
// checks every import and export against those tables: names, kinds, parameter and
// result types.

import { readFileSync } from 'node:fs';
import { ENGINE_FUNCTIONS, ENGINE_IMPORTS } from '../src/engine.js';
import * as A from '../src/arch/abi.js';
import * as R from '../src/arch/registers.js';

interface ModuleShape {
  /** name -> 'memory', or a signature in the tables' notation */
  exports: Map<string, string>;
  /** "module.name" -> signature */
  imports: Map<string, string>;
}

const VALUE: Record<number, string> = { 0x7f: 'i', 0x7e: 'j', 0x7d: 'f', 0x7c: 'd' };
const KIND = ['function', 'table', 'memory', 'global'];

/** The import and export signatures of a WebAssembly binary (a small reader of its sections). */
export function moduleShape(bytes: Uint8Array): ModuleShape {
  let p = 8; // magic and version
  const u = (): number => {
    let v = 0, shift = 0, b: number;
    do {
      b = bytes[p++];
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return v;
  };
  const name = (): string => {
    const n = u();
    const s = new TextDecoder().decode(bytes.subarray(p, p + n));
    p += n;
    return s;
  };
  const types: string[] = [];
  const funcTypes: number[] = []; // type index per function index (imports first)
  const out: ModuleShape = { exports: new Map(), imports: new Map() };
  while (p < bytes.length) {
    const id = bytes[p++];
    const size = u();
    const end = p + size;
    if (id === 1) {
      for (let n = u(); n > 0; n--) {
        if (bytes[p++] !== 0x60) throw new Error('unexpected type form');
        let sig = '';
        for (let k = u(); k > 0; k--) sig += VALUE[bytes[p++]] ?? '?';
        sig += '>';
        const results = u();
        if (results === 0) sig += 'v';
        for (let k = results; k > 0; k--) sig += VALUE[bytes[p++]] ?? '?';
        types.push(sig);
      }
    } else if (id === 2) {
      for (let n = u(); n > 0; n--) {
        const key = `${name()}.${name()}`;
        const kind = bytes[p++];
        if (kind !== 0) throw new Error(`import ${key} is a ${KIND[kind]}, the host provides functions only`);
        const t = u();
        funcTypes.push(t);
        out.imports.set(key, types[t]);
      }
    } else if (id === 3) {
      for (let n = u(); n > 0; n--) funcTypes.push(u());
    } else if (id === 7) {
      for (let n = u(); n > 0; n--) {
        const key = name();
        const kind = bytes[p++];
        const index = u();
        out.exports.set(key, kind === 0 ? types[funcTypes[index]] : KIND[kind]);
      }
    }
    p = end;
  }
  return out;
}

function declared(): ModuleShape {
  return {
    exports: new Map<string, string>([['memory', 'memory'], ...Object.entries(ENGINE_FUNCTIONS)]),
    imports: new Map(Object.entries(ENGINE_IMPORTS).map(([k, v]) => [`env.${k}`, v])),
  };
}

const sorted = (m: Map<string, string>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1));

for (const file of ['build/vsmmu.wasm', 'build/vsmmu.debug.wasm']) {
  test(`${file}: every export and import matches src/engine.ts (names, kinds, signatures)`, () => {
    const shape = moduleShape(new Uint8Array(readFileSync(file)));
    expect(shape.exports.size).toBeGreaterThan(0);
    expect(sorted(shape.exports)).toEqual(sorted(declared().exports));
    expect(sorted(shape.imports)).toEqual(sorted(declared().imports));
  });
}

test('the reader sees a signature change', () => {
  // a module exporting f(i64) -> i32 and importing env.g(i32): what the reader reports
  const bytes = new Uint8Array([
    0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    1, 10, 2, 0x60, 1, 0x7e, 1, 0x7f, 0x60, 1, 0x7f, 0, // types: (i64)->i32, (i32)->()
    2, 9, 1, 3, 0x65, 0x6e, 0x76, 1, 0x67, 0, 1, // import env.g: type 1
    3, 2, 1, 0, // function 1: type 0
    7, 5, 1, 1, 0x66, 0, 1, // export f = function 1
    10, 6, 1, 4, 0, 0x41, 0, 0x0b, // code: i32.const 0
  ]);
  expect(WebAssembly.validate(bytes)).toBe(true);
  const shape = moduleShape(bytes);
  expect([...shape.exports]).toEqual([['f', 'j>i']]);
  expect([...shape.imports]).toEqual([['env.g', 'i>v']]);
});

test('limits and orders the host relies on come from src/arch', () => {
  // the host sizes its views from these; the engine allocates with them (assembly/dispatch.ts, state.ts)
  expect(A.IRQ_COUNTERS_BYTES / 4).toBe(Math.max(R.IRQ_EVTQ, R.IRQ_PRIQ, R.IRQ_CMD_SYNC, R.IRQ_GERROR) + 1);
  expect(A.MAX_BACKENDS).toBeLessThanOrEqual(32); // a set of backends is one u32 mask
  expect(A.FW_CAPACITY).toBeGreaterThanOrEqual(A.MAX_VDEVS + A.MAX_BACKENDS + 1); // one command's entries always fit
});
