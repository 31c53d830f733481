/**
 * Classifier-free guidance (spec section 4): both conventions, linearity across prediction types,
 * rescale, and batching of the two passes into one forward call. Expected values are the spec's
 * formulas evaluated in float64 here.
 */
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import {
  NoiseSchedule,
  combineGuidance,
  convertPrediction,
  guidanceScale,
  guidanceWeight,
  guidedPredict,
  rescaleGuidance,
} from '../../src/diffusion';
import { FunctionDenoiser, assertClose, assertNoLeak, wave } from './helpers';

const SHAPE: [number, number, number, number] = [2, 2, 2, 2];
const cond = wave(16, 0.5);
const uncond = wave(16, 3.1, 0.6);

/** A label-dependent denoiser: p = 0.5·z + 0.1·label (+ 0.01·w when it takes w). */
function labelDenoiser(takesW = false): FunctionDenoiser {
  return new FunctionDenoiser(
    'epsilon',
    (z, _t, labels, w) => {
      let out = tf.add(tf.mul(z, 0.5), tf.reshape(tf.mul(tf.cast(labels, 'float32'), 0.1), [-1, 1, 1, 1]));
      if (w) out = tf.add(out, tf.reshape(tf.mul(w, 0.01), [-1, 1, 1, 1]));
      return out as tf.Tensor4D;
    },
    11,
    10,
    takesW,
  );
}

describe('diffusion/guidance: conventions', () => {
  it('scale g: p̂ = p̂_u + g·(p̂_c − p̂_u); weight w = g − 1: p̂ = (1 + w)·p̂_c − w·p̂_u — the same numbers (1e-5)', () => {
    assertNoLeak(() => {
      const c = tf.tensor4d(cond, SHAPE);
      const u = tf.tensor4d(uncond, SHAPE);
      const byScale = combineGuidance(c, u, { scale: 5 });
      const byWeight = combineGuidance(c, u, { weight: 4 });
      assertClose(byScale, cond.map((ci, i) => uncond[i] + 5 * (ci - uncond[i])), 1e-5);
      assertClose(byWeight, cond.map((ci, i) => 5 * ci - 4 * uncond[i]), 1e-5);
      // g = 1 / w = 0 is no guidance.
      const none = combineGuidance(c, u, { weight: 0 });
      assertClose(none, cond, 1e-7);
      tf.dispose([c, u, byScale, byWeight, none]);
    });
    assert.equal(guidanceScale({ weight: 2.5 }), 3.5);
    assert.equal(guidanceWeight({ scale: 3.5 }), 2.5);
  });

  it('per-example strengths ([B] tensors), as stage one samples w per example', () => {
    assertNoLeak(() => {
      const c = tf.tensor4d(cond, SHAPE);
      const u = tf.tensor4d(uncond, SHAPE);
      const w = tf.tensor1d([0, 3]);
      const out = combineGuidance(c, u, { weight: w });
      const ws = [0, 3];
      assertClose(out, cond.map((ci, i) => (1 + ws[Math.floor(i / 8)]) * ci - ws[Math.floor(i / 8)] * uncond[i]), 1e-5);
      tf.dispose([c, u, w, out]);
    });
  });

  it('refuses both or neither of scale and weight, and φ outside [0, 1]', () => {
    const c = tf.zeros([1, 1, 1, 1]) as tf.Tensor4D;
    assert.throws(() => combineGuidance(c, c, { scale: 2, weight: 1 } as never), {
      name: 'ScheduleError',
      message: 'guidance must give exactly one of "scale" (g, 1 = none) or "weight" (w = g − 1, 0 = none)',
    });
    assert.throws(() => combineGuidance(c, c, {} as never), { name: 'ScheduleError' });
    assert.throws(() => combineGuidance(c, c, { scale: 2 }, 1.5), { name: 'ScheduleError', message: 'guidance rescale φ must be in [0, 1] (found 1.5)' });
    c.dispose();
  });

  it('linearity: guiding ε̂ then converting equals converting then guiding, for x̂ and v̂ (3e-4)', () => {
    const schedule = NoiseSchedule.fromConfig({ betaSchedule: 'scaled_linear', betaStart: 0.0015, betaEnd: 0.0195 });
    assertNoLeak(() => {
      const z = tf.tensor4d(wave(16, 1.9), SHAPE);
      const t = tf.tensor1d([120, 870]);
      const c = tf.tensor4d(cond, SHAPE);
      const u = tf.tensor4d(uncond, SHAPE);
      const guidedEps = combineGuidance(c, u, { scale: 4 });
      for (const to of ['sample', 'v_prediction'] as const) {
        const viaEps = convertPrediction(schedule, guidedEps, z, t, 'epsilon', to);
        const cTo = convertPrediction(schedule, c, z, t, 'epsilon', to);
        const uTo = convertPrediction(schedule, u, z, t, 'epsilon', to);
        const direct = combineGuidance(cTo, uTo, { scale: 4 });
        assertClose(direct, Array.from(viaEps.dataSync()), 3e-4, to);
        tf.dispose([viaEps, cTo, uTo, direct]);
      }
      tf.dispose([z, t, c, u, guidedEps]);
    });
  });
});

