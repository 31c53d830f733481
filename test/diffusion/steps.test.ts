/**
 * Forward noising, prediction conversions, and DDIM / DDPM steps against float64 evaluations of the
 * spec's formulas (sections 1–3) computed here from the schedule's alpha-bar. Tensors are float32, so
 * tolerances allow float32 rounding amplified by 1/a_t (a_999 ≈ 0.012 for cin256): 3e-4 absolute where
 * a division by a_t or s_t is involved, 1e-5 otherwise.
 */
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import type { PredictionType } from '../../src/models/types';
import {
  NoiseSchedule,
  addNoise,
  convertPrediction,
  ddimStep,
  ddpmStep,
  gatherSchedule,
  predictionToSampleAndNoise,
  velocity,
} from '../../src/diffusion';
import { assertClose, assertNoLeak, wave } from './helpers';

const schedule = NoiseSchedule.fromConfig({ numTrainTimesteps: 1000, betaSchedule: 'scaled_linear', betaStart: 0.0015, betaEnd: 0.0195, setAlphaToOne: false, stepsOffset: 1 });
const SHAPE: [number, number, number, number] = [3, 2, 2, 2];
const PER = 8;
const T_VALUES = [0, 500, 999];
const TYPES: PredictionType[] = ['epsilon', 'sample', 'v_prediction'];

const xVals = wave(24, 0.1);
const eVals = wave(24, 2.0);
const a = (t: number) => Math.sqrt(schedule.alphaCumprodAt(t));
const s = (t: number) => Math.sqrt(1 - schedule.alphaCumprodAt(t));
/** Per-element float64 map using the example's timestep. */
const perElement = (ts: number[], f: (i: number, t: number) => number) => Array.from({ length: 24 }, (_, i) => f(i, ts[Math.floor(i / PER)]));

const zExpected = perElement(T_VALUES, (i, t) => a(t) * xVals[i] + s(t) * eVals[i]);
const vExpected = perElement(T_VALUES, (i, t) => a(t) * eVals[i] - s(t) * xVals[i]);
const truth: Record<PredictionType, number[]> = { epsilon: eVals, sample: xVals, v_prediction: vExpected };

function tensors() {
  return {
    x: tf.tensor4d(xVals, SHAPE),
    eps: tf.tensor4d(eVals, SHAPE),
    t: tf.tensor1d(T_VALUES, 'float32'),
  };
}

describe('diffusion: forward noising and v', () => {
  it('addNoise = a_t·x + s_t·ε and velocity = a_t·ε − s_t·x per example (1e-5)', () => {
    assertNoLeak(() => {
      const { x, eps, t } = tensors();
      const z = addNoise(schedule, x, eps, t);
      const v = velocity(schedule, x, eps, t);
      assertClose(z, zExpected, 1e-5, 'z');
      assertClose(v, vExpected, 1e-5, 'v');
      tf.dispose([x, eps, t, z, v]);
    });
  });

  it('accepts one number timestep for the batch and int32 timestep tensors', () => {
    assertNoLeak(() => {
      const x = tf.tensor4d(xVals, SHAPE);
      const eps = tf.tensor4d(eVals, SHAPE);
      const z = addNoise(schedule, x, eps, 500);
      assertClose(z, Array.from({ length: 24 }, (_, i) => a(500) * xVals[i] + s(500) * eVals[i]), 1e-5);
      const ti = tf.tensor1d(T_VALUES, 'int32');
      const zi = addNoise(schedule, x, eps, ti);
      assertClose(zi, zExpected, 1e-5);
      tf.dispose([x, eps, z, ti, zi]);
    });
  });

  it('is differentiable: d(sum z)/dx = a_t and d(sum z)/dε = s_t per example (1e-6)', () => {
    assertNoLeak(() => {
      const { x, eps, t } = tensors();
      const [gx, ge] = tf.grads((xx: tf.Tensor, ee: tf.Tensor) => tf.sum(addNoise(schedule, xx as tf.Tensor4D, ee as tf.Tensor4D, t)))([x, eps]);
      assertClose(gx, perElement(T_VALUES, (_, tt) => a(tt)), 1e-6, 'dx');
      assertClose(ge, perElement(T_VALUES, (_, tt) => s(tt)), 1e-6, 'deps');
      tf.dispose([x, eps, t, gx, ge]);
    });
  });

  it('gatherSchedule: negative timesteps read the final alpha-bar (alpha-bar_0 here, set_alpha_to_one false)', () => {
    assertNoLeak(() => {
      const t = tf.tensor1d([-1, -14, 0, 999]);
      const ab = gatherSchedule(schedule, 'alphaCumprod', t);
      assertClose(ab, [schedule.alphasCumprod[0], schedule.alphasCumprod[0], schedule.alphasCumprod[0], schedule.alphasCumprod[999]], 1e-9);
      tf.dispose([t, ab]);
    });
  });
});

