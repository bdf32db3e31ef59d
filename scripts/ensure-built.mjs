// `npm start`: builds only when an input is newer than what the build produced (or an output
// is missing), so starting the demo on an up-to-date tree does not rebuild.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function files(dir, ext) {
  const out = [];
  for (const d of readdirSync(join(root, dir), { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) out.push(...files(p, ext));
    else if (d.name.endsWith(ext)) out.push(p);
  }
  return out;
}

const mtime = (p) => (existsSync(join(root, p)) ? statSync(join(root, p)).mtimeMs : -Infinity);

/** Each output and what it is made from (the engine also compiles the layouts in src/arch). */
const engineInputs = [...files('assembly', '.ts'), ...files('src/arch', '.ts'), 'asconfig.json', 'package.json'];
const rules = [
  ...['build/vsmmu.wasm', 'build/vsmmu.debug.wasm'].map((out) => [out, engineInputs]),
  ['dist/src/vsmmu.wasm', ['build/vsmmu.wasm']],
  ...files('src', '.ts').map((f) => [join('dist', f.replace(/\.ts$/, '.js')), [f, 'tsconfig.json']]),
];
const stale = rules.find(([out, ins]) => ins.some((i) => mtime(i) > mtime(out)));
if (!stale) {
  console.error('vsmmu: the build is up to date');
} else {
  const [out, ins] = stale;
  console.error(`vsmmu: ${mtime(out) === -Infinity ? `${out} is missing` : `${ins.find((i) => mtime(i) > mtime(out))} is newer than ${out}`}: building`);
  execSync('npm run build', { cwd: root, stdio: 'inherit' });
}
