// vsmmu is an ES module (its engine is found through import.meta.url). CommonJS code loads it
// with a dynamic import, which works in every supported Node version:
//   const { createSmmu } = await import('vsmmu');
// (README, "CommonJS"). `require('vsmmu')` lands here and says so.
'use strict';
const err = new Error("vsmmu is an ES module: from CommonJS use `const { createSmmu } = await import('vsmmu')` (see the README, \"CommonJS\")");
err.code = 'ERR_REQUIRE_ESM';
throw err;
