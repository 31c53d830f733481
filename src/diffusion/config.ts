/**
 * The noise-schedule config: one JSON Schema, one TypeScript type, one serialised form (camelCase),
 * plus the translation to and from a diffusers `scheduler_config.json` (snake_case).
 *
 * Validation runs in layers that all raise ConfigError with every problem found: JSON Schema (types,
 * ranges, unknown keys with a "did you mean"), then cross-field checks. Both go through the shared
 * validation layer of src/schema/check.ts (the graph files' ajv setup, problem shape and did-you-mean).
 */
import type { Problem } from '../errors';
import { checkSchema, locateProblems, throwIfProblems } from '../schema/check';
import type { PointerLocator } from '../schema/problems';
import type { PredictionType } from '../models/types';

export type BetaScheduleName = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';

export const BETA_SCHEDULES: readonly BetaScheduleName[] = ['linear', 'scaled_linear', 'squaredcos_cap_v2'];
export const TIMESTEP_SPACINGS: readonly TimestepSpacing[] = ['leading', 'trailing', 'linspace'];
export const PREDICTION_TYPES: readonly PredictionType[] = ['epsilon', 'v_prediction', 'sample'];

/** A complete noise-schedule config (what `NoiseSchedule.toConfig()` returns; every key present). */
export interface NoiseScheduleConfig {
  numTrainTimesteps: number;
  betaSchedule: BetaScheduleName;
  betaStart: number;
  betaEnd: number;
  predictionType: PredictionType;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
  setAlphaToOne: boolean;
  clipSample: boolean;
  clipSampleRange: number;
  teacherMaxTrainSteps: number;
}

/** What a user writes: any subset of the keys; the rest come from the schema defaults. */
export type NoiseScheduleConfigInput = Partial<NoiseScheduleConfig>;

/**
 * The JSON Schema of the camelCase config. Its `description`s are the reference documentation
 * (docs/schedulers.md is checked against them by a test).
 */
export const noiseScheduleConfigSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://distillery.dev/schemas/noise-schedule.json',
  title: 'Noise schedule',
  description:
    'A discrete diffusion noise schedule (betas, alpha-bar) and how inference timesteps are chosen from it. ' +
    'Mirrors diffusers\' DDIMScheduler config, in camelCase.',
  type: 'object',
  additionalProperties: false,
  properties: {
    numTrainTimesteps: {
      type: 'integer',
      minimum: 2,
      default: 1000,
      description: 'T, the number of training timesteps; timesteps are 0 … T−1. diffusers: num_train_timesteps.',
    },
    betaSchedule: {
      enum: [...BETA_SCHEDULES],
      default: 'linear',
      description:
        '`linear`: betas evenly spaced from betaStart to betaEnd. `scaled_linear`: sqrt(beta) evenly spaced, ' +
        'then squared (what latent-diffusion checkpoints call "linear" with linear_start/linear_end). ' +
        '`squaredcos_cap_v2`: the cosine schedule of Nichol & Dhariwal, betas capped at 0.999 ' +
        '(betaStart and betaEnd are ignored). diffusers: beta_schedule.',
    },
    betaStart: {
      type: 'number',
      exclusiveMinimum: 0,
      exclusiveMaximum: 1,
      default: 0.0001,
      description: 'beta at t = 0 for `linear` and `scaled_linear`. diffusers: beta_start.',
    },
    betaEnd: {
      type: 'number',
      exclusiveMinimum: 0,
      exclusiveMaximum: 1,
      default: 0.02,
      description: 'beta at t = T−1 for `linear` and `scaled_linear`; must be ≥ betaStart. diffusers: beta_end.',
    },
    predictionType: {
      enum: [...PREDICTION_TYPES],
      default: 'epsilon',
      description:
        'What the network paired with this schedule predicts: `epsilon` (the noise), `v_prediction` ' +
        '(v = a_t·ε − s_t·x) or `sample` (x0). Samplers use the model\'s own predictionType; this key is ' +
        'kept for diffusers round trips and for training nodes choosing a target. diffusers: prediction_type.',
    },
    timestepSpacing: {
      enum: [...TIMESTEP_SPACINGS],
      default: 'leading',
      description:
        'How N inference timesteps are picked from 0 … T−1. `leading`: r = T div N, [(N−1)·r, …, r, 0] + stepsOffset. ' +
        '`trailing`: round(T, T − T/N, …, T/N) − 1 (rounding half to even, as numpy). `linspace`: ' +
        'round(linspace(0, T−1, N)) reversed. diffusers: timestep_spacing.',
    },
    stepsOffset: {
      type: 'integer',
      minimum: 0,
      default: 0,
      description:
        'Added to every `leading` timestep (diffusers adds it for `leading` only). The latent-diffusion ImageNet ' +
        'model uses 1. diffusers: steps_offset.',
    },
    setAlphaToOne: {
      type: 'boolean',
      default: true,
      description:
        'The alpha-bar used after the last step (when t_prev < 0): 1 when true, alpha-bar at t = 0 when false ' +
        '("final alpha"). diffusers: set_alpha_to_one.',
    },
    clipSample: {
      type: 'boolean',
      default: false,
      description:
        'Clip the predicted x0 to [−clipSampleRange, clipSampleRange] inside every sampler step (the noise ' +
        'direction still uses the unclipped prediction, as diffusers does by default). Off by default here; ' +
        'diffusers\' own default is on. diffusers: clip_sample.',
    },
    clipSampleRange: {
      type: 'number',
      exclusiveMinimum: 0,
      default: 1,
      description: 'Half-width of the clipping interval used when clipSample is true. diffusers: clip_sample_range.',
    },
    teacherMaxTrainSteps: {
      type: 'integer',
      minimum: 0,
      default: 0,
      description:
        'K > 0 makes this the seed\'s DistillDDIMScheduler: an N-step sampler (N must divide K) uses the N-step ' +
        'sub-sequence of the K-step schedule, timesteps_N[i] = timesteps_K[i·K/N], stepping to the next element (the ' +
        'last step lands on "final"), as stage-two students sample; stage two\'s baseSteps must equal K. 0: plain DDIM ' +
        'timesteps. diffusers (the seed\'s DistillDDIMScheduler): teacher_max_train_steps.',
    },
  },
} as const;

