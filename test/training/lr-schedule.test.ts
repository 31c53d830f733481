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

  it('rejects invalid configs, listing every problem', () => {
    assert.throws(() => checkLrScheduleConfig({ kind: 'linear', lr: -1, warmupSteps: 1.5, decay: 3 }),
      (e: unknown) => e instanceof ConfigError && e.message.startsWith('invalid learning-rate schedule:') &&
        e.message.includes('decay: unknown key') &&
        e.message.includes('lr: out of range or of the wrong type (expected a finite number ≥ 0, found -1)') &&
        e.message.includes('warmupSteps: out of range or of the wrong type (expected an integer ≥ 0, found 1.5)') &&
        e.message.includes('totalSteps: is required'));
    assert.throws(() => checkLrScheduleConfig({ kind: 'cosine', lr: 1, warmupSteps: 5, totalSteps: 5 }),
      /warmupSteps: must be smaller than totalSteps \(found 5 \(totalSteps 5\)\)/);
    assert.throws(() => checkLrScheduleConfig({ kind: 'constant', lr: 1, warmupSteps: 3 }),
      /warmupSteps: the "constant" schedule has no warmup \(found 3\) — use kind "constant_with_warmup"/);
    assert.throws(() => checkLrScheduleConfig({ kind: 'constant_with_warmup', lr: 1 }),
      /warmupSteps: is required \(≥ 1\) for "constant_with_warmup"/);
    assert.throws(() => checkLrScheduleConfig({ kind: 'step', lr: 1 }),
      /kind: unknown value \(expected "constant" \| "constant_with_warmup" \| "linear" \| "cosine", found "step"\)/);
    assert.throws(() => createLrSchedule({ kind: 'constant', lr: 1 })(-1), /step must be a non-negative integer, found -1/);
  });
});
