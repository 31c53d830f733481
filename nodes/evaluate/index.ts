/**
 * `evaluate`: samples every class with the guided teacher (DDIM at each step count) and with each
 * distilled student (at its own step count, no guidance: it is built in), decodes through the first
 * stage, and scores the images with a classifier trained on real data: class accuracy, and FID in the
 * classifier's penultimate feature space against held-out real images. Writes one PNG grid per
 * (model, steps) — rows are classes — and `metrics.json`; outputs the numbers for `report`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defineNodeType } from '../../src/registry/types';
import { ConfigError, type Problem } from '../../src/errors';
import type { NoiseSchedule } from '../../src/diffusion/schedule';
import type { DatasetResource } from '../../src/data/resource';
import type { ArrayDataset } from '../../src/data/dataset';
import type { ConditionalDenoiser } from '../../src/models/types';
import { classMajorLabels, gridSelection, realReference, sampleImages, scoreSamples, type ImageScorer } from '../../src/eval/evaluate';
import { decodeLatents, encodeLatents, FIRST_STAGE_PORT_TYPE, latentDecoder, type FirstStage } from '../../src/ldm/first-stage';
import { encodeImageGrid } from '../../src/io/png';
import { writeSafetensors } from '../../src/io/safetensors';
import { nhwcToNchw } from '../../src/io/shards';
import type { EvaluationCell, EvaluationMetrics, GuidanceChoice } from '../../src/report/metrics';
import { runBackendOf } from '../../src/backends/context';
import { eventLoopTurn } from '../../src/event-loop';
import * as tf from '@tensorflow/tfjs-core';
import { configSchema, type EvaluateConfig } from './config';
export type { EvaluateConfig } from './config';
import { processGroupOf } from '../../src/distributed/context';
import type { ProcessGroup } from '../../src/distributed/process-group';
import { writeFileAtomicSync } from '../../src/io/atomic-write';

interface StudentEntry {
  steps: number;
  model: ConditionalDenoiser;
}

export const evaluateNode = defineNodeType<EvaluateConfig>({
  type: 'evaluate',
  description: 'FID (classifier features) and class accuracy of teacher and students at each step count; PNG grids',
  configSchema,
  inputs: {
    schedule: { kind: 'resource', type: 'noise-schedule', description: 'The noise schedule the models sample with.' },
    classifier: { kind: 'resource', type: 'model', description: 'Classifier trained on real images: logits(x) and features(x) (penultimate layer).' },
    data: { kind: 'resource', type: 'dataset', description: 'Held-out real data (its test part, or validation part with split: "validation", is the FID reference); latents are decoded through the autoencoder.' },
    autoencoder: { kind: 'resource', type: FIRST_STAGE_PORT_TYPE, optional: true, description: 'First stage (decode(latents) → images): samples are decoded through it (absent: samples are images).' },
    teacher: { kind: 'resource', type: 'model', optional: true, description: 'The guided teacher, sampled at every teacherSteps count.' },
    students: { kind: 'resource', type: 'students', optional: true, description: 'Distilled students with their step counts (progressive-distillation).' },
  },
  outputs: {
    metrics: { kind: 'resource', type: 'metrics', description: 'The evaluation numbers (also written to metrics.json); resolves when done.' },
  },
  check(config) {
    const problems: Problem[] = [];
    config.teacherSteps.forEach((n, i) => {
      if (config.baseSteps % n !== 0) problems.push({ path: `teacherSteps.${i}`, message: `must divide baseSteps (${config.baseSteps})`, found: String(n) });
    });
    if (config.guidanceSweep && config.teacherSteps.length === 0) {
      problems.push({ path: 'teacherSteps', message: 'a guidance sweep needs at least one teacher step count (the choice is made at the largest)', found: '[]' });
    }
    return problems;
  },
  create(ctx) {
    const c = ctx.config;
    let resolveMetrics!: (m: EvaluationMetrics) => void;
    let rejectMetrics!: (e: unknown) => void;
    const metricsPromise = new Promise<EvaluationMetrics>((res, rej) => { resolveMetrics = res; rejectMetrics = rej; });
    metricsPromise.catch(() => undefined);
    return {
      resources: { metrics: metricsPromise },
      async run() {
        try {
          resolveMetrics(await evaluateAll(ctx.config, {
            schedule: ctx.resources.schedule as NoiseSchedule,
            classifier: ctx.resources.classifier as ImageScorer,
            data: ctx.resources.data as DatasetResource,
            autoencoder: ctx.resources.autoencoder as FirstStage | undefined,
            teacher: ctx.resources.teacher as ConditionalDenoiser | undefined,
            students: ctx.resources.students as StudentEntry[] | undefined,
            seed: c.seed ?? ctx.seed, outDir: ctx.outDir, runDir: ctx.runDir, signal: ctx.signal, group: processGroupOf(ctx.container),
            backend: runBackendOf(ctx.container)?.description ?? tf.getBackend(),
            log: (m) => ctx.log.info(m),
            metrics: (step, values) => ctx.log.metrics(step, values),
            image: (tag, step, png, file) => ctx.log.image(tag, step, png, file),
            progress: (total) => ctx.progress('evaluate', total),
          }));
        } catch (err) {
          rejectMetrics(err);
          throw err;
        }
      },
    };
  },
});

interface EvaluateInputs {
  schedule: NoiseSchedule;
  classifier: ImageScorer;
  data: DatasetResource;
  autoencoder?: FirstStage;
  teacher?: ConditionalDenoiser;
  students?: StudentEntry[];
  seed: number;
  outDir: string;
  runDir: string;
  signal?: AbortSignal;
  /** Data-parallel run: the sampling and the classifier scoring are sharded across ranks (batches b ≡ r mod K). */
  group?: ProcessGroup;
  /** The run's compute backend in one line (recorded in metrics.json). */
  backend: string;
  log(message: string): void;
  /** Per cell, at x = its step count: `<teacher|student>/fid` and `/accuracy` (TensorBoard: evaluate/teacher/fid …). */
  metrics?(step: number, values: Record<string, number>): void;
  /** Per cell, at x = its step count: the grid as `<teacher|student>/grid`. */
  image?(tag: string, step: number, png: Uint8Array, file: string): void;
  progress(total: number): { update(current: number, metrics?: Record<string, number>): void; done(): void };
}

