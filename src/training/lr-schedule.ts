/**
 * Learning-rate schedules. `step` is the number of optimizer updates already taken (0 for the first
 * update); the value returned is the learning rate for the update about to be made.
 *
 *   warmup (W > 0):            factor = (step + 1) / W            for step < W
 *   constant:                  factor = 1
 *   constant_with_warmup:      warmup, then 1
 *   linear:                    warmup, then (T − step) / (T − W), reaching 0 at step = T
 *   cosine:                    warmup, then ½·(1 + cos(π·(step − W) / (T − W))), reaching 0 at step = T
 *
 * with T = totalSteps; at and after T the decaying schedules stay at 0. The warmup's first update
 * uses lr/W rather than 0, so no update is wasted.
 */
import { TrainingError } from '../errors';
import { OptionChecker } from './options';

export const LR_SCHEDULE_KINDS = ['constant', 'constant_with_warmup', 'linear', 'cosine'] as const;
export type LrScheduleKind = (typeof LR_SCHEDULE_KINDS)[number];

export interface LrScheduleConfig {
  kind: LrScheduleKind;
  /** Peak learning rate. */
  lr: number;
  /** Warmup updates W (default 0; required ≥ 1 for constant_with_warmup, must be 0 for constant). */
  warmupSteps?: number;
  /** Total updates T (required for linear and cosine, > warmupSteps). */
  totalSteps?: number;
}

export type LrSchedule = (step: number) => number;

/** Validates a schedule config, reporting every problem at once (unknown keys are errors). */
export function checkLrScheduleConfig(config: unknown): Required<LrScheduleConfig> {
  const c = new OptionChecker('learning-rate schedule', config, ['kind', 'lr', 'warmupSteps', 'totalSteps']);
  const kind = c.oneOf('kind', LR_SCHEDULE_KINDS);
  const lr = c.number('lr', { min: 0, required: true });
  const warmupSteps = c.number('warmupSteps', { min: 0, integer: true }, 0);
  const decays = kind === 'linear' || kind === 'cosine';
  const totalSteps = c.number('totalSteps', { min: 1, integer: true, required: decays }, 0);
  if (kind === 'constant' && warmupSteps > 0) {
    c.add({ path: 'warmupSteps', message: 'the "constant" schedule has no warmup', found: String(warmupSteps), hint: 'use kind "constant_with_warmup"' });
  }
  if (kind === 'constant_with_warmup' && warmupSteps === 0) {
    c.add({ path: 'warmupSteps', message: 'is required (≥ 1) for "constant_with_warmup"', hint: 'or use kind "constant"' });
  }
  if (decays && Number.isFinite(totalSteps) && Number.isFinite(warmupSteps) && warmupSteps >= totalSteps) {
    c.add({ path: 'warmupSteps', message: 'must be smaller than totalSteps', found: `${warmupSteps} (totalSteps ${totalSteps})` });
  }
  c.done();
  return { kind, lr, warmupSteps, totalSteps };
}

/** The schedule as a function of the step; throws ConfigError for an invalid config. */
export function createLrSchedule(config: LrScheduleConfig): LrSchedule {
  const { kind, lr, warmupSteps: W, totalSteps: T } = checkLrScheduleConfig(config);
  return (step: number): number => {
    if (!Number.isSafeInteger(step) || step < 0) {
      throw new TrainingError(`learning-rate schedule step must be a non-negative integer, found ${step}`);
    }
    if (step < W) return lr * (step + 1) / W;
    switch (kind) {
      case 'constant':
      case 'constant_with_warmup':
        return lr;
      case 'linear':
        return step >= T ? 0 : lr * (T - step) / (T - W);
      case 'cosine':
        return step >= T ? 0 : lr * 0.5 * (1 + Math.cos(Math.PI * (step - W) / (T - W)));
    }
  };
}
