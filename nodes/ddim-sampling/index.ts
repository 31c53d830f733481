/**
 * `ddim-sampling`: class-conditional DDIM samples of one model at one or more step counts, with or
 * without guidance (and guidance rescale), deterministic or with DDIM eta, from fixed seeds, for
 * classes 0…n−1 or an explicit list of labels, decoded through the first stage, saved as PNG grids (rows =
 * classes) and as a safetensors file of the images.
 */
import * as path from 'node:path';
import { defineNodeType, type JsonSchema } from '../../src/registry/types';
import type { NoiseSchedule } from '../../src/diffusion/schedule';
import type { ConditionalDenoiser } from '../../src/models/types';
import { gridSelection, sampleImages } from '../../src/eval/evaluate';
import { FIRST_STAGE_PORT_TYPE, latentDecoder, type FirstStage } from '../../src/ldm/first-stage';
import { writeImageGrid } from '../../src/io/png';
import { isWriter, processGroupOf } from '../../src/distributed/context';
import { writeSafetensors } from '../../src/io/safetensors';
import { nhwcToNchw } from '../../src/io/shards';
import type { Problem } from '../../src/errors';
import schema from './schema.json';

export interface DdimSamplingConfig {
  steps: number[];
  guidanceScale: number;
  baseSteps?: number;
  guidanceRescale: number;
  eta: number;
  classes: number;
  labels?: number[];
  samplesPerClass: number;
  latentShape: [number, number, number];
  batchSize: number;
  name: string;
  seed?: number;
  saveImages: boolean;
}

/** `perRow` copies of each label, row by row (the grid's rows in the order given). */
export function labelsPerRow(rowLabels: readonly number[], perRow: number): Int32Array {
  const out = new Int32Array(rowLabels.length * perRow);
  rowLabels.forEach((label, r) => out.fill(label, r * perRow, (r + 1) * perRow));
  return out;
}

export function ddimSamplingConfigSchema(): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'ddim-sampling node config',
    description: 'DDIM samples of a model as PNG grids (rows = classes).',
    type: 'object',
    additionalProperties: false,
    required: ['latentShape'],
    properties: {
      steps: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 1, default: [64, 8, 4, 2, 1], description: 'Step counts to sample at (one grid each).' },
      guidanceScale: { type: 'number', minimum: 1, default: 1, description: 'Guidance scale g (1 = none, e.g. for distilled students). For a w-conditioned model, w = g − 1.' },
      guidanceRescale: { type: 'number', minimum: 0, maximum: 1, default: 0, description: 'Guidance rescale φ (Lin et al.): p̂ ← φ·p̂·std(p̂_c)/std(p̂) + (1 − φ)·p̂; used only with guidance (0 = none).' },
      eta: { type: 'number', minimum: 0, maximum: 1, default: 0, description: 'DDIM eta: 0 is deterministic DDIM; > 0 adds the DDIM variance with noise from the same fixed seed.' },
      baseSteps: { type: 'integer', minimum: 1, description: 'Sample the N-step sub-sequence of this K-step schedule (how stage-two students sample); absent: the schedule\'s own N-step DDIM timesteps.' },
      classes: { type: 'integer', minimum: 1, default: 10, description: 'Classes 0 … classes−1, one grid row each (unless labels is given).' },
      labels: { type: 'array', items: { type: 'integer', minimum: 0 }, minItems: 1, description: 'An explicit list of labels, one grid row each, in this order (e.g. [207, 360, 387] for ImageNet classes, or the null class for unconditional samples); replaces classes.' },
      samplesPerClass: { type: 'integer', minimum: 1, default: 10, description: 'Samples per label (grid columns).' },
      latentShape: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 3, maxItems: 3, description: '[H, W, C] of one latent (e.g. [8, 8, 4] for the MNIST autoencoder).' },
      batchSize: { type: 'integer', minimum: 1, default: 100, description: 'Samples per sampler call.' },
      name: { type: 'string', pattern: '^[A-Za-z0-9_-]+$', default: 'samples', description: 'File-name prefix: <name>-<steps>steps.png.' },
      seed: { type: 'integer', minimum: 0, description: 'Seed of the initial noise (default: the node\'s seed).' },
      saveImages: { type: 'boolean', default: false, description: 'Also write the decoded images as <name>-<steps>steps.safetensors (`images` [N, C, H, W] F32, `labels` [N] I64).' },
    },
  };
}

