/** The training generator moved to src/random (Distillery's one seeded-random module); re-exported here. */
export * from '../random/rng';