describe('diffusion/guidance: rescale φ', () => {
  const std = (v: number[]) => {
    const m = v.reduce((p, q) => p + q, 0) / v.length;
    return Math.sqrt(v.reduce((p, q) => p + (q - m) ** 2, 0) / v.length);
  };
  it('φ = 0 leaves p̂; φ = 1 gives std(p̂_c) per example; φ = 0.7 matches the formula (1e-5)', () => {
    assertNoLeak(() => {
      const g = wave(16, 2.7, 3);
      const guided = tf.tensor4d(g, SHAPE);
      const c = tf.tensor4d(cond, SHAPE);
      const r0 = rescaleGuidance(guided, c, 0);
      assertClose(r0, g, 1e-6);
      const r1Tensor = rescaleGuidance(guided, c, 1);
      const r1 = Array.from(r1Tensor.dataSync());
      const r07 = rescaleGuidance(guided, c, 0.7);
      const expected: number[] = [];
      for (let b = 0; b < 2; b++) {
        const gb = g.slice(8 * b, 8 * b + 8);
        const cb = cond.slice(8 * b, 8 * b + 8);
        assert.ok(Math.abs(std(r1.slice(8 * b, 8 * b + 8)) - std(cb)) < 1e-5);
        const ratio = std(cb) / std(gb);
        expected.push(...gb.map((v) => 0.7 * v * ratio + 0.3 * v));
      }
      assertClose(r07, expected, 1e-5);
      tf.dispose([guided, c, r0, r1Tensor, r07]);
    });
  });
});

describe('diffusion/guidance: guidedPredict batches both passes into one forward call', () => {
  it('one predict call of batch 2B: [z; z], [t; t], [labels; null] — and the guided combination of its halves', () => {
    const model = labelDenoiser();
    assertNoLeak(() => {
      const z = tf.tensor4d(wave(16, 0.2), SHAPE);
      const t = tf.tensor1d([5, 7]);
      const labels = tf.tensor1d([2, 4], 'int32');
      const out = guidedPredict(model, z, t, labels, { guidance: { scale: 3 } });
      assert.equal(model.calls.length, 1);
      assert.deepEqual(model.calls[0], { batch: 4, t: [5, 7, 5, 7], labels: [2, 4, 10, 10], w: undefined });
      const zs = wave(16, 0.2);
      const lab = [2, 4];
      // p_c = 0.5 z + 0.1 label, p_u = 0.5 z + 0.1·10 → p = p_u + 3 (p_c − p_u).
      assertClose(out, zs.map((v, i) => 0.5 * v + 1.0 + 3 * 0.1 * (lab[Math.floor(i / 8)] - 10)), 1e-5);
      tf.dispose([z, t, labels, out]);
    });
  });

  it('no guidance, or g = 1, is one conditional pass of batch B', () => {
    const model = labelDenoiser();
    assertNoLeak(() => {
      const z = tf.tensor4d(wave(16, 0.2), SHAPE);
      const t = tf.tensor1d([5, 7]);
      const labels = tf.tensor1d([2, 4], 'int32');
      tf.dispose([guidedPredict(model, z, t, labels), guidedPredict(model, z, t, labels, { guidance: { weight: 0 } })]);
      assert.deepEqual(model.calls.map((c) => c.batch), [2, 2]);
      assert.deepEqual(model.calls[1].labels, [2, 4]);
      tf.dispose([z, t, labels]);
    });
  });

  it('a w-conditioned model (stage-one student) gets w = g − 1 in a single pass; rescale is refused', () => {
    const model = labelDenoiser(true);
    assertNoLeak(() => {
      const z = tf.tensor4d(wave(16, 0.2), SHAPE);
      const t = tf.tensor1d([5, 7]);
      const labels = tf.tensor1d([2, 4], 'int32');
      const out = guidedPredict(model, z, t, labels, { guidance: { scale: 3 } });
      assert.deepEqual(model.calls[0], { batch: 2, t: [5, 7], labels: [2, 4], w: [2, 2] });
      out.dispose();
      assert.throws(() => guidedPredict(model, z, t, labels, { guidance: { scale: 3 }, rescale: 0.5 }), {
        name: 'ScheduleError',
        message: 'guidance rescale needs separate conditional and unconditional passes; this model takes the guidance weight w directly',
      });
      tf.dispose([z, t, labels]);
    });
  });
});
