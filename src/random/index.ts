/**
 * Distillery's one seeded-random module. Every random number a run draws comes from here:
 *   - `Rng` (xoshiro128**, rng.ts): training noise, timesteps, label dropout; state saved in checkpoints;
 *     independent named streams by `fork`.
 *   - `mulberry32` / `uniformGenerator` and `seededPermutation` (mulberry32.ts): stateless data order
 *     (a pure function of seed, epoch and batch) and parameter initialisation.
 *   - `mixSeed`, `fnv1a32`, `fmix32` (hash.ts): deriving seeds from numbers and names (per node, per
 *     parameter, per epoch).
 * Each stream's numbers are pinned by test/random/streams.test.ts.
 */
export { fmix32, mixSeed, fnv1a32, FNV1A_OFFSET } from './hash';
export { mulberry32, uniformGenerator, seededPermutation } from './mulberry32';
export {
  Rng, randomNormal, randomUniform, randomInt, bernoulliMask, dropLabels, type RngSeed, type RngState,
} from './rng';
