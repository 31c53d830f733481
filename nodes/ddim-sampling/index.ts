/**
 * `ddim-sampling`: class-conditional DDIM samples of one model at one or more step counts, with or
 * without guidance (and guidance rescale), deterministic or with DDIM eta, from fixed seeds, for
 * classes 0…n−1 or an explicit list of labels, decoded through the first stage, saved as PNG grids (rows =
 * classes) and as a safetensors file of the images.
 */
import * as path from 'node:path';
import { defineNodeType } from '../../src/registry/types';
import type { NoiseSchedule } from '../../src/diffusion/schedule';
import type { ConditionalDenoiser } from '../../src/models/types';
import { gridSelection, sampleImages } from '../../src/eval/evaluate';
import { FIRST_STAGE_PORT_TYPE, latentDecoder, type FirstStage } from '../../src/ldm/first-stage';
import { writeImageGrid } from '../../src/io/png';
import { isWriter, processGroupOf } from '../../src/distributed/context';
import { writeSafetensors } from '../../src/io/safetensors';
import { nhwcToNchw } from '../../src/io/shards';
import type { Problem } from '../../src/errors';
import { configSchema, type DdimSamplingConfig } from './config';
export type { DdimSamplingConfig } from './config';

/** `perRow` copies of each label, row by row (the grid's rows in the order given). */
export function labelsPerRow(rowLabels: readonly number[], perRow: number): Int32Array {
  const out = new Int32Array(rowLabels.length * perRow);
  rowLabels.forEach((label, r) => out.fill(label, r * perRow, (r + 1) * perRow));
  return out;
}

export const ddimSamplingNode = defineNodeType<DdimSamplingConfig>({
  type: 'ddim-sampling',
  description: 'DDIM samples (any step count, optional guidance, fixed seeds) as PNG grids, rows = classes',
  configSchema,
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

