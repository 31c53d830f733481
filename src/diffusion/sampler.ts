/**
 * Class-conditional samplers: DDIM (eta = 0 or > 0, diffusers-style or stage-two sub-sequence
 * timesteps) and DDPM ancestral sampling, with classifier-free guidance batched into one forward call
 * per step. Deterministic given the seed; every intermediate tensor is released (one tidy per step).
 *
 * The result is the state after the last step, as diffusers pipelines return it: with setAlphaToOne
 * it is the last x̂; without (e.g. cin256), it is a_final·x̂ + s_final·ε̂ at the final alpha-bar.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ConditionalDenoiser } from '../models/types';
import { CancelledError, ScheduleError } from '../errors';
import { eventLoopTurn } from '../event-loop';
import { ddimStep } from './ddim';
import { ddpmStep } from './ddpm';
import { guidedPredict, type GuidanceSpec } from './guidance';
import { seededNormalSource } from './noise';
import type { NoiseSchedule } from './schedule';
import type { InferenceSchedule, PrevTimestepRule } from './timesteps';
import type { Rng, RngSeed } from '../training/rng';

export interface SamplerOptions {
  /** Number of sampler steps N. */
  steps: number;
  /** One class label per sample (the batch size is labels.length). */
  labels: Int32Array | readonly number[];
  /** [H, W, C] of one sample. */
  shape: readonly [number, number, number];
  /** Classifier-free guidance, `{ scale: g }` or `{ weight: w }`; absent = conditional only. */
  guidance?: { scale: number } | { weight: number };
  /** Guidance rescale φ in [0, 1]. */
  rescale?: number;
  /**
   * Seed of every random draw (initial noise first, then per-step noise), or a generator the caller
   * manages (it is advanced).
   */
  seed: RngSeed | Rng;
  /** z_T to start from instead of seeded noise, [B, H, W, C] (the caller keeps ownership). */
  initialNoise?: tf.Tensor4D;
  /** Clip x̂ inside each step; default: the schedule's clipSample (with its clipSampleRange). */
  clipSample?: boolean;
  /** Called after each step (1-based) for progress display. */
  onStep?: (step: number, total: number) => void;
  /** Checked before each step; an aborted signal throws CancelledError. */
  signal?: AbortSignal;
}

export interface DdimSamplerOptions extends SamplerOptions {
  /** DDIM eta in [0, 1]; 0 by default. */
  eta?: number;
  /** Sample with the N-step sub-sequence of this K-step base schedule (stage-two students). */
  subsequenceOf?: number;
  /** t_prev rule for ordinary (non-sub-sequence) schedules; `diffusers` by default. */
  prevRule?: PrevTimestepRule;
}

interface Prepared {
  labels: tf.Tensor1D;
  z: tf.Tensor4D;
  batch: number;
  clip: number | undefined;
}

function prepare(model: ConditionalDenoiser, schedule: NoiseSchedule, options: SamplerOptions, draw: (shape: readonly number[]) => tf.Tensor): Prepared {
  const labels = Array.from(options.labels);
  const batch = labels.length;
  if (batch === 0) throw new ScheduleError('sampling needs at least one label');
  const badLabel = labels.find((l) => !Number.isInteger(l) || l < 0 || l >= model.numClasses);
  if (badLabel !== undefined) throw new ScheduleError(`label ${badLabel} is outside 0 … ${model.numClasses - 1}`);
  const [h, w, c] = options.shape;
  if (![h, w, c].every((d) => Number.isInteger(d) && d > 0)) throw new ScheduleError(`sample shape must be three positive integers [H, W, C] (found ${JSON.stringify(options.shape)})`);
  const want = [batch, h, w, c];
  let z: tf.Tensor4D;
  if (options.initialNoise) {
    if (options.initialNoise.shape.join(',') !== want.join(',')) {
      throw new ScheduleError(`initialNoise has shape [${options.initialNoise.shape.join(', ')}], expected [${want.join(', ')}]`);
    }
    z = tf.clone(options.initialNoise);
  } else {
    z = draw(want) as tf.Tensor4D;
  }
  const clipOn = options.clipSample ?? schedule.config.clipSample;
  return { labels: tf.tensor1d(labels, 'int32'), z, batch, clip: clipOn ? schedule.config.clipSampleRange : undefined };
}

type StepFn = (z: tf.Tensor4D, prediction: tf.Tensor4D, t: number, tPrev: number, draw: (shape: readonly number[]) => tf.Tensor, clip: number | undefined) => tf.Tensor4D;

/**
 * The sampling loop as a generator that pauses after each step, so that one loop serves the synchronous
 * samplers and the asynchronous ones (which give the event loop a turn between steps). Returns z_0.
 */