/** The held-out part `split` names; a typed error when the data set has none. */
export function referencePart(data: DatasetResource, split: 'test' | 'validation'): ArrayDataset {
  const part = data[split];
  if (!part || part.shape[0] === 0) {
    throw new ConfigError('evaluate', [{
      path: 'split', message: `the data set has no ${split} part`, found: split,
      hint: split === 'validation' ? 'set validationSize on the data node (mnist-dataset, idx-dataset, latent-dataset)' : 'set testSize > 0 on the data node',
    }]);
  }
  return part;
}

/** Held-out real images: the reference part `held` of the data set, decoded when it holds latents and a first stage is given. */
async function realImages(kind: DatasetResource['kind'], held: ArrayDataset, autoencoder: FirstStage | undefined, batchSize: number): Promise<ArrayDataset> {
  // Without a first stage, samples are scored as they come out of the sampler, so the reference is the
  // held-out data as it is; latents are decoded exactly when the samples are.
  if (kind === 'images' || !autoencoder) return held;
  const [n, h, w, ch] = held.shape;
  const parts: Float32Array[] = [];
  let shape: number[] = [];
  for (let start = 0; start < n; start += batchSize) {
    await eventLoopTurn();
    const count = Math.min(batchSize, n - start);
    const img = tf.tidy(() => tf.clipByValue(decodeLatents(autoencoder, tf.tensor4d(held.x.subarray(start * h * w * ch, (start + count) * h * w * ch), [count, h, w, ch])), -1, 1));
    shape = img.shape;
    try {
      parts.push(await img.data() as Float32Array);
    } finally {
      img.dispose();
    }
  }
  const x = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { x.set(p, at); at += p.length; }
  return { x, shape: [n, shape[1], shape[2], shape[3]], labels: held.labels };
}

