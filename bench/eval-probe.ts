/**
 * The main job's evaluation work in isolation, on the shipped MNIST models: one guided teacher sampler
 * step (DDIM, g = 2: one forward at 2 × batch), the autoencoder decode and the classifier scoring of one
 * evaluation batch, timed (median) and profiled per kernel. Used to find what dominates the WASM
 * evaluation (docs/results.md). Usage:
 *   npx tsx bench/eval-probe.ts [--backend wasm] [--batch 500] [--iters 5] [--by-shape] [--ab <Kernel>]
 * `--ab Transpose` (wasm) times every piece alternately with the package's kernel of that name and
 * Distillery's, in the same process and conditions, and prints both medians and their ratio.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Command } from 'commander';
import { selectBackend, shutdownBackend } from '../src/backends';
import { UNet, type UNetConfigInput } from '../src/models/unet';
import { Autoencoder } from '../src/models/autoencoder';
import { Classifier } from '../src/models/classifier';
import { buildModel } from '../src/stage-engine/model-source';
import { guidedPredict } from '../src/diffusion/guidance';
import { decodeLatents, type FirstStage } from '../src/ldm/first-stage';
import { formatProfile, profileKernels, summarise } from './profile';
import { originalKernel } from '../src/backends/wasm/kernels/util';

function use(config: tf.KernelConfig): void {
  tf.unregisterKernel(config.kernelName, config.backendName);
  tf.registerKernel(config);
}

async function timeOnce(f: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  const t0 = performance.now();
  const r = tf.tidy(f);
  await Promise.all([r].flat().map((x) => x.data()));
  const ms = performance.now() - t0;
  tf.dispose(r);
  return ms;
}

const median = (a: number[]): number => [...a].sort((p, q) => p - q)[a.length >> 1];

async function main(): Promise<void> {
  const o = new Command()
    .option('--backend <name>', 'compute backend', 'wasm')
    .option('--threads <n>', 'threads', (v) => Number(v))
    .option('--batch <n>', 'evaluation batch size (samples)', (v) => Number(v), 500)
    .option('--iters <n>', 'timed iterations', (v) => Number(v), 5)
    .option('--by-shape', 'profile rows per kernel and shapes')
    .option('--package-kernel <kernel>', 'wasm: run with the package\'s kernel of this name instead of Distillery\'s (the "before" of a profile)')
    .option('--only <text>', 'only the pieces whose name contains this text')
    .option('--ab <kernel>', 'wasm: time each piece alternately with the package kernel and Distillery\'s')
    .parse(process.argv).opts();
  const info = await selectBackend(o.backend, { threads: o.threads });
  console.log(`backend: ${info.description}`);
  const teacher = await buildModel((c, seed) => new UNet(c as unknown as UNetConfigInput, { seed }), { weights: 'models/mnist/teacher.safetensors', seed: 0 } as never);
  const ae = await buildModel((c, seed) => new Autoencoder(c as never, { seed }), { weights: 'models/mnist/autoencoder.safetensors', seed: 0 } as never);
  const cls = await buildModel((c, seed) => new Classifier(c as never, { seed }), { weights: 'models/mnist/classifier.safetensors', seed: 0 } as never);
  const n = o.batch as number;
  const z = tf.randomNormal([n, 8, 8, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
  const t = tf.fill([n], 500, 'int32') as tf.Tensor1D;
  const labels = tf.tensor1d(Array.from({ length: n }, (_, i) => i % 10), 'int32');
  const img = tf.tidy(() => tf.clipByValue(decodeLatents(ae as unknown as FirstStage, z), -1, 1)) as tf.Tensor4D;
  const pieces: Record<string, () => tf.Tensor | tf.Tensor[]> = {
    'teacher step (guided, forward at 2×batch)': () => guidedPredict(teacher, z, t, labels, { guidance: { scale: 2 } }),
    'guided teacher step at training batch 64 (forward at 128, as stage one\'s teacher)': () =>
      guidedPredict(teacher, tf.slice(z, 0, 64), tf.slice(t, 0, 64), tf.slice(labels, 0, 64), { guidance: { scale: 2 } }),
    'training step (forward + backward, batch 64)': () => {
      const zz = tf.slice(z, 0, 64), tt = tf.slice(t, 0, 64), ll = tf.slice(labels, 0, 64);
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(teacher.forward(zz, tt, ll))) as tf.Scalar, [...teacher.variables.values()]);
      return [value, ...Object.values(grads)];
    },
    'decode': () => decodeLatents(ae as unknown as FirstStage, z),
    'classifier features + logits': () => [cls.features(img), cls.logits(img)],
    'classifier features, logits from them (the evaluation since 2026-12-06)': () => { const f = cls.features(img); return [f, cls.logitsFromFeatures(f)]; },
  };
  if (o.packageKernel) use(originalKernel(o.packageKernel as string));
  if (o.only) for (const name of Object.keys(pieces)) if (!name.includes(o.only as string)) delete pieces[name];
  if (o.ab) {
    const distillery = tf.getKernel(o.ab as string, 'wasm')!;
    const pkg = originalKernel(o.ab as string);
    for (const [name, f] of Object.entries(pieces)) {
      const times: Record<'package' | 'distillery', number[]> = { package: [], distillery: [] };
      for (let i = 0; i < (o.iters as number) + 1; i++) {
        for (const [which, config] of [['package', pkg], ['distillery', distillery]] as const) {
          use(config);
          const ms = await timeOnce(f);
          if (i > 0) times[which].push(ms);
        }
      }
      use(distillery);
      const [p, d] = [median(times.package), median(times.distillery)];
      console.log(`${name}, batch ${n}: ${o.ab} package ${p.toFixed(1)} ms, Distillery ${d.toFixed(1)} ms (medians of ${o.iters}, alternating): ${(d / p).toFixed(3)}×`);
    }
    tf.dispose([z, t, labels, img]);
    await shutdownBackend();
    return;
  }
  for (const [name, f] of Object.entries(pieces)) {
    for (let i = 0; i < 2; i++) { const r = tf.tidy(f); await Promise.all([r].flat().map((x) => x.data())); tf.dispose(r); }
    const times: number[] = [];
    for (let i = 0; i < (o.iters as number); i++) {
      const t0 = performance.now();
      const r = tf.tidy(f);
      await Promise.all([r].flat().map((x) => x.data()));
      times.push(performance.now() - t0);
      tf.dispose(r);
    }
    times.sort((a, b) => a - b);
    const before = tf.memory().numTensors;
    const t0 = performance.now();
    const records = await profileKernels(() => { const r = tf.tidy(f); tf.dispose(r); });
    const wall = performance.now() - t0;
    console.log(`\n== ${name}, batch ${n}: median ${times[times.length >> 1].toFixed(1)} ms (min ${times[0].toFixed(1)}); tensors leaked ${tf.memory().numTensors - before}`);
    console.log(formatProfile(summarise(records, 1, o.byShape === true).slice(0, 25), wall));
  }
  tf.dispose([z, t, labels, img]);
  await shutdownBackend();
}

main().catch((e) => { console.error(e); process.exit(1); });