describe('diffusion: prediction conversions (spec section 2)', () => {
  for (const from of TYPES) {
    for (const to of TYPES) {
      it(`${from} → ${to} recovers the true ${to} from the true ${from} (3e-4)`, () => {
        assertNoLeak(() => {
          const t = tf.tensor1d(T_VALUES, 'float32');
          const z = tf.tensor4d(zExpected, SHAPE);
          const p = tf.tensor4d(truth[from], SHAPE);
          const out = convertPrediction(schedule, p, z, t, from, to);
          assertClose(out, truth[to], 3e-4, `${from}→${to}`);
          tf.dispose([t, z, p, out]);
        });
      });
    }
    it(`predictionToSampleAndNoise(${from}) gives back (x, ε) (3e-4)`, () => {
      assertNoLeak(() => {
        const t = tf.tensor1d(T_VALUES, 'float32');
        const z = tf.tensor4d(zExpected, SHAPE);
        const p = tf.tensor4d(truth[from], SHAPE);
        const { x0, eps } = predictionToSampleAndNoise(schedule, p, z, t, from);
        assertClose(x0, xVals, 3e-4, 'x0');
        assertClose(eps, eVals, 3e-4, 'eps');
        tf.dispose([t, z, p, x0, eps]);
      });
    });
  }

  it('refuses an unknown prediction type by name', () => {
    const z = tf.zeros([1, 1, 1, 1]) as tf.Tensor4D;
    assert.throws(() => convertPrediction(schedule, z, z, 0, 'noise' as PredictionType, 'sample'), {
      name: 'ScheduleError',
      message: 'unknown prediction type "noise" (expected "epsilon", "sample" or "v_prediction")',
    });
    z.dispose();
  });
});

