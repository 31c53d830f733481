/**
 * Single-kernel timings on one backend, to compare with PyTorch's (bench/micro_twin.py runs the same
 * list): batch-32 3×3 convolution forward and gradients at the reference UNet's shapes, a 1×1
 * convolution as a convolution and as a matmul, and the per-call cost of tiny ops (where a framework's
 * own overhead dominates). Medians over `--iters` calls, in ms (tiny ops in µs). Each op's result is
 * made, not read back: libtorch and wasm kernels run synchronously.
 *
 *   npm run build && node dist/bench/micro.js --backend libtorch --threads 2 [--precision bf16]
 *   /usr/bin/python3 bench/micro_twin.py --threads 2
 */
import * as tf from '@tensorflow/tfjs-core';
import { Command } from 'commander';
import '../src/util/tf-gradients';
import { parsePrecision, selectBackend, shutdownBackend } from '../src/backends';
import { median, positiveInt } from './stats';

function time(f: () => tf.Tensor, iters: number): number {
  for (let i = 0; i < 3; i++) f().dispose();
  const ts: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    const y = f();
    ts.push(performance.now() - t0);
    y.dispose();
  }
  return median(ts);
}

async function main(argv: string[]): Promise<void> {
  const o = new Command('micro').option('--backend <name>', 'backend', 'libtorch').option('--threads <n>', 'threads', positiveInt, 2)
    .option('--iters <n>', 'timed calls per op', positiveInt, 30)
    .option('--precision <p>', 'fp32 or bf16 (libtorch autocast)', 'fp32')
    .parse(argv).opts<{ backend: string; threads: number; iters: number; precision: string }>();
  const info = await selectBackend(o.backend, { threads: o.threads, precision: parsePrecision(o.precision, '--precision') });
  process.stdout.write(`backend: ${info.description}\n`);
  for (const [hw, c] of [[32, 32], [32, 64], [16, 64]]) {
    const x = tf.randomNormal([32, hw, hw, c]) as tf.Tensor4D;
    const dy = tf.randomNormal([32, hw, hw, c]) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, c, c]) as tf.Tensor4D;
    const bias = tf.randomNormal([c]) as tf.Tensor1D;
    const fwd = time(() => tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', bias }), o.iters);
    const dx = time(() => tf.conv2dTranspose(dy, w, x.shape, 1, 'same'), o.iters);
    const dw = time(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy },
      { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, c, c] } as unknown as tf.NamedAttrMap) as tf.Tensor, o.iters);
    process.stdout.write(`conv3x3 batch 32, ${hw}x${hw}, ${c}->${c}: forward+bias ${fwd.toFixed(2)} ms, input gradient ${dx.toFixed(2)} ms, filter gradient ${dw.toFixed(2)} ms\n`);
    tf.dispose([x, dy, w, bias]);
  }
  const x96 = tf.randomNormal([32, 32, 32, 96]) as tf.Tensor4D;
  const w96 = tf.randomNormal([1, 1, 96, 32]) as tf.Tensor4D;
  const asConv = time(() => tf.conv2d(x96, w96, 1, 'valid'), o.iters);
  const asMatMul = time(() => tf.matMul(tf.reshape(x96, [-1, 96]), tf.reshape(w96, [96, 32])), o.iters);
  process.stdout.write(`1x1 batch 32, 32x32, 96->32: as convolution ${asConv.toFixed(2)} ms, as matmul ${asMatMul.toFixed(2)} ms\n`);
  tf.dispose([x96, w96]);
  const tx = tf.randomNormal([1, 4, 4, 8]) as tf.Tensor4D;
  const tw = tf.randomNormal([3, 3, 8, 8]) as tf.Tensor4D;
  const tb = tf.randomNormal([8]) as tf.Tensor1D;
  const tinyConv = time(() => tf.fused.conv2d({ x: tx, filter: tw, strides: 1, pad: 'same', bias: tb }), 2000);
  const tinyAdd = time(() => tf.add(tx, tx), 2000);
  process.stdout.write(`per call: tiny convolution ${(tinyConv * 1000).toFixed(1)} µs, tiny add ${(tinyAdd * 1000).toFixed(1)} µs\n`);
  tf.dispose([tx, tw, tb]);
  await shutdownBackend();
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`micro: ${(err as Error).message}\n`);
  process.exit(1);
});
