/**
 * `npm run bench` — speed of the reference UNet (shared/spec/benchmark.md) on one backend:
 * training step (v-prediction MSE on the scaled_linear schedule, random t and labels, AdamW through
 * src/training's trainStep) and sampling forward passes, with medians over timed iterations,
 * achieved GFLOP/s and the live tensor count. `--profile` adds a per-kernel table. See docs/benchmarks.md.
 */
import * as os from 'node:os';
import { spawn } from 'node:child_process';
import { Command, InvalidArgumentError } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import '../src/util/tf-gradients';
import { BACKEND_CHOICES, parsePrecision, selectBackend, shutdownBackend } from '../src/backends';
import { setWasmKernelSet } from '../src/backends/wasm';
import type { LibtorchBackend } from '../src/backends/libtorch';
import { NoiseSchedule, addNoise, velocity } from '../src/diffusion';
import { AdamW, trainStep } from '../src/training';
import { eventLoopTurn } from '../src/event-loop';
import { UNet } from '../src/models/unet';
import { getKernelStrategy, setKernelStrategy } from '../src/models/layers';
import { median, positiveInt, stats, type Stats } from './stats';
import { ReferenceUNet } from './reference-unet';
import { formatProfile, kernelFlops, profileKernels, summarise } from './profile';
import { readDistributedEnv } from '../src/distributed/env';
import { GlooProcessGroup } from '../src/distributed/gloo';
import type { ProcessGroup } from '../src/distributed/process-group';
import { allReduceMeanGradients, broadcastVariables, newCommStats } from '../src/distributed/gradients';
import { freePort } from '../src/cli/launch';

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
  nprocPerNode?: number;
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
    .option('--nproc-per-node <k>', 'data-parallel: K local workers (torch.distributed Gloo on 127.0.0.1), each with ' +
      '--batch/K and --sample-batch/K and --threads/K (default cores/K), gradients all-reduced every step: ' +
      'the same global batch as one worker; rank 0 prints', positiveInt)
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
  const dist = readDistributedEnv();
  if (o.nprocPerNode !== undefined && o.nprocPerNode > 1 && !dist) {
    process.exitCode = await launchWorkers(argv, o);
    return;
  }
  let group: ProcessGroup | undefined;
  if (dist) {
    group = await GlooProcessGroup.connect({ ...dist, timeoutMs: 120_000, rendezvousTimeoutMs: 120_000 });
  }
  const world = group?.worldSize ?? 1;
  const rank = group?.rank ?? 0;
  const log = (s: string): void => {
    if (!o.json && rank === 0) process.stdout.write(s + '\n');
  };

  const precision = parsePrecision(o.precision, '--precision');
  const info = await selectBackend(o.backend, { threads: o.threads, precision });
  log(`backend: ${info.description}`);
  if (group) {
    log(`data-parallel: ${world} workers (gloo on 127.0.0.1), per worker batch ${o.batch} and sampling batch ${o.sampleBatch}: ` +
      `global batch ${world * o.batch}, sampling batch ${world * o.sampleBatch}`);
  }
  const model = buildModel(o.model, o.seed);
  const comm = newCommStats();
  if (group) await broadcastVariables(group, [...model.variables.values()]);
  const schedule = NoiseSchedule.fromConfig({
    numTrainTimesteps: 1000, betaSchedule: 'scaled_linear', betaStart: 0.0015, betaEnd: 0.0195, predictionType: 'v_prediction',
  });
  const optimizer = new AdamW(model.variables, { lr: 1e-4 });
  const size = 32;
  let seed = o.seed * 7919 + 1 + 1_000_003 * rank;
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
      const r = await trainStep(optimizer, () => tf.mean(tf.squaredDifference(model.forward(z, t, labels), v)) as tf.Scalar,
        group ? { reduceGradients: (g) => allReduceMeanGradients(group!, g, comm) } : {});
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
  if (group) await group.barrier();
  const commBefore = { ...comm };
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
  const trainGflop = 3 * forwardGflop * world;
  const globalBatch = o.batch * world;
  log(`training step, batch ${globalBatch}${group ? ` (${world} × ${o.batch})` : ''}: median ${train.median.toFixed(1)} ms (min ${train.min.toFixed(1)}, ` +
    `max ${train.max.toFixed(1)}, ${train.n} steps), ${((1000 * globalBatch) / train.median).toFixed(1)} images/s, ` +
    `${(trainGflop / (train.median / 1000)).toFixed(1)} GFLOP/s (3 × forward = ${trainGflop.toFixed(2)} GFLOP), loss ${loss.toFixed(4)}`);
  let allReduce: { msPerStep: number; bytesPerStep: number; callsPerStep: number; shareOfStep: number } | undefined;
  if (group) {
    const n = stepMs.length;
    const msPerStep = (comm.ms - commBefore.ms) / n;
    allReduce = { msPerStep, bytesPerStep: (comm.bytes - commBefore.bytes) / n, callsPerStep: (comm.calls - commBefore.calls) / n, shareOfStep: msPerStep / (stepMs.reduce((a, b) => a + b, 0) / n) };
    log(`  gradient all-reduce (rank 0): ${msPerStep.toFixed(2)} ms per step (${allReduce.callsPerStep} call(s), ` +
      `${(allReduce.bytesPerStep / 1e6).toFixed(2)} MB), ${(100 * allReduce.shareOfStep).toFixed(1)} % of the mean step ` +
      '(includes waiting for the slower rank)');
  }
  const nativeMedian = nativeStepMs.length > 0 ? median(nativeStepMs) : undefined;
  if (nativeMedian !== undefined) {
    log(`  of which inside the native addon: median ${nativeMedian.toFixed(1)} ms per step; the rest (${(train.median - nativeMedian).toFixed(1)} ms) is JavaScript: TF.js's engine, tape and kernel wrappers`);
  }

  let sample: Stats | undefined;
  if (o.sampleIters > 0) {
    const s = batchInputs(o.sampleBatch);
    // The read waits for the device (asynchronous: WebGPU under Node cannot read synchronously).
    const pass = async (): Promise<void> => {
      // Data-parallel: a pass ends when every rank's shard is done.
      const out = tf.tidy(() => model.forward(s.z, s.t, s.labels));
      try {
        await out.data();
      } finally {
        out.dispose();
      }
      if (group) await group.barrier();
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
    const globalSample = o.sampleBatch * world;
    log(`sampling forward, batch ${globalSample}${group ? ` (${world} × ${o.sampleBatch})` : ''}: median ${sample.median.toFixed(1)} ms (min ${sample.min.toFixed(1)}, ` +
      `max ${sample.max.toFixed(1)}, ${sample.n} passes), ${((1000 * globalSample) / sample.median).toFixed(1)} images/s, ` +
      `${((forwardGflop * globalSample) / o.batch / (sample.median / 1000)).toFixed(1)} GFLOP/s`);
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
  if (precision === 'bf16' && tf.getBackend() === 'libtorch') {
    // Which bf16 convolution path ran, and oneDNN's implementation for each geometry (the "--verbose" of it).
    const conv = (tf.backend() as LibtorchBackend).bf16Convolutions();
    const impls = conv.implementations.trim().split('\n').filter((l) => l.length > 0);
    const counts = new Map<string, number>();
    for (const l of impls) {
      const impl = l.slice(l.indexOf(': ') + 2);
      counts.set(impl, (counts.get(impl) ?? 0) + 1);
    }
    log(`bf16 convolutions: ${conv.path === 'onednn' ? 'oneDNN, float32 results' : "ATen's kernels, bf16 results widened"}` +
      (impls.length > 0 ? ` (${impls.length} geometries: ${[...counts].map(([k, n]) => `${n} × ${k}`).join(', ')})` : ''));
    if (o.profile !== undefined) for (const l of impls) log(`  ${l}`);
  }
  const tensorsEnd = tf.memory().numTensors;
  log(`tensors alive: ${tensorsBefore} after warm-up, ${tensorsAfterTraining} after training, ${tensorsEnd} at the end` +
    (tensorsEnd === tensorsBefore ? ' (no growth)' : ' (GROWTH: a leak)'));
  // Peak resident memory of each worker (process.resourceUsage().maxRSS, KiB), gathered to rank 0.
  const mine = new Float32Array([process.resourceUsage().maxRSS / 1024]);
  const rssMiB = group ? [...(await group.allGather(mine))] : [mine[0]];
  log(`peak RSS: ${rssMiB.map((m, r) => (group ? `rank ${r} ` : '') + `${m.toFixed(0)} MiB`).join(', ')}` +
    (group ? `; total ${rssMiB.reduce((a, b) => a + b, 0).toFixed(0)} MiB` : ''));
  const [l1, l5, l15] = os.loadavg();
  log(`machine: ${os.cpus().length} cpus (${os.cpus()[0]?.model ?? 'unknown CPU'}), load average ${l1.toFixed(2)} ${l5.toFixed(2)} ${l15.toFixed(2)}`);

  if (o.json && rank === 0) {
    process.stdout.write(JSON.stringify({
      world, allReduce, peakRssMiB: rssMiB,
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
  if (group) {
    await group.barrier();
    group.close();
  }
  await shutdownBackend();
}

/**
 * `--nproc-per-node K`: starts K copies of this benchmark as ranks 0…K−1 on 127.0.0.1 (the variables
 * torchrun sets), each with 1/K of the batch and of the threads, and returns the first non-zero exit code.
 */
async function launchWorkers(argv: string[], o: Options): Promise<number> {
  const k = o.nprocPerNode!;
  for (const [flag, v] of [['--batch', o.batch], ['--sample-batch', o.sampleBatch]] as const) {
    if (v % k !== 0) throw new InvalidArgumentError(`${flag} ${v} is not divisible by --nproc-per-node ${k}`);
  }
  const threads = Math.max(1, Math.floor((o.threads ?? os.cpus().length) / k));
  const drop = new Set(['--batch', '--sample-batch', '--threads', '--nproc-per-node']);
  const rest: string[] = [];
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const [name] = args[i].split('=');
    if (drop.has(name)) {
      if (!args[i].includes('=')) i++;
      continue;
    }
    rest.push(args[i]);
  }
  rest.push('--batch', String(o.batch / k), '--sample-batch', String(o.sampleBatch / k), '--threads', String(threads));
  const port = await freePort();
  const children = Array.from({ length: k }, (_, rank) => spawn(process.execPath, [...process.execArgv, argv[1], ...rest], {
    env: { ...process.env, WORLD_SIZE: String(k), RANK: String(rank), LOCAL_RANK: String(rank), LOCAL_WORLD_SIZE: String(k), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
    stdio: ['ignore', rank === 0 ? 'inherit' : 'ignore', 'inherit'],
  }));
  const stop = (): void => children.forEach((c) => c.kill('SIGTERM'));
  process.once('SIGINT', stop);
  const codes = await Promise.all(children.map((c) => new Promise<number>((r) => c.on('exit', (code, sig) => {
    if (code !== 0) stop();
    r(code ?? (sig ? 1 : 0));
  }))));
  return codes.find((c) => c !== 0) ?? 0;
}

main(process.argv).catch(async (err: unknown) => {
  const e = err as { code?: string; exitCode?: number; message?: string };
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') process.exit(0);
  // Commander has printed its own parse errors already.
  if (!e.code?.startsWith('commander.')) process.stderr.write(`bench: ${e.message ?? String(err)}\n`);
  await shutdownBackend().catch(() => undefined);
  process.exit(e.exitCode ?? 1);
});
