/**
 * Samplers end to end with test denoisers whose outputs are known in closed form: an "oracle" for
 * data that is one point x*_label per class (its exact x̂ is x*_label whatever z_t is), and a linear
 * denoiser checked against a hand-written loop of ddimStep.
 */
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import type { PredictionType } from '../../src/models/types';
import { NoiseSchedule, convertPrediction, ddimStep, sampleDdim, sampleDdimAsync, sampleDdpm, sampleDdpmAsync } from '../../src/diffusion';
import { EVENT_LOOP_SLICE_MS } from '../../src/event-loop';
import { FunctionDenoiser, assertClose, assertNoLeak } from './helpers';

const SHAPE: [number, number, number] = [2, 2, 1];
const PER = 4;
const xStar = (label: number) => 0.25 * label - 0.5;
const cin256 = NoiseSchedule.fromConfig({ numTrainTimesteps: 1000, betaSchedule: 'scaled_linear', betaStart: 0.0015, betaEnd: 0.0195, setAlphaToOne: false, stepsOffset: 1 });
const toOne = NoiseSchedule.fromConfig({ ...cin256.toConfig(), setAlphaToOne: true });

/** Exact denoiser for point-mass data: x̂ = x*_label, expressed as a `type` prediction. */
function oracle(schedule: NoiseSchedule, type: PredictionType): FunctionDenoiser {
  return new FunctionDenoiser(type, (z, t, labels) => {
    const x = tf.mul(tf.ones(z.shape), tf.reshape(tf.sub(tf.mul(tf.cast(labels, 'float32'), 0.25), 0.5), [-1, 1, 1, 1])) as tf.Tensor4D;
    return convertPrediction(schedule, x, z, t, 'sample', type);
  });
}

const linear = () => new FunctionDenoiser('epsilon', (z, _t, labels) => tf.add(tf.mul(z, 0.3), tf.reshape(tf.mul(tf.cast(labels, 'float32'), 0.1), [-1, 1, 1, 1])) as tf.Tensor4D);

describe('diffusion/sampler: sampleDdim', () => {
  for (const type of ['epsilon', 'sample', 'v_prediction'] as PredictionType[]) {
    it(`an exact ${type} denoiser lands on x*_label (final alpha-bar 1; 2e-4)`, () => {
      assertNoLeak(() => {
        const out = sampleDdim(oracle(toOne, type), toOne, { steps: 8, labels: [0, 3], shape: SHAPE, seed: 7 });
        assertClose(out, [...Array(PER).fill(xStar(0)), ...Array(PER).fill(xStar(3))], 2e-4);
        out.dispose();
      });
    });
  }

  it('guidance: one forward call of batch 2B per step, and the result is x*_u + g·(x*_c − x*_u) (2e-4)', () => {
    const model = oracle(toOne, 'epsilon');
    assertNoLeak(() => {
      const out = sampleDdim(model, toOne, { steps: 5, labels: [1, 2], shape: SHAPE, seed: 1, guidance: { scale: 3 } });
      assert.equal(model.calls.length, 5);
      assert.ok(model.calls.every((c) => c.batch === 4 && c.labels.join() === '1,2,3,3'));
      const u = xStar(3);
      assertClose(out, [...Array(PER).fill(u + 3 * (xStar(1) - u)), ...Array(PER).fill(u + 3 * (xStar(2) - u))], 2e-4);
      out.dispose();
    });
  });

  it('equals a hand-written loop of ddimStep over the diffusers timesteps from the same initial noise (1e-6)', () => {
    assertNoLeak(() => {
      const z0 = tf.tensor4d([0.3, -1.1, 0.8, 0.05, -0.4, 1.6, -0.9, 0.2], [2, 2, 2, 1]);
      const out = sampleDdim(linear(), cin256, { steps: 4, labels: [1, 2], shape: SHAPE, seed: 0, initialNoise: z0 });
      const plan = cin256.inferenceSchedule(4);
      let z = tf.clone(z0);
      const model = linear();
      plan.timesteps.forEach((t, i) => {
        const next = tf.tidy(() => {
          const pred = model.predict(z, tf.fill([2], t) as tf.Tensor1D, tf.tensor1d([1, 2], 'int32'));
          return ddimStep(cin256, { z, prediction: pred, predictionType: 'epsilon', t, tPrev: plan.prevTimesteps[i] }).prev;
        });
        z.dispose();
        z = next;
      });
      assertClose(out, Array.from(z.dataSync()), 1e-6);
      assert.deepEqual(model.calls.map((c) => c.t[0]), [751, 501, 251, 1]);
      tf.dispose([z0, out, z]);
    });
  });

  it('subsequenceOf K visits timesteps_K[i·K/N] (cin256, K = 64, N = 4: 946, 706, 466, 226)', () => {
    const model = linear();
    assertNoLeak(() => {
      sampleDdim(model, cin256, { steps: 4, labels: [0], shape: SHAPE, seed: 3, subsequenceOf: 64 }).dispose();
    });
    assert.deepEqual(model.calls.map((c) => c.t[0]), [946, 706, 466, 226]);
  });

  it('is deterministic given the seed (eta = 0 and eta = 0.5), and the seed matters', () => {
    assertNoLeak(() => {
      const run = (seed: number, eta: number) => {
        const out = sampleDdim(linear(), cin256, { steps: 3, labels: [1, 2], shape: SHAPE, seed, eta });
        const values = Array.from(out.dataSync());
        out.dispose();
        return values;
      };
      assert.deepEqual(run(11, 0), run(11, 0));
      assert.deepEqual(run(11, 0.5), run(11, 0.5));
      assert.notDeepEqual(run(11, 0), run(12, 0));
      assert.notDeepEqual(run(11, 0), run(11, 0.5));
    });
  });

  it('errors: label out of range, wrong initialNoise shape, prevRule with a sub-sequence, cancelled signal (no leak)', () => {
    const model = linear();
    assert.throws(() => sampleDdim(model, cin256, { steps: 2, labels: [4], shape: SHAPE, seed: 0 }), { name: 'ScheduleError', message: 'label 4 is outside 0 … 3' });
    const wrong = tf.zeros([1, 3, 3, 1]) as tf.Tensor4D;
    assert.throws(() => sampleDdim(model, cin256, { steps: 2, labels: [1], shape: SHAPE, seed: 0, initialNoise: wrong }), {
      name: 'ScheduleError',
      message: 'initialNoise has shape [1, 3, 3, 1], expected [1, 2, 2, 1]',
    });
    wrong.dispose();
    assert.throws(() => sampleDdim(model, cin256, { steps: 2, labels: [1], shape: SHAPE, seed: 0, subsequenceOf: 64, prevRule: 'next' }), { name: 'ScheduleError' });
    assertNoLeak(() => {
      const controller = new AbortController();
      let steps = 0;
      assert.throws(
        () => sampleDdim(model, cin256, { steps: 4, labels: [1], shape: SHAPE, seed: 0, signal: controller.signal, onStep: () => ++steps === 2 && controller.abort() }),
        { name: 'CancelledError', message: 'sampling cancelled' },
      );
      assert.equal(steps, 2);
    });
  });
});

