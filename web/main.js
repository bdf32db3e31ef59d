// Entry point of the demo page: the explorer is imported straight from the compiled
// TypeScript in /dist (no bundler); it loads the engine from /dist/src/vsmmu.wasm (beside the loader).
import { startDemo } from '/dist/src/web/demo.js';

startDemo(document).then(
  (demo) => { window.vsmmuDemo = demo; },
  (err) => {
    document.body.dataset.state = 'error';
    const e = document.getElementById('error');
    if (e) { e.hidden = false; e.textContent = `The demo failed to start: ${err && err.message ? err.message : err}`; }
    console.error(err);
  },
);
