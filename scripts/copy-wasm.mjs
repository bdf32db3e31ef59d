// Build step: the release engine goes next to the module that loads it (dist/src/vsmmu.wasm),
// where `new URL('./vsmmu.wasm', import.meta.url)` finds it, in the repository and in the package.
import { copyFileSync } from 'node:fs';

copyFileSync(new URL('../build/vsmmu.wasm', import.meta.url), new URL('../dist/src/vsmmu.wasm', import.meta.url));