describe('diffusion: DDIM step (spec section 3)', () => {
  const T_PREV = [-1, 485, 984];
  for (const type of TYPES) {
    it(`identity: exact ${type} prediction steps to a_prev·x + s_prev·ε, final alpha-bar for t_prev < 0 (3e-4)`, () => {
      assertNoLeak(() => {
        const t = tf.tensor1d(T_VALUES, 'float32');
        const tPrev = tf.tensor1d(T_PREV);
        const z = tf.tensor4d(zExpected, SHAPE);
        const p = tf.tensor4d(truth[type], SHAPE);
        const { prev, x0, eps } = ddimStep(schedule, { z, prediction: p, predictionType: type, t, tPrev });
        assertClose(prev, perElement(T_PREV, (i, tp) => a(tp) * xVals[i] + s(tp) * eVals[i]), 3e-4, 'prev');
        assertClose(x0, xVals, 3e-4);
        assertClose(eps, eVals, 3e-4);
        tf.dispose([t, tPrev, z, p, prev, x0, eps]);
      });
    });
  }

  it('spec section 6: with v-prediction, v̂ from the true (x, ε) steps t=946 → t_prev=931 to exactly a_prev·x + s_prev·ε (1e-5)', () => {
    assertNoLeak(() => {
      const x = tf.tensor4d(xVals, SHAPE);
      const e = tf.tensor4d(eVals, SHAPE);
      const z = addNoise(schedule, x, e, 946);
      const v = velocity(schedule, x, e, 946);
      const { prev, x0, eps } = ddimStep(schedule, { z, prediction: v, predictionType: 'v_prediction', t: 946, tPrev: 931 });
      assertClose(prev, xVals.map((xi, i) => a(931) * xi + s(931) * eVals[i]), 1e-5);
      tf.dispose([x, e, z, v, prev, x0, eps]);
    });
  });

  it('eta > 0 adds the DDIM variance σ = eta·sqrt((1−ᾱp)/(1−ᾱt)·(1−ᾱt/ᾱp)) with the given noise (hand formula, 3e-4)', () => {
    assertNoLeak(() => {
      const eta = 0.7;
      const n = wave(24, 4.0);
      const t = tf.tensor1d(T_VALUES, 'float32');
      const tPrev = tf.tensor1d(T_PREV);
      const z = tf.tensor4d(zExpected, SHAPE);
      const p = tf.tensor4d(eVals, SHAPE);
      const noise = tf.tensor4d(n, SHAPE);
      const { prev, x0, eps } = ddimStep(schedule, { z, prediction: p, predictionType: 'epsilon', t, tPrev, eta, noise });
      const expected = Array.from({ length: 24 }, (_, i) => {
        const tt = T_VALUES[Math.floor(i / PER)];
        const tp = T_PREV[Math.floor(i / PER)];
        const abT = schedule.alphaCumprodAt(tt);
        const abP = schedule.alphaCumprodAt(tp);
        const sigma = eta * Math.sqrt(((1 - abP) / (1 - abT)) * (1 - abT / abP));
        return Math.sqrt(abP) * xVals[i] + Math.sqrt(1 - abP - sigma * sigma) * eVals[i] + sigma * n[i];
      });
      assertClose(prev, expected, 3e-4);
      tf.dispose([t, tPrev, z, p, noise, prev, x0, eps]);
    });
  });

  it('clip bounds x̂ and keeps the unclipped ε̂ for the direction', () => {
    assertNoLeak(() => {
      const z = tf.tensor4d([5, -5, 0.5, 0], [1, 2, 2, 1]);
      const p = tf.tensor4d([3, -3, 0.5, 0], [1, 2, 2, 1]);
      const { prev, x0, eps } = ddimStep(schedule, { z, prediction: p, predictionType: 'sample', t: 500, tPrev: 400, clip: 1 });
      assertClose(x0, [1, -1, 0.5, 0], 1e-6);
      const epsExpected = [5, -5, 0.5, 0].map((zi, i) => (zi - a(500) * [3, -3, 0.5, 0][i]) / s(500));
      assertClose(eps, epsExpected, 1e-4);
      assertClose(prev, [1, -1, 0.5, 0].map((xi, i) => a(400) * xi + s(400) * epsExpected[i]), 1e-4);
      tf.dispose([z, p, prev, x0, eps]);
    });
  });

  it('errors: eta outside [0, 1], eta > 0 without noise', () => {
    const z = tf.zeros([1, 1, 1, 1]) as tf.Tensor4D;
    assert.throws(() => ddimStep(schedule, { z, prediction: z, predictionType: 'epsilon', t: 10, tPrev: 0, eta: 1.5 }), { name: 'ScheduleError', message: 'DDIM eta must be in [0, 1] (found 1.5)' });
    assert.throws(() => ddimStep(schedule, { z, prediction: z, predictionType: 'epsilon', t: 10, tPrev: 0, eta: 0.5 }), {
      name: 'ScheduleError',
      message: 'a DDIM step with eta > 0 needs standard normal noise (input.noise)',
    });
    z.dispose();
  });
});

describe('diffusion: DDPM step', () => {
  it('equals a DDIM step with eta = 1 and the same noise (the posterior of the forward process; 3e-4)', () => {
    assertNoLeak(() => {
      const n = wave(24, 5.0);
      const t = tf.tensor1d(T_VALUES, 'float32');
      const tPrev = tf.tensor1d([-1, 400, 998]);
      const z = tf.tensor4d(zExpected, SHAPE);
      // A prediction that is not exact, so the test covers more than the identity.
      const p = tf.tensor4d(wave(24, 1.3), SHAPE);
      const noise = tf.tensor4d(n, SHAPE);
      // DDPM ends on alpha-bar 1; compare with a schedule whose final alpha-bar is 1 as well.
      const one = NoiseSchedule.fromConfig({ ...schedule.toConfig(), setAlphaToOne: true });
      const ddpm = ddpmStep(one, { z, prediction: p, predictionType: 'epsilon', t, tPrev, noise });
      const ddim = ddimStep(one, { z, prediction: p, predictionType: 'epsilon', t, tPrev, eta: 1, noise });
      assertClose(ddpm.prev, Array.from(ddim.prev.dataSync()), 3e-4);
      // And the last step (t_prev < 0) adds no noise: it returns x̂ (alpha-bar_prev = 1) even on a schedule with setAlphaToOne false.
      const last = ddpmStep(schedule, { z, prediction: p, predictionType: 'epsilon', t, tPrev, noise });
      assertClose(Array.from(last.prev.dataSync()).slice(0, PER), Array.from(last.x0.dataSync()).slice(0, PER), 1e-5);
      tf.dispose([t, tPrev, z, p, noise, ddpm.prev, ddpm.x0, ddim.prev, ddim.x0, ddim.eps, last.prev, last.x0]);
    });
  });
});
