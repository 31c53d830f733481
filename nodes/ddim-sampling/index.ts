/**
 * `ddim-sampling`: class-conditional DDIM samples of one model at one or more step counts, with or
 * without guidance, from fixed seeds, decoded through the first stage, saved as PNG grids (rows =
 * classes) and as a safetensors file of the images.
 */
import * as path from 'node:path';
import { defineNodeType, type JsonSchema } from '../../src/registry/types';
import type { NoiseSchedule } from '../../src/diffusion/schedule';
import type { ConditionalDenoiser } from '../../src/models/types';
import { classMajorLabels, gridSelection, sampleImages } from '../../src/eval/evaluate';
import { FIRST_STAGE_PORT_TYPE, latentDecoder, type FirstStage } from '../../src/eval/first-stage';
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
  classes: number;
  samplesPerClass: number;
  latentShape: [number, number, number];
  batchSize: number;
  name: string;
  seed?: number;
  saveImages: boolean;
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
      baseSteps: { type: 'integer', minimum: 1, description: 'Sample the N-step sub-sequence of this K-step schedule (how stage-two students sample); absent: the schedule\'s own N-step DDIM timesteps.' },
      classes: { type: 'integer', minimum: 1, default: 10, description: 'Classes 0 … classes−1, one grid row each.' },
      samplesPerClass: { type: 'integer', minimum: 1, default: 10, description: 'Samples per class (grid columns).' },
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
        const labels = classMajorLabels(c.classes, c.samplesPerClass);
        const progress = ctx.progress('sample', c.steps.length);
        // Data-parallel run: rank r samples the batches b ≡ r (mod K); every rank gets all images, rank 0 writes them.
        const group = processGroupOf(ctx.container);
        for (const [i, n] of c.steps.entries()) {
          const samples = await sampleImages({
            model, schedule: ctx.resources.schedule as NoiseSchedule, steps: n, guidanceScale: c.guidanceScale, labels,
            latentShape: c.latentShape, batchSize: c.batchSize, seed: c.seed ?? ctx.seed,
            ...(c.baseSteps !== undefined ? { baseSteps: c.baseSteps } : {}), ...(ae ? { decoder: latentDecoder(ae) } : {}), signal: ctx.signal,
            ...(group ? { group } : {}),
          });
          if (!isWriter(group)) {
            progress.update(i + 1);
            continue;
          }
          const grid = gridSelection(samples, c.classes, c.samplesPerClass);
          const file = path.join(ctx.outDir, `${c.name}-${n}steps.png`);
          writeImageGrid(file, grid.pixels, grid.shape, { rows: c.classes, cols: c.samplesPerClass, scale: 2 });
          if (c.saveImages) {
            const [b, h, w, ch] = samples.shape;
            await writeSafetensors(path.join(ctx.outDir, `${c.name}-${n}steps.safetensors`), {
              images: { dtype: 'F32', shape: [b, ch, h, w], data: nhwcToNchw(samples.images, samples.shape) },
              labels: { dtype: 'I64', shape: [b], data: samples.labels },
            });
          }
          ctx.log.info(`${n} steps: grid ${path.relative(ctx.runDir, file)}`);
          progress.update(i + 1);
        }
        progress.done();
      },
    };
  },
});