/** Keys of the camelCase config, in schema order. */
export const NOISE_SCHEDULE_KEYS = Object.keys(noiseScheduleConfigSchema.properties) as (keyof NoiseScheduleConfig)[];

/** The snake_case name diffusers uses for each camelCase key. */
export const DIFFUSERS_KEY_OF: Readonly<Record<keyof NoiseScheduleConfig, string>> = {
  numTrainTimesteps: 'num_train_timesteps',
  betaSchedule: 'beta_schedule',
  betaStart: 'beta_start',
  betaEnd: 'beta_end',
  predictionType: 'prediction_type',
  timestepSpacing: 'timestep_spacing',
  stepsOffset: 'steps_offset',
  setAlphaToOne: 'set_alpha_to_one',
  clipSample: 'clip_sample',
  clipSampleRange: 'clip_sample_range',
  teacherMaxTrainSteps: 'teacher_max_train_steps',
};

/** diffusers scheduler classes whose config describes this kind of schedule. */
export const SUPPORTED_DIFFUSERS_CLASSES = ['DDIMScheduler', 'DDPMScheduler', 'DistillDDIMScheduler'] as const;
export type DiffusersSchedulerClass = (typeof SUPPORTED_DIFFUSERS_CLASSES)[number];

/**
 * A diffusers `scheduler_config.json` (DDIMScheduler form) as written by `toDiffusersConfig()`. The keys
 * for features Distillery does not implement are present with their "off" values, as diffusers saves them.
 */
export interface DiffusersSchedulerConfig {
  _class_name: DiffusersSchedulerClass;
  num_train_timesteps: number;
  beta_schedule: BetaScheduleName;
  beta_start: number;
  beta_end: number;
  prediction_type: PredictionType;
  timestep_spacing: TimestepSpacing;
  steps_offset: number;
  set_alpha_to_one: boolean;
  clip_sample: boolean;
  clip_sample_range: number;
  /** Only in the seed's DistillDDIMScheduler form. */
  teacher_max_train_steps?: number;
  trained_betas: null;
  thresholding: false;
  dynamic_thresholding_ratio: number;
  sample_max_value: number;
  rescale_betas_zero_snr: false;
}

/**
 * diffusers keys accepted on import beyond the ten mapped ones. Each is either metadata, or a feature
 * that is accepted only in its "off" state (anything else is a ConfigError saying it is unsupported),
 * or a parameter of such a feature, which is inert while the feature is off.
 */
const DIFFUSERS_EXTRA_KEYS: Record<string, { schema: Record<string, unknown>; description: string }> = {
  _class_name: { schema: { type: 'string' }, description: 'The diffusers class; DDIMScheduler, DDPMScheduler, or the seed\'s DistillDDIMScheduler.' },
  _diffusers_version: { schema: { type: 'string' }, description: 'The diffusers version that wrote the file (not checked).' },
  trained_betas: { schema: {}, description: 'Explicit betas: only null is supported.' },
  thresholding: { schema: { type: 'boolean' }, description: 'Dynamic thresholding: only false is supported.' },
  dynamic_thresholding_ratio: { schema: { type: 'number' }, description: 'Parameter of thresholding; inert while it is off.' },
  sample_max_value: { schema: { type: 'number' }, description: 'Parameter of thresholding; inert while it is off.' },
  rescale_betas_zero_snr: { schema: { type: 'boolean' }, description: 'Zero-terminal-SNR rescaling: only false is supported.' },
  variance_type: { schema: { type: 'string' }, description: 'DDPMScheduler only: only "fixed_small" is supported.' },
};

