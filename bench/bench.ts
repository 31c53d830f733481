/**
 * `npm run bench` — speed of the reference UNet (shared/spec/benchmark.md) on one backend:
 * training step (v-prediction MSE on the scaled_linear schedule, random t and labels, AdamW through
 * src/training's trainStep) and sampling forward passes, with medians over timed iterations,
 * achieved GFLOP/s and the live tensor count. `--profile` adds a per-kernel table. See docs/benchmarks.md.
 */
import * as os from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import '../src/util/tf-gradients';
import { BACKEND_CHOICES, parsePrecision, selectBackend, shutdownBackend } from '../src/backends';
import { setWasmKernelSet } from '../src/backends/wasm';
import { NoiseSchedule, addNoise, velocity } from '../src/diffusion';
import { AdamW, trainStep } from '../src/training';
import { eventLoopTurn } from '../src/event-loop';
import { UNet } from '../src/models/unet';
import { getKernelStrategy, setKernelStrategy } from '../src/models/layers';
import { median, positiveInt, stats, type Stats } from './stats';
import { ReferenceUNet } from './reference-unet';
import { formatProfile, kernelFlops, profileKernels, summarise } from './profile';

interface BenchModel {
  readonly variables: ReadonlyMap<string, tf.Variable>;
  readonly numParameters: number;
  forward(z: tf.Tensor4D, t: tf.Tensor1D, labels: tf.Tensor1D): tf.Tensor4D;
  dispose(): void;
}

/** Distillery's LDM-layout UNet at the config nearest the reference model. */
export const LDM_BENCH_CONFIG = {
  image_size: 32, in_channels: 1, out_channels: 1, model_channels: 32, num_res_blocks: 1,
  attention_resolutions: [4], channel_mult: [1, 2, 2], num_heads: 1, num_groups: 8, num_classes: 11,
  prediction_type: 'v_prediction' as const,
};

function buildModel(kind: string, seed: number): BenchModel {
  if (kind === 'reference') return new ReferenceUNet({ seed });
  const unet = new UNet(LDM_BENCH_CONFIG, { seed });
  return {
    variables: unet.variables,
    numParameters: unet.numParameters,
    forward: (z, t, labels) => unet.forward(z, t, labels, { training: true }),
    dispose: () => unet.dispose(),
  };
}


