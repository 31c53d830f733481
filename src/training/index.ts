/** The training layer: optimizer, EMA, clipping, accumulation, schedules, RNG, losses, checkpoints. */
export * from './adamw';
export * from './checkpoint';
export * from './ema';
export * from './grads';
export * from './losses';
export * from './lr-schedule';
export * from './rng';
export * from './train-step';
