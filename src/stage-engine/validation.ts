/**
 * Validation grids during training: every `every` optimizer steps a stage samples a few images per
 * class with the weights it would hand on (the EMA weights), from fixed noise and labels, and writes
 * them as `<node>/validation/step-<k>.png` (rows = classes). The noise comes from the validation seed
 * alone (the sampler's own generator), never from the training streams, so training's random draws,
 * its data order and `--resume` are exactly those of a run without validation.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NoiseSchedule } from '../diffusion/schedule';
import type { ConditionalDenoiser } from '../models/types';
import { classMajorLabels, sampleImages, type LatentDecoder } from '../eval/evaluate';
import { encodeImageGrid } from '../io/png';
import { ConfigError } from '../errors';
import { Obj, Type } from '../schema/typebox';
import { writeFileAtomic } from '../io/atomic-write';

export interface ValidationConfig {
  /** Sample every this many optimizer steps, and after the last one; 0 disables validation. */
  every: number;
  /** Classes of the grid rows; absent: the model's first classes (up to 10), the null class left out. */
  classes?: number[];
  samplesPerClass: number;
  /** DDIM steps (ignored by stage two, which samples each round's student at its own step count). */
  steps: number;
  guidanceScale: number;
  seed: number;
}

export const VALIDATION_DEFAULTS: ValidationConfig = { every: 0, samplesPerClass: 4, steps: 16, guidanceScale: 1, seed: 0 };

/** Config schema (TypeBox) of the `validation` key of training-stage nodes. */
export function validationSchema(defaults: Partial<ValidationConfig> = {}, options: { stepsIgnored?: boolean } = {}) {
  const d = { ...VALIDATION_DEFAULTS, ...defaults };
  return Obj({
    every: Type.Integer({ minimum: 0, default: d.every, description: 'Sample every this many optimizer steps and after the last step; 0 disables validation.' }),
    classes: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1, description: 'Classes of the grid rows (default: the model\'s first classes, up to 10, without the null class).' })),
    samplesPerClass: Type.Integer({ minimum: 1, default: d.samplesPerClass, description: 'Samples per class (grid columns).' }),
    steps: Type.Integer({
      minimum: 1, default: d.steps,
      description: options.stepsIgnored
        ? 'Not used by this stage: each round\'s student is sampled at its own step count (on the base schedule\'s sub-sequence).'
        : 'DDIM sampling steps of the validation samples.',
    }),
    guidanceScale: Type.Number({ minimum: 1, default: d.guidanceScale, description: 'Classifier-free guidance scale of the validation samples (1: none; a w-conditioned model gets w = g − 1).' }),
    seed: Type.Integer({ minimum: 0, default: d.seed, description: 'Seed of the validation noise (the same every time, so consecutive grids are comparable).' }),
  }, {
    default: {},
    description: 'Validation grids while training: sample the stage\'s result weights (EMA) from fixed noise and labels every `every` ' +
      'steps and at the end; write `<node>/validation/step-<k>.png` (rows = classes) and log it as an image. The noise comes from ' +
      '`seed` only, so the training itself (random draws, data order, resume) is unchanged. Off by default (every = 0).',
  });
}

/** True when a grid is due after optimizer step `step` of `total`. */
export function validationDue(v: Pick<ValidationConfig, 'every'> | undefined, step: number, total: number): boolean {
  return !!v && v.every > 0 && (step % v.every === 0 || step === total);
}

/** The classes of the grid rows. */
export function validationClasses(v: ValidationConfig, model: Pick<ConditionalDenoiser, 'numClasses' | 'nullClass'>): number[] {
  if (v.classes) {
    const bad = v.classes.filter((c) => c >= model.numClasses);
    if (bad.length) {
      throw new ConfigError('validation', [{ path: 'validation.classes', message: `classes must be below the model's ${model.numClasses}`, found: JSON.stringify(bad) }]);
    }
    return v.classes;
  }
  const out: number[] = [];
  for (let c = 0; c < model.numClasses && out.length < 10; c++) if (c !== model.nullClass) out.push(c);
  return out;
}

export interface ValidationGridOptions {
  model: ConditionalDenoiser;
  schedule: NoiseSchedule;
  config: ValidationConfig;
  /** Optimizer step the grid belongs to (the file name). */
  step: number;
  /** [H, W, C] of one sample (a latent where `decoder` is given). */
  sampleShape: [number, number, number];
  /** Sampler steps; default config.steps. */
  steps?: number;
  /** Sample on the sub-sequence of this K-step schedule (stage-two students). */
  baseSteps?: number;
  decoder?: LatentDecoder;
  /** The folder of the grids (`<node>/validation`). */
  dir: string;
  signal?: AbortSignal;
}

/** Samples the grid, writes `dir/step-<k>.png`, returns the file and its bytes. */
export async function writeValidationGrid(o: ValidationGridOptions): Promise<{ file: string; png: Buffer }> {
  const classes = validationClasses(o.config, o.model);
  const perClass = o.config.samplesPerClass;
  const labels = new Int32Array(classes.length * perClass);
  const major = classMajorLabels(classes.length, perClass);
  for (let i = 0; i < labels.length; i++) labels[i] = classes[major[i]];
  const samples = await sampleImages({
    model: o.model, schedule: o.schedule, steps: o.steps ?? o.config.steps, guidanceScale: o.config.guidanceScale, labels,
    latentShape: o.sampleShape, batchSize: labels.length, seed: o.config.seed,
    ...(o.baseSteps !== undefined ? { baseSteps: o.baseSteps } : {}),
    ...(o.decoder ? { decoder: o.decoder } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const h = samples.shape[1];
  const png = encodeImageGrid(samples.images, samples.shape, { rows: classes.length, cols: perClass, scale: h < 64 ? 2 : 1 });
  await fs.promises.mkdir(o.dir, { recursive: true });
  const file = path.join(o.dir, `step-${o.step}.png`);
  await writeFileAtomic(file, png);
  return { file, png };
}

/** What a stage node's validation hook needs from its context (a NodeContext satisfies it). */
export interface ValidationNodeContext {
  readonly outDir: string;
  readonly signal?: AbortSignal;
  readonly log: { image(tag: string, step: number, png: Uint8Array, file?: string): void };
}

/**
 * The validation hook of a stage node: writes `<outDir>/validation/step-<k>.png` and logs it under the
 * tag `validation` (stage two: `validation/round-<r>-<N>steps`, sampled at the round's N on the
 * base schedule's sub-sequence). Undefined when validation is off.
 */
export function nodeValidation(ctx: ValidationNodeContext, config: ValidationConfig | undefined, schedule: () => NoiseSchedule,
  decoder?: () => LatentDecoder | undefined, baseSteps?: number) {
  if (!config || config.every === 0) return undefined;
  const dir = path.join(ctx.outDir, 'validation');
  return {
    every: config.every,
    async run(model: ConditionalDenoiser, step: number, sampleShape: [number, number, number], round?: number, steps?: number): Promise<void> {
      const d = decoder?.();
      const { file, png } = await writeValidationGrid({
        model, schedule: schedule(), config, step, sampleShape, dir,
        ...(steps !== undefined ? { steps, baseSteps } : {}),
        ...(d ? { decoder: d } : {}),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      ctx.log.image(round !== undefined ? `validation/round-${round}-${steps}steps` : 'validation', step, png, file);
    },
  };
}