function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected an integer ≥ 0, found "${v}"`);
  return n;
}

interface Options {
  backend: string;
  threads?: number;
  batch: number;
  steps: number;
  warmup: number;
  sampleBatch: number;
  sampleIters: number;
  model: string;
  profile?: number | boolean;
  byShape?: boolean;
  kernels: string;
  seed: number;
  precision: string;
  json?: boolean;
}

/** Milliseconds the libtorch addon has spent in its functions so far; undefined on other backends. */
function nativeClock(): number | undefined {
  const b = tf.backend() as unknown as { native?: { nativeMs?: () => number } };
  return b.native?.nativeMs?.();
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('bench')
    .description('Benchmark the reference UNet (shared/spec/benchmark.md): training step and sampling throughput.')
    .option('--backend <name>', `compute backend: ${BACKEND_CHOICES.join(', ')}`, 'wasm')
    .option('--threads <n>', 'worker threads (default: all cores)', positiveInt)
    .option('--batch <n>', 'training batch size', positiveInt, 32)
    .option('--steps <n>', 'timed training steps (the spec asks for ≥ 20)', positiveInt, 20)
    .option('--warmup <n>', 'untimed training steps / sampling passes first', nonNegativeInt, 3)
    .option('--sample-batch <n>', 'sampling batch size', positiveInt, 256)
    .option('--sample-iters <n>', 'timed sampling forward passes (0 skips sampling)', nonNegativeInt, 20)
    .option('--model <kind>', 'reference (the spec model from Distillery layers) or ldm (Distillery UNet class)', 'reference')
    .option('--profile [steps]', 'also profile this many training steps per kernel (default 3)', positiveInt)
    .option('--by-shape', 'with --profile: one row per kernel and input shapes')
    .option('--kernels <set>', 'wasm only: distillery (default) or package (the package kernels plus only the ' +
      'missing training kernels: the baseline)', 'distillery')
    .option('--seed <n>', 'seed of weights and inputs', nonNegativeInt, 0)
    .option('--precision <p>', 'fp32 or bf16 (autocast of convolutions and matmuls; libtorch on a CPU with native bf16)', 'fp32')
    .option('--json', 'print one JSON object instead of text')
    .exitOverride();
  program.parse(argv);
  const o = program.opts<Options>();
  if (o.model !== 'reference' && o.model !== 'ldm') {
    throw new InvalidArgumentError(`--model must be "reference" or "ldm", found "${o.model}"`);
  }
  if (o.kernels !== 'distillery' && o.kernels !== 'package') {
    throw new InvalidArgumentError(`--kernels must be "distillery" or "package", found "${o.kernels}"`);
  }
  setWasmKernelSet(o.kernels);
  const log = (s: string): void => {
    if (!o.json) process.stdout.write(s + '\n');
  };

  const precision = parsePrecision(o.precision, '--precision');
  const info = await selectBackend(o.backend, { threads: o.threads, precision });
  log(`backend: ${info.description}`);
  const model = buildModel(o.model, o.seed);
  const schedule = NoiseSchedule.fromConfig({
    numTrainTimesteps: 1000, betaSchedule: 'scaled_linear', betaStart: 0.0015, betaEnd: 0.0195, predictionType: 'v_prediction',
  });
  const optimizer = new AdamW(model.variables, { lr: 1e-4 });
  const size = 32;
  let seed = o.seed * 7919 + 1;
  const batchInputs = (b: number): { z: tf.Tensor4D; t: tf.Tensor1D; labels: tf.Tensor1D; v: tf.Tensor4D } => tf.tidy(() => {
    const x0 = tf.randomNormal([b, size, size, 1], 0, 1, 'float32', seed++) as tf.Tensor4D;
    const eps = tf.randomNormal([b, size, size, 1], 0, 1, 'float32', seed++) as tf.Tensor4D;
    const t = tf.cast(tf.randomUniformInt([b], 0, 1000, seed++), 'float32') as tf.Tensor1D;
    const labels = tf.randomUniformInt([b], 0, 11, seed++) as tf.Tensor1D;
    return { z: addNoise(schedule, x0, eps, t), t, labels, v: velocity(schedule, x0, eps, t) };
  });
  const oneStep = async (): Promise<number> => {
    // As StageTrainer.update does before every step, so the figure includes its cost.
    await eventLoopTurn();
    const { z, t, labels, v } = batchInputs(o.batch);
    try {
      const r = await trainStep(optimizer, () => tf.mean(tf.squaredDifference(model.forward(z, t, labels), v)) as tf.Scalar);
      return r.loss;
    } finally {
      tf.dispose([z, t, labels, v]);
    }
  };

  // FLOPs of one forward pass, counted from the convolution and matmul kernels it runs at batch 1
  // (every term scales with the batch) with the backends' own convolution kernels, so that the count
  // does not depend on how a backend implements them.
  const strategy = getKernelStrategy();
  setKernelStrategy('native');
  const fwd = batchInputs(1);
  let fwdRecords;
  try {
    fwdRecords = await profileKernels(() => tf.tidy(() => model.forward(fwd.z, fwd.t, fwd.labels)));
  } finally {
    setKernelStrategy(strategy);
    tf.dispose([fwd.z, fwd.t, fwd.labels, fwd.v]);
  }
  const forwardGflop = (o.batch * fwdRecords.reduce((a, k) => a + kernelFlops(k), 0)) / 1e9;
  log(`model: ${o.model}, ${model.numParameters} parameters, ${(forwardGflop / o.batch).toFixed(3)} GFLOP per image forward`);

  for (let i = 0; i < o.warmup; i++) await oneStep();
  const tensorsBefore = tf.memory().numTensors;
  const stepMs: number[] = [];
  const nativeStepMs: number[] = [];
  let loss = NaN;
  for (let i = 0; i < o.steps; i++) {
    const n0 = nativeClock();
    const t0 = performance.now();
    loss = await oneStep();
    stepMs.push(performance.now() - t0);
    const n1 = nativeClock();
    if (n0 !== undefined && n1 !== undefined) nativeStepMs.push(n1 - n0);
  }
  const tensorsAfterTraining = tf.memory().numTensors;
  const train = stats(stepMs);
  const trainGflop = 3 * forwardGflop;
  log(`training step, batch ${o.batch}: median ${train.median.toFixed(1)} ms (min ${train.min.toFixed(1)}, ` +
    `max ${train.max.toFixed(1)}, ${train.n} steps), ${((1000 * o.batch) / train.median).toFixed(1)} images/s, ` +
    `${(trainGflop / (train.median / 1000)).toFixed(1)} GFLOP/s (3 × forward = ${trainGflop.toFixed(2)} GFLOP), loss ${loss.toFixed(4)}`);
  const nativeMedian = nativeStepMs.length > 0 ? median(nativeStepMs) : undefined;
  if (nativeMedian !== undefined) {
    log(`  of which inside the native addon: median ${nativeMedian.toFixed(1)} ms per step; the rest (${(train.median - nativeMedian).toFixed(1)} ms) is JavaScript: TF.js's engine, tape and kernel wrappers`);
  }

  let sample: Stats | undefined;
  if (o.sampleIters > 0) {
    const s = batchInputs(o.sampleBatch);
    // The read waits for the device (asynchronous: WebGPU under Node cannot read synchronously).
    const pass = async (): Promise<void> => {
      const out = tf.tidy(() => model.forward(s.z, s.t, s.labels));
      try {
        await out.data();
      } finally {
        out.dispose();
      }
    };
    for (let i = 0; i < Math.min(o.warmup, 1); i++) await pass();
    const ms: number[] = [];
    for (let i = 0; i < o.sampleIters; i++) {
      const t0 = performance.now();
      await pass();
      ms.push(performance.now() - t0);
    }
    tf.dispose([s.z, s.t, s.labels, s.v]);
    sample = stats(ms);
    log(`sampling forward, batch ${o.sampleBatch}: median ${sample.median.toFixed(1)} ms (min ${sample.min.toFixed(1)}, ` +
      `max ${sample.max.toFixed(1)}, ${sample.n} passes), ${((1000 * o.sampleBatch) / sample.median).toFixed(1)} images/s, ` +
      `${((forwardGflop * o.sampleBatch) / o.batch / (sample.median / 1000)).toFixed(1)} GFLOP/s`);
  }

  let profile: ReturnType<typeof summarise> | undefined;
  let profileStepMs: number | undefined;
  if (o.profile !== undefined) {
    const n = typeof o.profile === 'number' ? o.profile : 3;
    const t0 = performance.now();
    const records = await profileKernels(async () => {
      for (let i = 0; i < n; i++) await oneStep();
    });
    profileStepMs = (performance.now() - t0) / n;
    profile = summarise(records, n, o.byShape === true);
    log(formatProfile(profile, profileStepMs));
  }
  const tensorsEnd = tf.memory().numTensors;
  log(`tensors alive: ${tensorsBefore} after warm-up, ${tensorsAfterTraining} after training, ${tensorsEnd} at the end` +
    (tensorsEnd === tensorsBefore ? ' (no growth)' : ' (GROWTH: a leak)'));
  const [l1, l5, l15] = os.loadavg();
  log(`machine: ${os.cpus().length} cpus (${os.cpus()[0]?.model ?? 'unknown CPU'}), load average ${l1.toFixed(2)} ${l5.toFixed(2)} ${l15.toFixed(2)}`);

  if (o.json) {
    process.stdout.write(JSON.stringify({
      backend: info, kernels: o.kernels, model: o.model, parameters: model.numParameters, batch: o.batch,
      forwardGflopPerImage: forwardGflop / o.batch,
      train: { ...train, imagesPerSecond: (1000 * o.batch) / train.median, gflopPerSecond: trainGflop / (train.median / 1000), loss, nativeMedianMs: nativeMedian },
      sample: sample && { ...sample, batch: o.sampleBatch, imagesPerSecond: (1000 * o.sampleBatch) / sample.median },
      tensors: { afterWarmup: tensorsBefore, afterTraining: tensorsAfterTraining, end: tensorsEnd },
      profile: profile && { stepMs: profileStepMs, kernels: profile },
      loadAverage: os.loadavg(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, precision,
    }, null, 2) + '\n');
  }
  optimizer.dispose();
  model.dispose();
  await shutdownBackend();
}

main(process.argv).catch(async (err: unknown) => {
  const e = err as { code?: string; exitCode?: number; message?: string };
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') process.exit(0);
  // Commander has printed its own parse errors already.
  if (!e.code?.startsWith('commander.')) process.stderr.write(`bench: ${e.message ?? String(err)}\n`);
  await shutdownBackend().catch(() => undefined);
  process.exit(e.exitCode ?? 1);
});