/**
 * The shape of one sample: the data's own shape when it holds latents or when there is no first stage;
 * for images with a first stage, the shape of one encoded held-out image (of the reference part).
 */
function sampleShape(kind: DatasetResource['kind'], held: ArrayDataset, autoencoder: FirstStage | undefined): [number, number, number] {
  const [, h, w, c] = held.shape;
  if (kind === 'latents' || !autoencoder) return [h, w, c];
  const z = tf.tidy(() => encodeLatents(autoencoder, tf.tensor4d(held.x.subarray(0, h * w * c), [1, h, w, c])));
  const shape: [number, number, number] = [z.shape[1], z.shape[2], z.shape[3]];
  z.dispose();
  return shape;
}

export async function evaluateAll(c: EvaluateConfig, inp: EvaluateInputs): Promise<EvaluationMetrics> {
  const classes = c.classes ?? inp.data.numClasses;
  const labels = classMajorLabels(classes, c.samplesPerClass);
  const held = referencePart(inp.data, c.split); // fails before any sampling
  const latentShape = sampleShape(inp.data.kind, held, inp.autoencoder);
  const real = await realImages(inp.data.kind, held, inp.autoencoder, c.batchSize);
  const reference = await realReference(inp.classifier, real, c.batchSize, inp.group);
  inp.log(`real held-out images (${c.split} part): ${real.shape[0]}, classifier accuracy ${(reference.accuracy * 100).toFixed(1)}%, half-split FID ${reference.halfSplitFid.toFixed(3)}`);
  const cells: EvaluationCell[] = [];
  const jobs: Array<{ series: string; model: ConditionalDenoiser; steps: number; guidance: number; name: string; role: 'teacher' | 'student' }> = [];
  if (inp.teacher) {
    if (c.guidanceSweep) {
      for (const g of c.guidanceSweep) {
        for (const n of c.teacherSteps) jobs.push({ series: `${c.teacherSeries ?? 'teacher'} (DDIM, g=${g})`, model: inp.teacher, steps: n, guidance: g, name: `teacher-g${g}-${n}`, role: 'teacher' });
      }
    } else {
      const teacherSeries = c.teacherSeries ?? `teacher (DDIM, g=${c.guidanceScale})`;
      for (const n of c.teacherSteps) jobs.push({ series: teacherSeries, model: inp.teacher, steps: n, guidance: c.guidanceScale, name: `teacher-${n}`, role: 'teacher' });
    }
  }
  for (const s of inp.students ?? []) {
    if (c.studentSteps && !c.studentSteps.includes(s.steps)) continue;
    jobs.push({ series: c.studentSeries, model: s.model, steps: s.steps, guidance: s.model.takesGuidanceWeight ? c.guidanceScale : 1, name: `student-${s.steps}`, role: 'student' });
  }
  if (jobs.length === 0) throw new ConfigError('evaluate', [{ path: 'teacher', message: 'nothing to evaluate: connect a teacher and/or students' }]);
  const decoder = inp.autoencoder ? latentDecoder(inp.autoencoder) : undefined;
  // Progress counts sampler steps (a 64-step cell is 64 × batches of them), so it moves within a cell.
  const batches = Math.ceil(labels.length / c.batchSize);
  const work = jobs.map((j) => batches * j.steps);
  const progress = inp.progress(work.reduce((a, b) => a + b, 0));
  let workDone = 0;
  const gridDir = path.join(inp.outDir, 'grids');
  fs.mkdirSync(gridDir, { recursive: true });
  for (const [k, job] of jobs.entries()) {
    const started = Date.now();
    const samples = await sampleImages({
      model: job.model, schedule: inp.schedule, steps: job.steps, baseSteps: c.baseSteps, guidanceScale: job.guidance, labels,
      latentShape, batchSize: c.batchSize, seed: inp.seed, ...(decoder ? { decoder } : {}), ...(inp.signal ? { signal: inp.signal } : {}),
      ...(inp.group ? { group: inp.group } : {}),
      onStep: (done) => progress.update(workDone + done),
    });
    workDone += work[k];
    const score = await scoreSamples(inp.classifier, samples, reference, c.batchSize, inp.group);
    if (c.saveSamples) {
      const [b, h, w, ch] = samples.shape;
      fs.mkdirSync(path.join(inp.outDir, 'samples'), { recursive: true });
      await writeSafetensors(path.join(inp.outDir, 'samples', `${job.name}.safetensors`), {
        images: { dtype: 'F32', shape: [b, ch, h, w], data: nhwcToNchw(samples.images, samples.shape) },
        labels: { dtype: 'I64', shape: [b], data: samples.labels },
      }, { series: job.series, steps: String(job.steps), guidanceScale: String(job.guidance) });
    }
    const grid = gridSelection(samples, classes, c.gridColumns);
    const gridFile = path.join(gridDir, `${job.name}.png`);
    const png = encodeImageGrid(grid.pixels, grid.shape, { rows: classes, cols: grid.shape[0] / classes, scale: 2 });
    writeFileAtomicSync(gridFile, png);
    const seconds = (Date.now() - started) / 1000;
    cells.push({ series: job.series, model: job.name, role: job.role, steps: job.steps, guidanceScale: job.guidance, fid: score.fid, accuracy: score.accuracy, samples: labels.length, grid: path.relative(inp.runDir, gridFile), seconds });
    // The step count is the x axis: TensorBoard draws FID and accuracy against sampling steps, per series.
    inp.metrics?.(job.steps, { [`${job.role}/fid`]: score.fid, [`${job.role}/accuracy`]: score.accuracy });
    inp.image?.(`${job.role}/grid`, job.steps, png, gridFile);
    inp.log(`${job.series} @ ${job.steps} steps: FID ${score.fid.toFixed(3)}, accuracy ${(score.accuracy * 100).toFixed(1)}% (${labels.length} samples, ${seconds.toFixed(1)} s)`);
    progress.update(workDone, { fid: score.fid, accuracy: score.accuracy });
  }
  progress.done();
  const choice = c.guidanceSweep && inp.teacher ? chooseGuidance(cells, Math.max(...c.teacherSteps), c.sweepMinAccuracy, c.split) : undefined;
  if (choice) inp.log(`chosen guidance scale: g = ${choice.guidanceScale} (${choice.rule}; FID ${choice.fid.toFixed(3)}, accuracy ${(choice.accuracy * 100).toFixed(1)}% on the ${c.split} part)`);
  const metrics: EvaluationMetrics = {
    title: c.title, createdAt: new Date().toISOString(), backend: inp.backend, seed: inp.seed,
    split: c.split, referenceSize: real.shape[0], realFid: reference.halfSplitFid, realAccuracy: reference.accuracy, cells,
    ...(choice ? { choice } : {}),
  };
  writeFileAtomicSync(path.join(inp.outDir, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
  return metrics;
}

/**
 * The guidance sweep's choice among the teacher cells at `steps`: the lowest FID among the scales whose
 * accuracy reaches `minAccuracy`; when none does, the most accurate scale.
 */
export function chooseGuidance(cells: EvaluationCell[], steps: number, minAccuracy: number, split: 'test' | 'validation'): GuidanceChoice {
  const at = cells.filter((cell) => cell.role === 'teacher' && cell.steps === steps);
  if (at.length === 0) throw new Error(`chooseGuidance: no teacher cells at ${steps} steps`);
  const eligible = at.filter((cell) => cell.accuracy >= minAccuracy);
  const best = eligible.length > 0
    ? eligible.reduce((a, b) => (b.fid < a.fid ? b : a))
    : at.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
  const rule = eligible.length > 0
    ? `lowest FID at ${steps} steps${minAccuracy > 0 ? ` among scales with accuracy ≥ ${(minAccuracy * 100).toFixed(1)}%` : ''}`
    : `no scale reached accuracy ${(minAccuracy * 100).toFixed(1)}% at ${steps} steps: the most accurate`;
  return { guidanceScale: best.guidanceScale, steps, fid: best.fid, accuracy: best.accuracy, split, rule };
}
