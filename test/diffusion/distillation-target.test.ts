/**
 * Stage two (spec 5.3): the sub-sequence schedule, the (t, t', t'') triples, and the target x̃,
 * checked against a hand calculation (float64, from the formulas, in this file) and against the spec's
 * section-6 identity (an exact teacher gives x̃ = x).
 */
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import type { PredictionType } from '../../src/models/types';
import {
  NoiseSchedule,
  addNoise,
  convertPrediction,
  distillationLossWeight,
  distillationTarget,
  teacherTwoStepTarget,
  tripleTensors,
} from '../../src/diffusion';
import { assertClose, assertNoLeak, wave } from './helpers';

const cin256 = NoiseSchedule.fromConfig({ numTrainTimesteps: 1000, betaSchedule: 'scaled_linear', betaStart: 0.0015, betaEnd: 0.0195, setAlphaToOne: false, stepsOffset: 1 });

describe('diffusion: stage-two sub-sequence schedule', () => {
  it('timesteps_N[i] = timesteps_K[i·K/N]: cin256 K = 64, N = 8 → 946, 826, …, 106; next-element rule, final after the last', () => {
    const base = cin256.inferenceSchedule(64).timesteps;
    const sub = cin256.subsequence(64, 8);
    assert.deepEqual(sub.timesteps, [946, 826, 706, 586, 466, 346, 226, 106]);
    assert.deepEqual(sub.timesteps, Array.from({ length: 8 }, (_, i) => base[i * 8]));
    assert.deepEqual(sub.prevTimesteps, [826, 706, 586, 466, 346, 226, 106, -1]);
    assert.equal(sub.rule, 'next');
    assert.equal(sub.subsequenceOf, 64);
    // N = K is the base schedule itself (its last step lands on final, as diffusers' 1 − 15 < 0 does).
    assert.deepEqual(cin256.subsequence(64, 64).timesteps, base);
  });

  it('K not divisible by N is a ScheduleError with a clear message', () => {
    assert.throws(() => cin256.subsequence(64, 24), {
      name: 'ScheduleError',
      message: 'a sub-sequence of N = 24 steps needs the base step count K = 64 to be divisible by N (K/N = 2.667); use an N that divides 64',
    });
    assert.throws(() => cin256.distillationTriples(64, 64), {
      name: 'ScheduleError',
      message: 'a distillation round with a 64-step student needs its 128-step teacher to be a sub-sequence of the K = 64-step base schedule, so K must be divisible by 128',
    });
  });

  it('triples: t = timesteps_2N[2i], t\' = timesteps_2N[2i+1], t\'\' = timesteps_N[i+1], final (−1) for the last', () => {
    const triples = cin256.distillationTriples(64, 4);
    const teacher = cin256.subsequence(64, 8).timesteps;
    const student = cin256.subsequence(64, 4).timesteps;
    assert.deepEqual(triples, [
      { index: 0, t: 946, tMid: 826, tNext: 706 },
      { index: 1, t: 706, tMid: 586, tNext: 466 },
      { index: 2, t: 466, tMid: 346, tNext: 226 },
      { index: 3, t: 226, tMid: 106, tNext: -1 },
    ]);
    triples.forEach((tr, i) => {
      assert.equal(tr.t, student[i]);
      assert.equal(tr.t, teacher[2 * i]);
      assert.equal(tr.tMid, teacher[2 * i + 1]);
    });
    // The 1-step student: one step from 946 through 466 to final.
    assert.deepEqual(cin256.distillationTriples(64, 1), [{ index: 0, t: 946, tMid: 466, tNext: -1 }]);
  });

  it('tripleTensors gathers per-example (t, t\', t\'\') and refuses an out-of-range index', () => {
    assertNoLeak(() => {
      const triples = cin256.distillationTriples(64, 4);
      const { t, tMid, tNext } = tripleTensors(triples, [3, 0]);
      assertClose(t, [226, 946], 0);
      assertClose(tMid, [106, 826], 0);
      assertClose(tNext, [-1, 706], 0);
      tf.dispose([t, tMid, tNext]);
    });
    assert.throws(() => tripleTensors(cin256.distillationTriples(64, 4), [4]), { name: 'ScheduleError', message: 'student step index 4 is outside 0 … 3' });
  });
});

