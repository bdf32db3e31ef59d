// Jest test sequencer for the mutation check (scripts/mutate.mjs): runs the suites in the
// order VSMMU_MUTATE_ORDER lists them (fastest and most killing first), so that with
// --bail the first failing suite ends the run before the slow ones start. Jest's default
// sequencer runs the longest suites first.
const Sequencer = require('@jest/test-sequencer').default;

class InOrder extends Sequencer {
  sort(tests) {
    const order = (process.env.VSMMU_MUTATE_ORDER ?? '').split(',');
    const rank = (t) => {
      const i = order.findIndex((s) => s && t.path.endsWith(`/${s}.test.js`));
      return i < 0 ? order.length : i;
    };
    return tests.slice().sort((a, b) => rank(a) - rank(b));
  }
}

module.exports = InOrder;