/** diffusers' constructor defaults, used for keys a diffusers file leaves out (they differ from ours for clip_sample). */
const DIFFUSERS_DEFAULTS: NoiseScheduleConfig = {
  numTrainTimesteps: 1000,
  betaSchedule: 'linear',
  betaStart: 0.0001,
  betaEnd: 0.02,
  predictionType: 'epsilon',
  timestepSpacing: 'leading',
  stepsOffset: 0,
  setAlphaToOne: true,
  clipSample: true,
  clipSampleRange: 1,
  teacherMaxTrainSteps: 0,
};

// ---------------------------------------------------------------------------------------------------------
// camelCase config

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Where a config was read from, for file:line:col in its problems (see src/schema/check.ts). */
export interface ScheduleConfigSource {
  locate?: PointerLocator;
}

/** Cross-field checks that JSON Schema cannot express. Paths are relative to the config. */
export function checkNoiseScheduleConfig(config: NoiseScheduleConfig, keyName: (k: keyof NoiseScheduleConfig) => string = (k) => k): Problem[] {
  const problems: Problem[] = [];
  if (config.betaSchedule !== 'squaredcos_cap_v2' && config.betaStart > config.betaEnd) {
    problems.push({
      path: keyName('betaEnd'),
      message: `must be ≥ ${keyName('betaStart')} (${config.betaStart})`,
      found: String(config.betaEnd),
    });
  }
  return problems;
}

/**
 * Validates a camelCase config and returns it complete (schema defaults filled in). Throws ConfigError
 * listing every problem (unknown keys with a "did you mean", wrong types, out-of-range values), located
 * in its file when `source.locate` is given.
 */
export function resolveNoiseScheduleConfig(input: unknown, what = 'noise schedule config', source: ScheduleConfigSource = {}): NoiseScheduleConfig {
  const { value, problems } = checkSchema<NoiseScheduleConfig>(noiseScheduleConfigSchema, input, { locate: source.locate });
  throwIfProblems(what, problems);
  throwIfProblems(what, locateProblems(checkNoiseScheduleConfig(value), source.locate));
  return orderKeys(value);
}

function orderKeys(config: NoiseScheduleConfig): NoiseScheduleConfig {
  const out = {} as Record<string, unknown>;
  for (const k of NOISE_SCHEDULE_KEYS) out[k] = config[k];
  return out as unknown as NoiseScheduleConfig;
}

// ---------------------------------------------------------------------------------------------------------
// diffusers config

let diffusersSchemaObject: Record<string, unknown> | undefined;

/** The snake_case schema (compiled once: the shared layer caches by schema object). */
function diffusersSchema(): Record<string, unknown> {
  if (diffusersSchemaObject) return diffusersSchemaObject;
  const properties: Record<string, unknown> = {};
  for (const k of NOISE_SCHEDULE_KEYS) {
    const { default: _d, description: _desc, ...rest } = noiseScheduleConfigSchema.properties[k] as Record<string, unknown>;
    properties[DIFFUSERS_KEY_OF[k]] = rest;
  }
  for (const [k, v] of Object.entries(DIFFUSERS_EXTRA_KEYS)) properties[k] = v.schema;
  diffusersSchemaObject = { type: 'object', additionalProperties: false, properties };
  return diffusersSchemaObject;
}

/** Every key accepted in a diffusers scheduler config. */
export const DIFFUSERS_ACCEPTED_KEYS: readonly string[] = [
  ...NOISE_SCHEDULE_KEYS.map((k) => DIFFUSERS_KEY_OF[k]),
  ...Object.keys(DIFFUSERS_EXTRA_KEYS),
];

/**
 * Translates a diffusers `scheduler_config.json` object (snake_case) into a complete camelCase config.
 * Missing keys take diffusers' constructor defaults. Unknown keys, a class other than DDIMScheduler or
 * DDPMScheduler, and features that Distillery does not implement (trained_betas, thresholding,
 * rescale_betas_zero_snr, a DDPM variance_type other than fixed_small, other beta schedules or
 * spacings) are a ConfigError listing every problem.
 */
