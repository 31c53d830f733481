/**
 * Stage two of progressive distillation (spec 5.3): the target x̃ for which one DDIM step of the
 * student from t lands exactly where two teacher steps t → t' → t'' land, and the loss weight.
 *
 * Order matters and is easy to get wrong: the target is built from z_t'' (after BOTH teacher steps)
 * and t'' (the student's next timestep); t' is only the teacher's intermediate stop. A public attempt
 * at this algorithm was rejected for swapping t' and t''; test/diffusion/distillation-target.test.ts
 * holds a hand-computed case that fails if they are swapped.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PredictionType } from '../models/types';
import { ScheduleError } from '../errors';
import { gatherSchedule, scheduleScale, type Timesteps } from './coefficients';
import { ddimStep } from './ddim';
import type { NoiseSchedule } from './schedule';
import type { DistillationTriple } from './timesteps';

export interface DistillationTargetInput {
  /** z_t, the student's input. */
  z: tf.Tensor4D;
  /** t, the student's timestep. */
  t: Timesteps;
  /** z_t'', the state after the teacher's two DDIM steps. */
  zNext: tf.Tensor4D;
  /** t'' (NOT the teacher's intermediate t'); negative = final. */
  tNext: Timesteps;
}

function checkOrder(t: Timesteps, tNext: Timesteps): void {
  if (typeof t === 'number' && typeof tNext === 'number' && !(tNext < t)) {
    throw new ScheduleError(`the student's next timestep t'' = ${tNext} must be below its timestep t = ${t}`);
  }
}

/** x̃ = (z_t'' − (s_t''/s_t)·z_t) / (a_t'' − (s_t''/s_t)·a_t)  (spec 5.3 step 4). Tidy. */
export function distillationTarget(schedule: NoiseSchedule, input: DistillationTargetInput): tf.Tensor4D {
  checkOrder(input.t, input.tNext);
  return tf.tidy(() => {
    const a = scheduleScale(schedule, 'signalScale', input.t);
    const s = scheduleScale(schedule, 'noiseScale', input.t);
    const aNext = scheduleScale(schedule, 'signalScale', input.tNext);
    const sNext = scheduleScale(schedule, 'noiseScale', input.tNext);
    const ratio = tf.div(sNext, s);
    return tf.div(tf.sub(input.zNext, tf.mul(ratio, input.z)), tf.sub(aNext, tf.mul(ratio, a))) as tf.Tensor4D;
  });
}

/** A teacher network call: z_t and a [B] float32 timestep tensor → its prediction (guided, if it has guidance). */
export type TeacherFn = (z: tf.Tensor4D, t: tf.Tensor1D) => tf.Tensor4D;

export interface TeacherTargetInput {
  /** z_t, [B, H, W, C]. */
  z: tf.Tensor4D;
  t: Timesteps;
  /** t', the teacher's intermediate timestep. */
  tMid: Timesteps;
  /** t'', the student's next timestep; negative = final. */
  tNext: Timesteps;
  teacher: TeacherFn;
  /** What the teacher's output means. */
  predictionType: PredictionType;
}

/** The target and the teacher's two states (all owned by the caller). */
export type TeacherTargetResult = {
  target: tf.Tensor4D;
  zMid: tf.Tensor4D;
  zNext: tf.Tensor4D;
};

/** A [B] float32 timestep tensor from a number or a tensor. */
export function timestepTensor(t: Timesteps, batch: number): tf.Tensor1D {
  return typeof t === 'number' ? tf.fill([batch], t, 'float32') : (tf.cast(t, 'float32') as tf.Tensor1D);
}

/**
 * Spec 5.3 steps 3–4: two teacher DDIM steps (eta = 0) z_t → z_t' → z_t'', then x̃. Tidy; the teacher
 * is called twice, once at t and once at t'.
 */
export function teacherTwoStepTarget(schedule: NoiseSchedule, input: TeacherTargetInput): TeacherTargetResult {
  const { t, tMid, tNext } = input;
  if (typeof t === 'number' && typeof tMid === 'number' && typeof tNext === 'number' && !(t > tMid && tMid > tNext)) {
    throw new ScheduleError(`the teacher's timesteps must decrease, t > t' > t'' (found t = ${t}, t' = ${tMid}, t'' = ${tNext})`);
  }
  const batch = input.z.shape[0];
  return tf.tidy(() => {
    const tT = timestepTensor(input.t, batch);
    const first = ddimStep(schedule, { z: input.z, prediction: input.teacher(input.z, tT), predictionType: input.predictionType, t: input.t, tPrev: input.tMid });
    const tMid = timestepTensor(input.tMid, batch);
    const second = ddimStep(schedule, { z: first.prev, prediction: input.teacher(first.prev, tMid), predictionType: input.predictionType, t: input.tMid, tPrev: input.tNext });
    const target = distillationTarget(schedule, { z: input.z, t: input.t, zNext: second.prev, tNext: input.tNext });
    return { target, zMid: first.prev, zNext: second.prev };
  });
}

/** Per-example (t, t', t'') tensors ([B] float32) for chosen student-step indices i. */
export function tripleTensors(triples: readonly DistillationTriple[], indices: ArrayLike<number>): { t: tf.Tensor1D; tMid: tf.Tensor1D; tNext: tf.Tensor1D } {
  const n = indices.length;
  const t = new Float32Array(n);
  const tMid = new Float32Array(n);
  const tNext = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    const i = indices[k];
    const triple = triples[i];
    if (!triple) throw new ScheduleError(`student step index ${i} is outside 0 … ${triples.length - 1}`);
    t[k] = triple.t;
    tMid[k] = triple.tMid;
    tNext[k] = triple.tNext;
  }
  return { t: tf.tensor1d(t), tMid: tf.tensor1d(tMid), tNext: tf.tensor1d(tNext) };
}

/**
 * Stage-two loss weight per example (spec 5.3 step 5): `truncated-snr` = max(SNR_t, 1) (the seed's),
 * `snr-plus-one` = 1 + SNR_t (the paper's alternative, equal to the v-MSE). [B] float32.
 */
export function distillationLossWeight(schedule: NoiseSchedule, t: Timesteps, kind: 'truncated-snr' | 'snr-plus-one' = 'truncated-snr'): tf.Tensor1D {
  return tf.tidy(() => {
    const snr = gatherSchedule(schedule, 'snr', t);
    if (kind === 'truncated-snr') return tf.maximum(snr, 1) as tf.Tensor1D;
    if (kind === 'snr-plus-one') return tf.add(snr, 1) as tf.Tensor1D;
    throw new ScheduleError(`unknown distillation loss weight ${JSON.stringify(kind)} (expected "truncated-snr" or "snr-plus-one")`);
  });
}