export const ddimSamplingNode = defineNodeType<DdimSamplingConfig>({
  type: 'ddim-sampling',
  description: 'DDIM samples (any step count, optional guidance, fixed seeds) as PNG grids, rows = classes',
  configSchema: schema as JsonSchema,
  inputs: {
    model: { kind: 'resource', type: 'model', description: 'The denoiser to sample.' },
    schedule: { kind: 'resource', type: 'noise-schedule', description: 'Its noise schedule.' },
    autoencoder: { kind: 'resource', type: FIRST_STAGE_PORT_TYPE, optional: true, description: 'First stage to decode latents (absent: the samples are shown as they are; grids show the first channel unless there are 3).' },
  },
  outputs: {},
  check(config) {
    const problems: Problem[] = [];
    if (config.baseSteps !== undefined) {
      config.steps.forEach((n, i) => { if (config.baseSteps! % n !== 0) problems.push({ path: `steps.${i}`, message: `must divide baseSteps (${config.baseSteps})`, found: String(n) }); });
    }
    return problems;
  },
  create(ctx) {
    const c = ctx.config;
    return {
      async run() {
        const model = ctx.resources.model as ConditionalDenoiser;
        const ae = ctx.resources.autoencoder as FirstStage | undefined;
        const rowLabels = c.labels ?? Array.from({ length: c.classes }, (_, k) => k);
        const labels = labelsPerRow(rowLabels, c.samplesPerClass);
        // Progress counts sampler steps over all batches and step counts, so it moves within a long one.
        const batches = Math.ceil(labels.length / c.batchSize);
        const progress = ctx.progress('sample', c.steps.reduce((a, n) => a + batches * n, 0));
        let done = 0;
        // Data-parallel run: rank r samples the batches b ≡ r (mod K); every rank gets all images, rank 0 writes them.
        const group = processGroupOf(ctx.container);
        for (const n of c.steps) {
          const samples = await sampleImages({
            model, schedule: ctx.resources.schedule as NoiseSchedule, steps: n, guidanceScale: c.guidanceScale, labels,
            guidanceRescale: c.guidanceRescale, eta: c.eta,
            latentShape: c.latentShape, batchSize: c.batchSize, seed: c.seed ?? ctx.seed,
            ...(c.baseSteps !== undefined ? { baseSteps: c.baseSteps } : {}), ...(ae ? { decoder: latentDecoder(ae) } : {}), signal: ctx.signal,
            ...(group ? { group } : {}),
            onStep: (k) => progress.update(done + k),
          });
          done += batches * n;
          if (!isWriter(group)) {
            progress.update(done);
            continue;
          }
          const grid = gridSelection(samples, rowLabels.length, c.samplesPerClass);
          const file = path.join(ctx.outDir, `${c.name}-${n}steps.png`);
          writeImageGrid(file, grid.pixels, grid.shape, { rows: rowLabels.length, cols: c.samplesPerClass, scale: 2 });
          if (c.saveImages) {
            const [b, h, w, ch] = samples.shape;
            await writeSafetensors(path.join(ctx.outDir, `${c.name}-${n}steps.safetensors`), {
              images: { dtype: 'F32', shape: [b, ch, h, w], data: nhwcToNchw(samples.images, samples.shape) },
              labels: { dtype: 'I64', shape: [b], data: samples.labels },
            });
          }
          ctx.log.info(`${n} steps: grid ${path.relative(ctx.runDir, file)}`);
          progress.update(done);
        }
        progress.done();
      },
    };
  },
});

