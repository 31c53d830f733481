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
import type { Problem } from '../errors';
import { applySchema, throwIfProblems } from '../schema/check';

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

const DECAYING_KINDS = LR_SCHEDULE_KINDS.filter(lrScheduleDecays);
const TOTAL_STEPS = {
  type: 'integer', minimum: 1,
  description: 'Total updates T, > warmupSteps; required by the decaying schedules (linear, cosine, cosine_with_restarts, polynomial).',
} as const;

/** The JSON Schema of a learning-rate schedule config (checked by the shared validation layer, src/schema/check.ts). */
export const lrScheduleConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'lr'],
  properties: {
    kind: { enum: [...LR_SCHEDULE_KINDS], description: 'The schedule: constant, constant_with_warmup, linear, cosine, cosine_with_restarts or polynomial.' },
    lr: { type: 'number', minimum: 0, description: 'Peak learning rate (≥ 0).' },
    warmupSteps: { type: 'integer', minimum: 0, default: 0, description: 'Warm-up updates W (≥ 1 for constant_with_warmup, 0 for constant).' },
    totalSteps: TOTAL_STEPS,
    cycles: { type: 'integer', minimum: 1, default: 1, description: 'Hard restarts of cosine_with_restarts (diffusers\' num_cycles).' },
    lrEnd: { type: 'number', minimum: 0, default: 1e-7, description: 'Final learning rate of polynomial (diffusers\' lr_end), below lr.' },
    power: { type: 'number', exclusiveMinimum: 0, default: 1, description: 'Exponent of polynomial (diffusers\' power).' },
  },
  if: { properties: { kind: { enum: DECAYING_KINDS } }, required: ['kind'] },
  then: { properties: { totalSteps: TOTAL_STEPS }, required: ['totalSteps'] },
} as const;

/**
 * Validates a schedule config: the schema (every problem at once, unknown keys are errors, defaults
 * filled), then the cross-field rules. `totalSteps` is 0 for the schedules that do not decay.
 */
export function checkLrScheduleConfig(config: unknown): Required<LrScheduleConfig> {
  const what = 'learning-rate schedule';
  const c = applySchema<LrScheduleConfig & { warmupSteps: number; cycles: number; lrEnd: number; power: number }>(what, lrScheduleConfigSchema, config ?? null);
  const { kind, lr, warmupSteps, cycles, lrEnd, power } = c;
  const totalSteps = c.totalSteps ?? 0;
  const problems: Problem[] = [];
  if (kind === 'polynomial' && !(lrEnd < lr)) {
    problems.push({ path: 'lrEnd', message: 'must be smaller than lr (as in diffusers)', found: `${lrEnd} (lr ${lr})` });
  }
  if (kind === 'constant' && warmupSteps > 0) {
    problems.push({ path: 'warmupSteps', message: 'the "constant" schedule has no warmup', found: String(warmupSteps), hint: 'use kind "constant_with_warmup"' });
  }
  if (kind === 'constant_with_warmup' && warmupSteps === 0) {
    problems.push({ path: 'warmupSteps', message: 'is required (≥ 1) for "constant_with_warmup"', hint: 'or use kind "constant"' });
  }
  if (lrScheduleDecays(kind) && warmupSteps >= totalSteps) {
    problems.push({ path: 'warmupSteps', message: 'must be smaller than totalSteps', found: `${warmupSteps} (totalSteps ${totalSteps})` });
  }
  throwIfProblems(what, problems);
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
