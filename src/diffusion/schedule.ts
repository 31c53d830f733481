/**
 * NoiseSchedule: a validated config and the arrays it defines (spec section 1). Immutable; holds no
 * tensors (the tensor helpers build what they need inside their own tidy scopes).
 */
import type { PredictionType } from '../models/types';
import { ScheduleError } from '../errors';
import { alphasFromBetas, computeBetas } from './betas';
import {
  configFromDiffusers,
  configToDiffusers,
  resolveNoiseScheduleConfig,
  type DiffusersSchedulerConfig,
  type NoiseScheduleConfig,
  type NoiseScheduleConfigInput,
  type ScheduleConfigSource,
} from './config';
import {
  distillationTriples,
  makeInferenceSchedule,
  subsequenceSchedule,
  type DistillationTriple,
  type InferenceSchedule,
  type PrevTimestepRule,
} from './timesteps';

export class NoiseSchedule {
  /** The complete config (every key). */
  readonly config: Readonly<NoiseScheduleConfig>;
  /** T. */
  readonly numTrainTimesteps: number;
  readonly predictionType: PredictionType;
  /** beta_t, t = 0 … T−1 (float32 values, see betas.ts). */
  readonly betas: Float64Array;
  /** 1 − beta_t (float32 values). */
  readonly alphas: Float64Array;
  /** alpha-bar_t = Π_{s≤t} (1 − beta_s) (float32 values). */
  readonly alphasCumprod: Float64Array;
  /** alpha-bar used when t_prev < 0: 1 with setAlphaToOne, alpha-bar_0 without. */
  readonly finalAlphaCumprod: number;
  /** a_t = sqrt(alpha-bar_t). */
  readonly sqrtAlphasCumprod: Float64Array;
  /** s_t = sqrt(1 − alpha-bar_t). */
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
  /** SNR_t = a_t² / s_t². */
  readonly snr: Float64Array;
  /** ln SNR_t. */
  readonly logSnr: Float64Array;

  private constructor(config: NoiseScheduleConfig) {
    this.config = Object.freeze({ ...config });
    this.numTrainTimesteps = config.numTrainTimesteps;
    this.predictionType = config.predictionType;
    this.betas = computeBetas(config.betaSchedule, config.numTrainTimesteps, config.betaStart, config.betaEnd);
    const { alphas, alphasCumprod } = alphasFromBetas(this.betas);
    this.alphas = alphas;
    this.alphasCumprod = alphasCumprod;
    this.finalAlphaCumprod = config.setAlphaToOne ? 1 : alphasCumprod[0];
    this.sqrtAlphasCumprod = alphasCumprod.map(Math.sqrt);
    this.sqrtOneMinusAlphasCumprod = alphasCumprod.map((ab) => Math.sqrt(1 - ab));
    this.snr = alphasCumprod.map((ab) => ab / (1 - ab));
    this.logSnr = this.snr.map(Math.log);
    const bad = alphasCumprod.findIndex((ab) => !(ab > 0 && ab < 1));
    if (bad >= 0) {
      throw new ScheduleError(`alpha-bar at t = ${bad} is ${alphasCumprod[bad]}, outside (0, 1): the betas do not define a usable schedule`);
    }
  }

  /**
   * From a camelCase config (any subset of keys; defaults from the schema). Throws ConfigError, whose
   * problems carry file:line:col when `source.locate` is given (a config read from a file).
   */
  static fromConfig(config: NoiseScheduleConfigInput | Record<string, unknown>, source?: ScheduleConfigSource): NoiseSchedule {
    return new NoiseSchedule(resolveNoiseScheduleConfig(config, undefined, source));
  }

  /** From a diffusers `scheduler_config.json` object (snake_case). Throws ConfigError (located as fromConfig). */
  static fromDiffusersConfig(json: Record<string, unknown>, source?: ScheduleConfigSource): NoiseSchedule {
    return new NoiseSchedule(configFromDiffusers(json, undefined, source));
  }

  /** The complete camelCase config; `NoiseSchedule.fromConfig(s.toConfig())` gives the same numbers. */
  toConfig(): NoiseScheduleConfig {
    return { ...this.config };
  }

  /** The DDIMScheduler config diffusers would save for this schedule. */
  toDiffusersConfig(): DiffusersSchedulerConfig {
    return configToDiffusers(this.config);
  }

  private checkTimestep(t: number): void {
    if (!Number.isInteger(t) || t >= this.numTrainTimesteps) {
      throw new ScheduleError(`timestep ${t} is not an integer in 0 … ${this.numTrainTimesteps - 1} (negative = final)`);
    }
  }

  /** alpha-bar at t; the final alpha-bar for t < 0. */
  alphaCumprodAt(t: number): number {
    this.checkTimestep(t);
    return t < 0 ? this.finalAlphaCumprod : this.alphasCumprod[t];
  }

  /** a_t = sqrt(alpha-bar_t) (final for t < 0). */
  signalScaleAt(t: number): number {
    return Math.sqrt(this.alphaCumprodAt(t));
  }

  /** s_t = sqrt(1 − alpha-bar_t) (final for t < 0). */
  noiseScaleAt(t: number): number {
    return Math.sqrt(1 - this.alphaCumprodAt(t));
  }

  /** The N-step inference schedule of the configured spacing; diffusers' t_prev rule by default. */
  inferenceSchedule(steps: number, rule: PrevTimestepRule = 'diffusers'): InferenceSchedule {
    return makeInferenceSchedule(this.config, steps, rule);
  }

  /** The N-step sub-sequence of the K-step base schedule (spec 5.3); K must be divisible by N. */
  subsequence(baseSteps: number, steps: number): InferenceSchedule {
    return subsequenceSchedule(this.config, baseSteps, steps);
  }

  /** (t, t', t'') for each student step of a stage-two round with an N-step student, base K steps. */
  distillationTriples(baseSteps: number, studentSteps: number): DistillationTriple[] {
    return distillationTriples(this.config, baseSteps, studentSteps);
  }
}