function* steps(model: ConditionalDenoiser, schedule: NoiseSchedule, plan: InferenceSchedule, options: SamplerOptions, step: StepFn): Generator<void, tf.Tensor4D, void> {
  const source = seededNormalSource(options.seed);
  const draw = (shape: readonly number[]) => source.normal(shape);
  const prepared = prepare(model, schedule, options, draw);
  let z: tf.Tensor4D | undefined = prepared.z;
  try {
    for (let i = 0; i < plan.steps; i++) {
      if (options.signal?.aborted) throw new CancelledError('sampling cancelled');
      const t = plan.timesteps[i];
      const tPrev = plan.prevTimesteps[i];
      const current: tf.Tensor4D = z;
      const next = tf.tidy(() => {
        const tTensor = tf.fill([prepared.batch], t, 'float32') as tf.Tensor1D;
        const prediction = guidedPredict(model, current, tTensor, prepared.labels, { guidance: options.guidance, rescale: options.rescale });
        return step(current, prediction, t, tPrev, draw, prepared.clip);
      });
      current.dispose();
      z = next;
      options.onStep?.(i + 1, plan.steps);
      if (i + 1 < plan.steps) yield;
    }
    const result = z;
    z = undefined;
    return result;
  } finally {
    // Reached with z still set on an error, or when an asynchronous caller stops early.
    z?.dispose();
    prepared.labels.dispose();
  }
}

function drain(loop: Generator<void, tf.Tensor4D, void>): tf.Tensor4D {
  for (;;) {
    const r = loop.next();
    if (r.done) return r.value;
  }
}

async function drainAsync(loop: Generator<void, tf.Tensor4D, void>): Promise<tf.Tensor4D> {
  try {
    for (;;) {
      const r = loop.next();
      if (r.done) return r.value;
      await eventLoopTurn();
    }
  } finally {
    loop.return(undefined as never);
  }
}

function ddimLoop(model: ConditionalDenoiser, schedule: NoiseSchedule, options: DdimSamplerOptions): Generator<void, tf.Tensor4D, void> {
  const eta = options.eta ?? 0;
  if (!(eta >= 0 && eta <= 1)) throw new ScheduleError(`DDIM eta must be in [0, 1] (found ${eta})`);
  if (options.subsequenceOf !== undefined && options.prevRule !== undefined) {
    throw new ScheduleError('prevRule does not apply to a sub-sequence schedule (it always steps to the next element)');
  }
  const plan = options.subsequenceOf !== undefined
    ? schedule.subsequence(options.subsequenceOf, options.steps)
    : schedule.inferenceSchedule(options.steps, options.prevRule ?? 'diffusers');
  return steps(model, schedule, plan, options, (z, prediction, t, tPrev, draw, clip) => {
    const noise = eta > 0 ? (draw(z.shape) as tf.Tensor4D) : undefined;
    const { prev } = ddimStep(schedule, { z, prediction, predictionType: model.predictionType, t, tPrev, eta, noise, clip });
    return prev;
  });
}

function ddpmLoop(model: ConditionalDenoiser, schedule: NoiseSchedule, options: SamplerOptions): Generator<void, tf.Tensor4D, void> {
  const plan = schedule.inferenceSchedule(options.steps, 'diffusers');
  return steps(model, schedule, plan, options, (z, prediction, t, tPrev, draw, clip) => {
    const noise = draw(z.shape) as tf.Tensor4D;
    return ddpmStep(schedule, { z, prediction, predictionType: model.predictionType, t, tPrev, noise, clip }).prev;
  });
}

/** DDIM sampling → [B, H, W, C]. */
export function sampleDdim(model: ConditionalDenoiser, schedule: NoiseSchedule, options: DdimSamplerOptions): tf.Tensor4D {
  return drain(ddimLoop(model, schedule, options));
}

/**
 * `sampleDdim` for long work: the same numbers, with a turn of the event loop between steps when
 * computing has taken `EVENT_LOOP_SLICE_MS` (progress, Ctrl-C and timeouts stay live).
 */
export function sampleDdimAsync(model: ConditionalDenoiser, schedule: NoiseSchedule, options: DdimSamplerOptions): Promise<tf.Tensor4D> {
  return drainAsync(ddimLoop(model, schedule, options));
}

/** DDPM ancestral sampling → [B, H, W, C]. Uses diffusers' t_prev rule (t − T div N). */
export function sampleDdpm(model: ConditionalDenoiser, schedule: NoiseSchedule, options: SamplerOptions): tf.Tensor4D {
  return drain(ddpmLoop(model, schedule, options));
}

/** `sampleDdpm` with turns of the event loop between steps (see `sampleDdimAsync`). */
export function sampleDdpmAsync(model: ConditionalDenoiser, schedule: NoiseSchedule, options: SamplerOptions): Promise<tf.Tensor4D> {
  return drainAsync(ddpmLoop(model, schedule, options));
}