describe('diffusion: stage-two target x̃ (spec 5.3 step 4)', () => {
  const a = (t: number) => Math.sqrt(cin256.alphaCumprodAt(t));
  const s = (t: number) => Math.sqrt(1 - cin256.alphaCumprodAt(t));
  /** A linear epsilon-prediction teacher ε̂(z) = 0.5·z: simple enough to run its two DDIM steps by hand. */
  const teacher = (z: tf.Tensor4D) => tf.mul(z, 0.5) as tf.Tensor4D;

  /** The hand calculation in float64, for one scalar z at t with teacher steps to t1 then t2, target built with (tTarget, zTarget). */
  function byHand(z: number, t: number, t1: number, t2: number): { z1: number; z2: number; target: (zT: number, tT: number) => number } {
    const step = (zz: number, from: number, to: number) => {
      const eps = 0.5 * zz;
      const x = (zz - s(from) * eps) / a(from);
      return a(to) * x + s(to) * eps;
    };
    const z1 = step(z, t, t1);
    const z2 = step(z1, t1, t2);
    const target = (zT: number, tT: number) => (zT - (s(tT) / s(t)) * z) / (a(tT) - (s(tT) / s(t)) * a(t));
    return { z1, z2, target };
  }

  it('hand-computed case: cin256, 32-step student, i = 5 (t = 796, t\' = 781, t\'\' = 766), z = 0.8 (relative 1e-4)', () => {
    const [triple] = cin256.distillationTriples(64, 32).filter((tr) => tr.index === 5);
    assert.deepEqual(triple, { index: 5, t: 796, tMid: 781, tNext: 766 });
    assertNoLeak(() => {
      const z = tf.tensor4d([0.8], [1, 1, 1, 1]);
      const out = teacherTwoStepTarget(cin256, { z, t: 796, tMid: 781, tNext: 766, teacher, predictionType: 'epsilon' });
      const hand = byHand(0.8, 796, 781, 766);
      const expected = hand.target(hand.z2, 766);
      assertClose(out.zMid, [hand.z1], 1e-5 * Math.abs(hand.z1));
      assertClose(out.zNext, [hand.z2], 1e-5 * Math.abs(hand.z2));
      assertClose(out.target, [expected], 1e-4 * Math.abs(expected));
      tf.dispose([z, out.target, out.zMid, out.zNext]);
    });
  });

  it("uses t'' (after BOTH teacher steps), not the intermediate t' — the swap for which a public implementation was rejected", () => {
    const hand = byHand(0.8, 796, 781, 766);
    const correct = hand.target(hand.z2, 766);
    // The two ways of swapping: t' with z_t', or t' with z_t''.
    const swappedState = hand.target(hand.z1, 781);
    const swappedTime = hand.target(hand.z2, 781);
    assert.ok(Math.abs(swappedState - correct) > 1e-2 * Math.abs(correct), `swapped-state target ${swappedState} too close to ${correct}`);
    assert.ok(Math.abs(swappedTime - correct) > 1e-2 * Math.abs(correct), `swapped-time target ${swappedTime} too close to ${correct}`);
    assertNoLeak(() => {
      const z = tf.tensor4d([0.8], [1, 1, 1, 1]);
      const out = teacherTwoStepTarget(cin256, { z, t: 796, tMid: 781, tNext: 766, teacher, predictionType: 'epsilon' });
      const value = out.target.dataSync()[0];
      assert.ok(Math.abs(value - correct) < 1e-4 * Math.abs(correct), `target ${value} vs hand ${correct}`);
      assert.ok(Math.abs(value - swappedTime) > 1e-2 * Math.abs(correct));
      // And distillationTarget itself, given z_t'' and t'', agrees.
      const zNext = tf.tensor4d([hand.z2], [1, 1, 1, 1]);
      const direct = distillationTarget(cin256, { z, t: 796, zNext, tNext: 766 });
      assertClose(direct, [correct], 1e-4 * Math.abs(correct));
      tf.dispose([z, zNext, direct, out.target, out.zMid, out.zNext]);
    });
    // Out-of-order timesteps are refused where they are numbers.
    const z = tf.zeros([1, 1, 1, 1]) as tf.Tensor4D;
    assert.throws(() => teacherTwoStepTarget(cin256, { z, t: 796, tMid: 766, tNext: 781, teacher, predictionType: 'epsilon' }), {
      name: 'ScheduleError',
      message: "the teacher's timesteps must decrease, t > t' > t'' (found t = 796, t' = 766, t'' = 781)",
    });
    z.dispose();
  });

  const types: PredictionType[] = ['epsilon', 'sample', 'v_prediction'];
  for (const type of types) {
    it(`spec section 6: an exact ${type} teacher gives x̃ = x for every student step of a 4-step round, the final step included (3e-4)`, () => {
      assertNoLeak(() => {
        const xVals = wave(8, 0.4);
        const x = tf.tensor4d(xVals, [2, 2, 2, 1]);
        const eps = tf.tensor4d(wave(8, 2.2), [2, 2, 2, 1]);
        // An exact teacher: whatever z_t it is given, its prediction means x̂ = x.
        const exact = (z: tf.Tensor4D, t: tf.Tensor1D) => convertPrediction(cin256, x, z, t, 'sample', type);
        const triples = cin256.distillationTriples(64, 4);
        for (const tr of triples) {
          const picked = tripleTensors(triples, [tr.index, tr.index]);
          const z = addNoise(cin256, x, eps, picked.t);
          const out = teacherTwoStepTarget(cin256, { z, t: picked.t, tMid: picked.tMid, tNext: picked.tNext, teacher: exact, predictionType: type });
          assertClose(out.target, xVals, 3e-4, `step ${tr.index}`);
          tf.dispose([picked.t, picked.tMid, picked.tNext, z, out.target, out.zMid, out.zNext]);
        }
        tf.dispose([x, eps]);
      });
    });
  }

  it('with setAlphaToOne the final step\'s target is z_t\'\' itself (s_final = 0)', () => {
    assertNoLeak(() => {
      const one = NoiseSchedule.fromConfig({ ...cin256.toConfig(), setAlphaToOne: true });
      const z = tf.tensor4d([0.3, -1.2], [2, 1, 1, 1]);
      const zNext = tf.tensor4d([0.7, 0.1], [2, 1, 1, 1]);
      const target = distillationTarget(one, { z, t: 226, zNext, tNext: -1 });
      assertClose(target, [0.7, 0.1], 1e-6);
      tf.dispose([z, zNext, target]);
    });
  });

  it('loss weight: truncated SNR max(SNR_t, 1) and 1 + SNR_t', () => {
    assertNoLeak(() => {
      const t = tf.tensor1d([0, 500, 999]);
      const w = distillationLossWeight(cin256, t);
      const w1 = distillationLossWeight(cin256, t, 'snr-plus-one');
      const snr = [0, 500, 999].map((tt) => cin256.snr[tt]);
      assert.ok(snr[0] > 1 && snr[2] < 1);
      assertClose(w, snr.map((v) => Math.max(v, 1)), 1e-6 * snr[0]);
      assertClose(w1, snr.map((v) => 1 + v), 1e-6 * snr[0]);
      tf.dispose([t, w, w1]);
    });
  });

  it('is differentiable in z (the gradient of x̃ w.r.t. z_t is −(s\'\'/s)/(a\'\' − (s\'\'/s)·a))', () => {
    assertNoLeak(() => {
      const z = tf.tensor4d([0.5], [1, 1, 1, 1]);
      const zNext = tf.tensor4d([0.2], [1, 1, 1, 1]);
      const g = tf.grad((zz: tf.Tensor) => tf.sum(distillationTarget(cin256, { z: zz as tf.Tensor4D, t: 796, zNext, tNext: 766 })))(z);
      const r = s(766) / s(796);
      assertClose(g, [-r / (a(766) - r * a(796))], 1e-3);
      tf.dispose([z, zNext, g]);
    });
  });
});
