import { strict as assert } from 'node:assert';
import { ConfigError } from '../../src/errors';
import { checkLrScheduleConfig, createLrSchedule, type LrScheduleConfig } from '../../src/training/lr-schedule';
import { assertClose } from './helpers';

function values(config: LrScheduleConfig, n: number): number[] {
  const f = createLrSchedule(config);
  return Array.from({ length: n }, (_, s) => f(s));
}

describe('training/lr-schedule', () => {
  // Expected values from the formulas in the module comment, evaluated by hand (tolerance 1e-12).
  it('constant', () => {
    assert.deepEqual(values({ kind: 'constant', lr: 0.3 }, 4), [0.3, 0.3, 0.3, 0.3]);
  });

  it('constant_with_warmup: (step + 1)/W during warmup, then constant', () => {
    assertClose(values({ kind: 'constant_with_warmup', lr: 1, warmupSteps: 4 }, 6), [0.25, 0.5, 0.75, 1, 1, 1], 1e-12);
  });

  it('linear: warmup, then down to 0 at totalSteps and 0 after', () => {
    // W = 2, T = 6: 0.5, 1, then (6 − s)/4 for s = 2…5: 1, 0.75, 0.5, 0.25; 0 from s = 6.
    assertClose(values({ kind: 'linear', lr: 2, warmupSteps: 2, totalSteps: 6 }, 8),
      [1, 2, 2, 1.5, 1, 0.5, 0, 0], 1e-12);
    assertClose(values({ kind: 'linear', lr: 1, totalSteps: 4 }, 5), [1, 0.75, 0.5, 0.25, 0], 1e-12);
  });

  it('cosine: warmup, then ½(1 + cos(π·progress))', () => {
    // W = 2, T = 6: s = 3 → ½(1 + cos(π/4)) = 0.8535533906, s = 4 → 0.5, s = 5 → ½(1 − cos(π/4)) = 0.1464466094.
    assertClose(values({ kind: 'cosine', lr: 1, warmupSteps: 2, totalSteps: 6 }, 7),
      [0.5, 1, 1, 0.8535533905932737, 0.5, 0.14644660940672627, 0], 1e-12);
  });

  it('cosine_with_restarts: diffusers\' hard restarts, ½(1 + cos(π·((C·progress) mod 1)))', () => {
    // diffusers get_cosine_with_hard_restarts_schedule_with_warmup, W = 0, T = 8, C = 2 (by hand):
    // C·progress = s/4 → s = 0: 1, s = 1: ½(1 + cos(π/4)), s = 2: ½, s = 3: ½(1 − cos(π/4)), s = 4: restart at 1, …; 0 from T.
    const c = 0.8535533905932737;
    const d = 0.14644660940672627;
    assertClose(values({ kind: 'cosine_with_restarts', lr: 1, totalSteps: 8, cycles: 2 }, 9), [1, c, 0.5, d, 1, c, 0.5, d, 0], 1e-12);
    // One cycle is the plain cosine.
    assertClose(values({ kind: 'cosine_with_restarts', lr: 1, warmupSteps: 2, totalSteps: 6 }, 7),
      values({ kind: 'cosine', lr: 1, warmupSteps: 2, totalSteps: 6 }, 7), 1e-15);
  });

  it('polynomial: diffusers\' (lr − lrEnd)·(1 − progress)^power + lrEnd, lrEnd after T', () => {
    // diffusers get_polynomial_decay_schedule_with_warmup, lr 1, lrEnd 0.1, power 2, W = 2, T = 6 (by hand):
    // s = 2: 1; s = 3: 0.9·0.75² + 0.1 = 0.60625; s = 4: 0.9·0.25 + 0.1 = 0.325; s = 5: 0.9·0.0625 + 0.1 = 0.15625; s ≥ 6: 0.1.
    assertClose(values({ kind: 'polynomial', lr: 1, warmupSteps: 2, totalSteps: 6, lrEnd: 0.1, power: 2 }, 8),
      [0.5, 1, 1, 0.60625, 0.325, 0.15625, 0.1, 0.1], 1e-12);
    // Defaults lrEnd 1e-7, power 1: linear to 1e-7 (T = 4: s = 2 → (1 − 1e-7)·0.5 + 1e-7).
    assertClose(values({ kind: 'polynomial', lr: 1, totalSteps: 4 }, 5).slice(2, 3), [0.50000005], 1e-12);
    assert.throws(() => checkLrScheduleConfig({ kind: 'polynomial', lr: 1e-5, totalSteps: 4, lrEnd: 1e-4, cycles: 0 }),
      (e: unknown) => e instanceof ConfigError && e.message === 'invalid learning-rate schedule:\n  cycles: must be >= 1 (found 0)');
    // The cross-field rules run once the schema passes.
    assert.throws(() => checkLrScheduleConfig({ kind: 'polynomial', lr: 1e-5, totalSteps: 4, lrEnd: 1e-4 }),
      (e: unknown) => e instanceof ConfigError &&
        e.message === 'invalid learning-rate schedule:\n  lrEnd: must be smaller than lr (as in diffusers) (found 0.0001 (lr 0.00001))');
  });

  it('rejects invalid configs, listing every problem', () => {
    assert.throws(() => checkLrScheduleConfig({ kind: 'linear', lr: -1, warmupSteps: 1.5, decay: 3 }),
      (e: unknown) => e instanceof ConfigError && e.message === [
        'invalid learning-rate schedule:',
        '  missing required property "totalSteps" — "totalSteps": Total updates T, > warmupSteps; required by the decaying ' +
          'schedules (linear, cosine, cosine_with_restarts, polynomial).',
        '  decay: unknown property "decay" — known properties: "kind", "lr", "warmupSteps", "totalSteps", "cycles", "lrEnd", "power"',
        '  lr: must be >= 0 (found -1)',
        '  warmupSteps: must be an integer (expected integer, found number 1.5)',
      ].join('\n'));
    assert.throws(() => checkLrScheduleConfig({ kind: 'cosine', lr: 1, warmupSteps: 5, totalSteps: 5 }),
      /warmupSteps: must be smaller than totalSteps \(found 5 \(totalSteps 5\)\)/);
    assert.throws(() => checkLrScheduleConfig({ kind: 'constant', lr: 1, warmupSteps: 3 }),
      /warmupSteps: the "constant" schedule has no warmup \(found 3\) — use kind "constant_with_warmup"/);
    assert.throws(() => checkLrScheduleConfig({ kind: 'constant_with_warmup', lr: 1 }),
      /warmupSteps: is required \(≥ 1\) for "constant_with_warmup"/);
    assert.throws(() => checkLrScheduleConfig({ kind: 'step', lr: 1 }),
      /kind: must be one of "constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial" \(found "step"\)$/);
    assert.throws(() => checkLrScheduleConfig({ kind: 'cosine_with_restart', lr: 1, totalSteps: 10 }),
      /kind: must be one of .* \(found "cosine_with_restart"\) — did you mean "cosine_with_restarts"\?$/);
    assert.throws(() => createLrSchedule({ kind: 'constant', lr: 1 })(-1), /step must be a non-negative integer, found -1/);
  });
});
