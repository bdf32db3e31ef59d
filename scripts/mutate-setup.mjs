// Jest setup for the mutation check (scripts/mutate.mjs): property tests stop at their first
// counterexample (no shrinking: the verdict is all the check needs) and draw from the seed
// the check was given, so that a run is reproducible.
import fc from 'fast-check';

fc.configureGlobal({ ...fc.readConfigureGlobal(), endOnFailure: true, seed: Number(process.env.VSMMU_MUTATE_SEED ?? 1) });