describe('diffusion/sampler: sampleDdpm', () => {
  it('an exact denoiser ends on x*_label (the last step has zero variance; 2e-4), even with setAlphaToOne false', () => {
    assertNoLeak(() => {
      const out = sampleDdpm(oracle(cin256, 'v_prediction'), cin256, { steps: 10, labels: [2, 0], shape: SHAPE, seed: 5 });
      assertClose(out, [...Array(PER).fill(xStar(2)), ...Array(PER).fill(xStar(0))], 2e-4);
      out.dispose();
    });
  });

  it('is deterministic given the seed and visits the diffusers timesteps (t − T div N)', () => {
    const model = linear();
    assertNoLeak(() => {
      const a = sampleDdpm(model, cin256, { steps: 4, labels: [1], shape: SHAPE, seed: 9 });
      const b = sampleDdpm(linear(), cin256, { steps: 4, labels: [1], shape: SHAPE, seed: 9 });
      assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
      tf.dispose([a, b]);
    });
    assert.deepEqual(model.calls.map((c) => c.t[0]), [751, 501, 251, 1]);
  });
});

describe('diffusion/sampler: the asynchronous samplers', () => {
  const cin = NoiseSchedule.fromConfig({ numTrainTimesteps: 1000, betaSchedule: 'scaled_linear', betaStart: 0.0015, betaEnd: 0.0195, predictionType: 'epsilon', setAlphaToOne: false });
  const slowModel = (ms: number) => new FunctionDenoiser('epsilon', (z) => {
    const until = performance.now() + ms;
    while (performance.now() < until) { /* a step that computes for `ms` */ }
    return tf.mul(z, 0.1) as tf.Tensor4D;
  });

  it('sampleDdimAsync / sampleDdpmAsync give bit-identical results to the synchronous samplers, with no leaked tensor', async () => {
    const before = tf.memory().numTensors;
    for (const eta of [0, 0.5]) {
      const a = sampleDdim(slowModel(0), cin, { steps: 5, labels: [0, 3], shape: [2, 2, 1], seed: 4, eta });
      const b = await sampleDdimAsync(slowModel(0), cin, { steps: 5, labels: [0, 3], shape: [2, 2, 1], seed: 4, eta });
      assert.deepEqual(Array.from(b.dataSync()), Array.from(a.dataSync()));
      tf.dispose([a, b]);
    }
    const c = sampleDdpm(slowModel(0), cin, { steps: 4, labels: [1], shape: [2, 2, 1], seed: 9 });
    const d = await sampleDdpmAsync(slowModel(0), cin, { steps: 4, labels: [1], shape: [2, 2, 1], seed: 9 });
    assert.deepEqual(Array.from(d.dataSync()), Array.from(c.dataSync()));
    tf.dispose([c, d]);
    assert.equal(tf.memory().numTensors, before);
  });

  it('gives timers a turn while it samples (a step computing for 1.5 × the slice lets a 1 ms timer fire before the last step)', async () => {
    let fired = 0;
    const timer = setInterval(() => fired++, 1);
    let firedAtLastStep = -1;
    try {
      const out = await sampleDdimAsync(slowModel(1.5 * EVENT_LOOP_SLICE_MS), cin, {
        steps: 4, labels: [1], shape: [2, 2, 1], seed: 1, onStep: (i, n) => { if (i === n) firedAtLastStep = fired; },
      });
      out.dispose();
    } finally {
      clearInterval(timer);
    }
    // Synchronous sampling would run all four steps before the timer's first turn (firedAtLastStep 0).
    assert.ok(firedAtLastStep >= 2, `timer callbacks before the last step: ${firedAtLastStep}`);
  });

  it('stops at the next step when the signal aborts, and releases its tensors', async () => {
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    await assert.rejects(sampleDdimAsync(slowModel(0), cin, {
      steps: 10, labels: [1], shape: [2, 2, 1], seed: 1, signal: controller.signal, onStep: (i) => { if (i === 3) controller.abort(); },
    }), { name: 'CancelledError', message: 'sampling cancelled' });
    assert.equal(tf.memory().numTensors, before);
  });
});
