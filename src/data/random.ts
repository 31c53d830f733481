/**
 * Stateless seeded randomness for data order: every batch is a pure function of (seed, epoch, batch
 * index), so a resumed run reproduces exactly the batches an uninterrupted run would have seen without
 * storing any generator state. The generators live in src/random (the one seeded-random module).
 */
export { mixSeed, seededPermutation, uniformGenerator } from '../random';
