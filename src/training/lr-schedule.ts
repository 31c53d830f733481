/**
 * Learning-rate schedules. `step` is the number of optimizer updates already taken (0 for the first
 * update); the value returned is the learning rate for the update about to be made.
 *
 *   warmup (W > 0):            factor = (step + 1) / W            for step < W
 *   constant:                  factor = 1
 *   constant_with_warmup:      warmup, then 1
 *   linear:                    warmup, then (T − step) / (T − W), reaching 0 at step = T
 *   cosine:                    warmup, then ½·(1 + cos(π·(step − W) / (T − W))), reaching 0 at step = T
 *   cosine_with_restarts:      warmup, then ½·(1 + cos(π·((C·p) mod 1))), p = (step − W)/(T − W), C = cycles
 *                              (diffusers' get_cosine_with_hard_restarts_schedule_with_warmup); 0 from T on
 *   polynomial:                warmup, then ((lr − lrEnd)·(1 − p)^power + lrEnd)/lr, p as above; lrEnd after T
 *                              (diffusers' get_polynomial_decay_schedule_with_warmup)
 *
 * with T = totalSteps; at and after T the other decaying schedules stay at 0. The warmup's first update
 * uses lr/W rather than 0 (diffusers starts at 0), so no update is wasted; after the warm-up the values
 * are diffusers' at the same step.
 */
import { TrainingError } from '../errors';
import { OptionChecker } from './options';

export const LR_SCHEDULE_KINDS = ['constant', 'constant_with_warmup', 'linear', 'cosine', 'cosine_with_restarts', 'polynomial'] as const;
export type LrScheduleKind = (typeof LR_SCHEDULE_KINDS)[number];

export interface LrScheduleConfig {
  kind: LrScheduleKind;
  /** Peak learning rate. */
  lr: number;
  /** Warmup updates W (default 0; required ≥ 1 for constant_with_warmup, must be 0 for constant). */
  warmupSteps?: number;
  /** Total updates T (required for linear and cosine, > warmupSteps). */
  totalSteps?: number;
  /** Hard restarts of cosine_with_restarts (diffusers' num_cycles; default 1, the same as cosine). */
  cycles?: number;
  /** Final learning rate of polynomial (diffusers' lr_end; default 1e-7; must be below lr). */
  lrEnd?: number;
  /** Exponent of polynomial (diffusers' power; default 1, a linear decay to lrEnd). */
  power?: number;
}

/** Schedules that decay over `totalSteps`. */
export function lrScheduleDecays(kind: LrScheduleKind): boolean {
  return kind === 'linear' || kind === 'cosine' || kind === 'cosine_with_restarts' || kind === 'polynomial';
}

export type LrSchedule = (step: number) => number;

/** Validates a schedule config, reporting every problem at once (unknown keys are errors). */
export function checkLrScheduleConfig(config: unknown): Required<LrScheduleConfig> {
  const c = new OptionChecker('learning-rate schedule', config, ['kind', 'lr', 'warmupSteps', 'totalSteps', 'cycles', 'lrEnd', 'power']);
  const kind = c.oneOf('kind', LR_SCHEDULE_KINDS);
  const lr = c.number('lr', { min: 0, required: true });
  const warmupSteps = c.number('warmupSteps', { min: 0, integer: true }, 0);
  const cycles = c.number('cycles', { min: 1, integer: true }, 1);
  const lrEnd = c.number('lrEnd', { min: 0 }, 1e-7);
  const power = c.number('power', { min: 0, exclusiveMin: true }, 1);
  if (kind === 'polynomial' && Number.isFinite(lr) && Number.isFinite(lrEnd) && !(lrEnd < lr)) {
    c.add({ path: 'lrEnd', message: 'must be smaller than lr (as in diffusers)', found: `${lrEnd} (lr ${lr})` });
  }
  const decays = lrScheduleDecays(kind);
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
  return { kind, lr, warmupSteps, totalSteps, cycles, lrEnd, power };
}

/** The schedule as a function of the step; throws ConfigError for an invalid config. */
export function createLrSchedule(config: LrScheduleConfig): LrSchedule {
  const { kind, lr, warmupSteps: W, totalSteps: T, cycles, lrEnd, power } = checkLrScheduleConfig(config);
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
      case 'cosine_with_restarts': {
        if (step >= T) return 0;
        const progress = (step - W) / (T - W);
        return lr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * ((cycles * progress) % 1))));
      }
      case 'polynomial': {
        if (step > T) return lrEnd;
        const remaining = 1 - (step - W) / (T - W);
        return (lr - lrEnd) * remaining ** power + lrEnd;
      }
    }
  };
}
