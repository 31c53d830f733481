/*
 * Which compute backend would Distillery use here, and why not the others? Optionally followed by a short
 * training run on WebGPU that prints the time and the GPU memory of each step.
 *
 *   npx tsx scripts/gpu-check.ts [--steps N] [--on BACKEND] [--allow-software]
 *
 * --steps N           after the report, N AdamW steps of a small UNet (batch 4, 16×16×4, 0.7M parameters)
 * --on BACKEND        the backend of those steps (default webgpu), e.g. wasm to compare
 * --allow-software    let WebGPU use a software adapter (Mesa's llvmpipe), like DISTILLERY_WEBGPU_ALLOW_SOFTWARE=1
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { AUTO_ORDER, selectBackend, shutdownBackend, type BackendOptions } from '../src/backends';
import { UNet } from '../src/models/unet';
import { AdamW } from '../src/training/adamw';

function parseArgs(argv: string[]): { steps: number; on: string; allowSoftware?: boolean } {
  const opts: { steps: number; on: string; allowSoftware?: boolean } = { steps: 0, on: 'webgpu' };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--steps') {
      opts.steps = Number(argv[++i]);
      if (!Number.isInteger(opts.steps) || opts.steps < 1) throw new Error('--steps takes a positive integer');
    } else if (argv[i] === '--on') {
      opts.on = argv[++i] ?? '';
    } else if (argv[i] === '--allow-software') {
      opts.allowSoftware = true;
    } else {
      throw new Error(`unknown argument "${argv[i]}" (known: --steps N, --on BACKEND, --allow-software)`);
    }
  }
  return opts;
}

async function train(backend: string, steps: number, options: BackendOptions): Promise<void> {
  const info = await selectBackend(backend, options);
  console.log(`\n${steps} AdamW steps on ${info.description}`);
  const model = new UNet({
    image_size: 16, in_channels: 4, out_channels: 4, model_channels: 32, num_res_blocks: 1, channel_mult: [1, 2],
    attention_resolutions: [2], num_heads: 2, num_classes: 10, num_groups: 8,
  }, { seed: 0 });
  const opt = new AdamW(model.variables, { lr: 1e-4 });
  const x = tf.randomNormal([4, 16, 16, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
  const target = tf.randomNormal([4, 16, 16, 4], 0, 1, 'float32', 2);
  const t = tf.tensor1d([10, 200, 500, 900]);
  const labels = tf.tensor1d([0, 3, 6, 9], 'int32');
  const vars = [...model.variables.values()];
  const nameOf = new Map([...model.variables].map(([name, v]) => [v.name, name]));
  console.log(`parameters: ${model.numParameters}`);
  console.log('step  loss        ms     numBytesInGPU  numBytesAllocatedInGPU  numTensors');
  for (let i = 1; i <= steps; i++) {
    const start = process.hrtime.bigint();
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.squaredDifference(model.forward(x, t, labels), target)) as tf.Scalar, vars);
    const loss = (await value.data())[0];
    opt.step(new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k)!, g])));
    tf.dispose([value, ...Object.values(grads)]);
    // The step's GPU work is done once an updated weight can be read.
    await vars[0].data();
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
    console.log(`${String(i).padStart(4)}  ${loss.toFixed(6).padEnd(10)}  ${ms.toFixed(0).padStart(5)}  ${String(m.numBytesInGPU ?? '-').padStart(13)}  ` +
      `${String(m.numBytesAllocatedInGPU ?? '-').padStart(22)}  ${String(m.numTensors).padStart(10)}`);
  }
  opt.dispose();
  model.dispose();
  tf.dispose([x, target, t, labels]);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const options: BackendOptions = { threads: 1, allowSoftwareAdapter: opts.allowSoftware };
  console.log('backend          status');
  for (const name of AUTO_ORDER) {
    try {
      const info = await selectBackend(name, options);
      console.log(`${name.padEnd(16)} available: ${info.description}`);
    } catch (err) {
      const message = (err as Error).message;
      const why = /\((.*)\); use --backend auto/s.exec(message)?.[1] ?? 'not installed';
      console.log(`${name.padEnd(16)} not available: ${why}`);
    }
    await shutdownBackend();
  }
  const auto = await selectBackend('auto', options);
  console.log(`\nauto selects: ${auto.description}`);
  await shutdownBackend();
  if (opts.steps > 0) await train(opts.on, opts.steps, { ...options, threads: undefined });
  await shutdownBackend();
}

main().catch((err: Error) => {
  console.error(`gpu-check: ${err.message}`);
  process.exitCode = 1;
});