export function configFromDiffusers(input: unknown, what = 'diffusers scheduler config', source: ScheduleConfigSource = {}): NoiseScheduleConfig {
  const checked = checkSchema<Record<string, unknown>>(diffusersSchema(), input, { useDefaults: false, locate: source.locate });
  if (!isPlainObject(input)) throwIfProblems(what, checked.problems);
  const problems: Problem[] = [...checked.problems];
  const data = checked.value;
  const own: Problem[] = [];
  const className = data._class_name;
  if (className !== undefined && typeof className === 'string' && !(SUPPORTED_DIFFUSERS_CLASSES as readonly string[]).includes(className)) {
    own.push({
      path: '_class_name',
      message: 'unsupported scheduler class',
      expected: SUPPORTED_DIFFUSERS_CLASSES.join(' or '),
      found: JSON.stringify(className),
      hint: 'only the DDIM/DDPM discrete schedule is implemented; convert the file to a DDIMScheduler config',
    });
  }
  const isDdpm = className === 'DDPMScheduler';
  const isDistill = className === 'DistillDDIMScheduler';
  if (!isDistill && 'teacher_max_train_steps' in data) {
    own.push({ path: 'teacher_max_train_steps', message: 'is a key of the seed\'s DistillDDIMScheduler', found: JSON.stringify(data.teacher_max_train_steps), hint: `_class_name is ${JSON.stringify(className ?? 'DDIMScheduler')}; use "DistillDDIMScheduler"` });
  }
  if (isDistill && data.teacher_max_train_steps === 0) {
    own.push({ path: 'teacher_max_train_steps', message: 'must be ≥ 1 for a DistillDDIMScheduler', found: '0' });
  }
  const unsupported = (key: string, off: unknown, feature: string) => {
    if (key in data && data[key] !== off && !(off === null && data[key] === undefined)) {
      own.push({
        path: key,
        message: `${feature} is not supported by Distillery`,
        expected: JSON.stringify(off),
        found: JSON.stringify(data[key]),
      });
    }
  };
  unsupported('trained_betas', null, 'explicit trained betas');
  unsupported('thresholding', false, 'dynamic thresholding');
  unsupported('rescale_betas_zero_snr', false, 'zero-terminal-SNR beta rescaling');
  if ('variance_type' in data) {
    if (!isDdpm) {
      own.push({ path: 'variance_type', message: 'is a DDPMScheduler key', found: JSON.stringify(data.variance_type), hint: `_class_name is ${JSON.stringify(className ?? 'DDIMScheduler')}` });
    } else {
      unsupported('variance_type', 'fixed_small', 'a DDPM variance type other than "fixed_small"');
    }
  }
  if (isDdpm && 'set_alpha_to_one' in data) {
    own.push({ path: 'set_alpha_to_one', message: 'is not a DDPMScheduler key (DDPM always ends at alpha-bar 1)', found: JSON.stringify(data.set_alpha_to_one) });
  }
  problems.push(...locateProblems(own, source.locate));
  throwIfProblems(what, problems);

  const config = { ...DIFFUSERS_DEFAULTS } as Record<string, unknown>;
  for (const k of NOISE_SCHEDULE_KEYS) {
    const v = data[DIFFUSERS_KEY_OF[k]];
    if (v !== undefined) config[k] = v;
  }
  if (isDdpm) config.setAlphaToOne = true;
  // The seed's DistillDDIMScheduler defaults teacher_max_train_steps to 64; the other classes have no sub-sequence.
  config.teacherMaxTrainSteps = isDistill ? (data.teacher_max_train_steps as number | undefined) ?? 64 : 0;
  const resolved = config as unknown as NoiseScheduleConfig;
  throwIfProblems(what, locateProblems(checkNoiseScheduleConfig(resolved, (k) => DIFFUSERS_KEY_OF[k]), source.locate));
  return orderKeys(resolved);
}

/** The DDIMScheduler `scheduler_config.json` object equivalent to a camelCase config. */
export function configToDiffusers(config: NoiseScheduleConfig): DiffusersSchedulerConfig {
  return {
    _class_name: config.teacherMaxTrainSteps > 0 ? 'DistillDDIMScheduler' : 'DDIMScheduler',
    num_train_timesteps: config.numTrainTimesteps,
    beta_schedule: config.betaSchedule,
    beta_start: config.betaStart,
    beta_end: config.betaEnd,
    prediction_type: config.predictionType,
    timestep_spacing: config.timestepSpacing,
    steps_offset: config.stepsOffset,
    set_alpha_to_one: config.setAlphaToOne,
    clip_sample: config.clipSample,
    clip_sample_range: config.clipSampleRange,
    ...(config.teacherMaxTrainSteps > 0 ? { teacher_max_train_steps: config.teacherMaxTrainSteps } : {}),
    trained_betas: null,
    thresholding: false,
    dynamic_thresholding_ratio: 0.995,
    sample_max_value: 1.0,
    rescale_betas_zero_snr: false,
  };
}

/**
 * Whether an object looks like a diffusers config (any snake_case or `_`-prefixed key) rather than a
 * camelCase one. Used where either form is accepted (CLI, node config).
 */
export function isDiffusersStyleConfig(input: Record<string, unknown>): boolean {
  return Object.keys(input).some((k) => k.includes('_'));
}
