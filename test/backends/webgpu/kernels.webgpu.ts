/**
 * Kernel conformance of the WebGPU backend against the pure-JS CPU backend, on tiny shapes: every op
 * Distillery's UNet, samplers, losses and optimizer call (tf.* names counted in src/models, src/diffusion,
 * src/training), forward and, where the op is differentiable, gradients of Σ f(x)·w.
 *
 * Tolerance: 1e-5 absolute + 1e-5 relative per element unless a case says otherwise. Measured on Mesa's
 * llvmpipe the differences are float32 rounding (≤ 1e-6 for elementwise ops); sums over many terms
 * (matmul, conv, their gradients) get 1e-4 because the GPU sums in a different order.
 *
 * Needs a WebGPU adapter: run with the software Vulkan driver (`npm run test:webgpu`, see docs/gpu.md).
 * TF.js's WebGPU backend runs ops whose inputs are small CPU-resident tensors on the CPU
 * (WEBGPU_CPU_FORWARD); it is switched off here so that the GPU kernels are the ones compared.
 */
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { checkCase, leaveWebGpu, useWebGpu, type KernelCase } from './compare';

const t4 = (x: tf.Tensor): tf.Tensor4D => x as tf.Tensor4D;
const t3 = (x: tf.Tensor): tf.Tensor3D => x as tf.Tensor3D;
const t2 = (x: tf.Tensor): tf.Tensor2D => x as tf.Tensor2D;
const SUMS = 1e-4;

const cases: KernelCase[] = [
  // Elementwise (UNet activations, schedules, AdamW).
  ...([['sigmoid', tf.sigmoid], ['silu', (x: tf.Tensor) => tf.mul(x, tf.sigmoid(x))], ['exp', tf.exp], ['sin', tf.sin], ['cos', tf.cos],
    ['erf', tf.erf], ['relu', tf.relu], ['square', tf.square], ['tanh', tf.tanh], ['neg', tf.neg],
    ['clipByValue', (x: tf.Tensor) => tf.clipByValue(x, -0.5, 0.8)]] as Array<[string, (x: tf.Tensor) => tf.Tensor]>)
    .map(([name, f]) => ({ name, inputs: [{ shape: [2, 3, 5] }], f, grad: true })),
  ...([['sqrt', tf.sqrt], ['rsqrt', tf.rsqrt], ['log', tf.log], ['reciprocal', tf.reciprocal]] as Array<[string, (x: tf.Tensor) => tf.Tensor]>)
    .map(([name, f]) => ({ name, inputs: [{ shape: [4, 6], gen: 'positive' as const }], f, grad: true })),
  ...([['add', tf.add], ['sub', tf.sub], ['mul', tf.mul]] as Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor]>)
    .map(([name, f]) => ({ name: `${name} broadcast`, inputs: [{ shape: [2, 3, 4] }, { shape: [3, 1] }], f, grad: true })),
  // TF.js's own gradients of these three do not reduce over broadcast dimensions (on every backend).
  ...([['maximum', tf.maximum], ['minimum', tf.minimum], ['squaredDifference', tf.squaredDifference]] as Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor]>)
    .map(([name, f]) => ({ name, inputs: [{ shape: [2, 3, 4] }, { shape: [2, 3, 4] }], f, grad: true })),
  { name: 'maximum broadcast (forward)', inputs: [{ shape: [2, 3, 4] }, { shape: [3, 1] }], f: tf.maximum },
  { name: 'div broadcast', inputs: [{ shape: [2, 3, 4] }, { shape: [4], gen: 'positive' }], f: tf.div, grad: true },
  { name: 'where', inputs: [{ shape: [3, 4], dtype: 'int32', gen: [0, 1] }, { shape: [3, 4] }, { shape: [3, 4] }],
    f: (c, a, b) => tf.where(tf.cast(c, 'bool'), a, b), grad: true },
  { name: 'greater, equal', inputs: [{ shape: [3, 4] }, { shape: [4] }], f: (a, b) => [tf.greater(a, b), tf.equal(tf.round(a), tf.round(b))] },
  { name: 'cast int32 → float32', inputs: [{ shape: [7], dtype: 'int32', gen: [-50, 50] }], f: (x) => tf.cast(x, 'float32') },
  { name: 'addN', inputs: [{ shape: [3, 4] }, { shape: [3, 4] }, { shape: [3, 4] }], f: (a, b, c) => tf.addN([a, b, c]), grad: true },
  // Reductions (GroupNorm statistics, losses, gradient norms).
  { name: 'moments over H, W, group channels (GroupNorm)', inputs: [{ shape: [2, 4, 4, 2, 3] }],
    f: (x) => { const m = tf.moments(x, [1, 2, 4], true); return [m.mean, m.variance]; }, grad: true },
  { name: 'mean over all', inputs: [{ shape: [3, 5, 4] }], f: (x) => tf.mean(x), grad: true },
  { name: 'sum over axis 1', inputs: [{ shape: [3, 5, 4] }], f: (x) => tf.sum(x, 1), grad: true, tol: SUMS },
  { name: 'max over last axis', inputs: [{ shape: [3, 7] }], f: (x) => tf.max(x, -1) },
  { name: 'softmax over last axis (attention)', inputs: [{ shape: [2, 3, 7] }], f: (x) => tf.softmax(x), grad: true },
  // Matrix products in every transpose combination, and batched (attention, linear layers).
  ...([[false, false], [true, false], [false, true], [true, true]] as Array<[boolean, boolean]>).map(([ta, tb]) => ({
    name: `matMul transposeA=${ta} transposeB=${tb}`,
    inputs: [{ shape: ta ? [6, 3] : [3, 6] }, { shape: tb ? [5, 6] : [6, 5] }],
    f: (a: tf.Tensor, b: tf.Tensor) => tf.matMul(t2(a), t2(b), ta, tb), grad: true, tol: SUMS,
  })),
  { name: 'batched matMul [2, 3, 8] × [2, 8, 4]', inputs: [{ shape: [2, 3, 8] }, { shape: [2, 8, 4] }],
    f: (a, b) => tf.matMul(t3(a), t3(b)), grad: true, tol: SUMS },
  { name: 'batched matMul transposeB (attention scores)', inputs: [{ shape: [2, 5, 4] }, { shape: [2, 6, 4] }],
    f: (a, b) => tf.matMul(t3(a), t3(b), false, true), grad: true, tol: SUMS },
  // Convolutions (UNet conv layers, stride-2 downsampling) and pooling.
  { name: 'conv2d 3×3 stride 1 same', inputs: [{ shape: [2, 6, 6, 3] }, { shape: [3, 3, 3, 4] }],
    f: (x, w) => tf.conv2d(t4(x), t4(w), 1, 'same'), grad: true, tol: SUMS },
  { name: 'conv2d 3×3 stride 2 pad 1 (Downsample)', inputs: [{ shape: [2, 6, 6, 3] }, { shape: [3, 3, 3, 4] }],
    f: (x, w) => tf.conv2d(t4(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])), t4(w), 2, 'valid'), grad: true, tol: SUMS },
  { name: 'conv2d 1×1 (skip connection)', inputs: [{ shape: [1, 4, 4, 5] }, { shape: [1, 1, 5, 3] }],
    f: (x, w) => tf.conv2d(t4(x), t4(w), 1, 'valid'), grad: true, tol: SUMS },
  { name: 'fused conv2d + bias + relu', inputs: [{ shape: [1, 5, 5, 2] }, { shape: [3, 3, 2, 3] }, { shape: [3] }],
    f: (x, w, b) => tf.fused.conv2d({ x: t4(x), filter: t4(w), strides: 1, pad: 'same', bias: b, activation: 'relu' }), tol: SUMS },
  // The forms src/models/layers.ts calls: fused conv2d / matMul with a bias, numeric padding, differentiated.
  { name: 'fused conv2d + bias, pad 1, stride 2, gradients', inputs: [{ shape: [2, 6, 6, 3] }, { shape: [3, 3, 3, 4] }, { shape: [4] }],
    f: (x, w, b) => tf.fused.conv2d({ x: t4(x), filter: t4(w), strides: 2, pad: 1, bias: b }), grad: true, tol: SUMS },
  { name: 'fused matMul + bias, gradients', inputs: [{ shape: [6, 5] }, { shape: [5, 3] }, { shape: [3] }],
    f: (a, w, b) => tf.fused.matMul({ a: t2(a), b: t2(w), bias: b }), grad: true, tol: SUMS },
  { name: 'conv2dTranspose stride 2', inputs: [{ shape: [1, 3, 3, 4] }, { shape: [3, 3, 2, 4] }],
    f: (x, w) => tf.conv2dTranspose(t4(x), t4(w), [1, 6, 6, 2], 2, 'same'), grad: true, tol: SUMS },
  { name: 'depthwiseConv2d', inputs: [{ shape: [1, 5, 5, 3] }, { shape: [3, 3, 3, 1] }],
    f: (x, w) => tf.depthwiseConv2d(t4(x), t4(w), 1, 'same'), grad: true, tol: SUMS },
  { name: 'avgPool 2×2 stride 2', inputs: [{ shape: [2, 4, 4, 3] }], f: (x) => tf.avgPool(t4(x), 2, 2, 'valid'), grad: true },
  { name: 'maxPool 2×2 stride 2', inputs: [{ shape: [1, 4, 4, 2] }], f: (x) => tf.maxPool(t4(x), 2, 2, 'valid'), grad: true },
  { name: 'resizeNearestNeighbor ×2 (Upsample)', inputs: [{ shape: [1, 3, 3, 2] }],
    f: (x) => tf.image.resizeNearestNeighbor(t4(x), [6, 6]), grad: true },
  { name: 'resizeBilinear ×2', inputs: [{ shape: [2, 3, 3, 2] }], f: (x) => tf.image.resizeBilinear(t4(x), [6, 6]), grad: true },
  // Shape ops (skip connections, heads, embeddings).
  { name: 'concat on channels', inputs: [{ shape: [2, 3, 3, 2] }, { shape: [2, 3, 3, 4] }], f: (a, b) => tf.concat([a, b], 3), grad: true },
  { name: 'split into 3', inputs: [{ shape: [2, 9] }], f: (x) => tf.split(x, 3, 1), grad: true },
  { name: 'transpose [0, 2, 1, 3] (heads)', inputs: [{ shape: [2, 3, 4, 5] }], f: (x) => tf.transpose(x, [0, 2, 1, 3]), grad: true },
  { name: 'reshape + tile', inputs: [{ shape: [2, 3] }], f: (x) => tf.tile(tf.reshape(x, [3, 2, 1]), [1, 2, 3]), grad: true },
  { name: 'slice', inputs: [{ shape: [3, 5, 4] }], f: (x) => tf.slice(x, [1, 1, 0], [2, 3, 4]), grad: true },
  { name: 'pad', inputs: [{ shape: [1, 3, 3, 2] }], f: (x) => tf.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]]), grad: true },
  // Rank 5 and 6 (GroupNorm's [B, H, W, G, C/G] view, nearest upsampling by a rank-6 broadcast): TF.js
  // 4.22's WebGPU pad shader is invalid above rank 4 and the provider replaces it; slice's gradient is a pad.
  { name: 'pad rank 5', inputs: [{ shape: [2, 2, 3, 2, 2] }], f: (x) => tf.pad(x, [[0, 1], [1, 0], [0, 0], [2, 1], [0, 1]], 0.5), grad: true },
  { name: 'pad rank 6', inputs: [{ shape: [1, 2, 2, 1, 2, 2] }], f: (x) => tf.pad(x, [[0, 0], [1, 1], [0, 0], [0, 2], [1, 0], [0, 0]]), grad: true },
  { name: 'slice rank 5', inputs: [{ shape: [2, 3, 3, 2, 4] }], f: (x) => tf.slice(x, [0, 1, 0, 1, 1], [2, 2, 3, 1, 2]), grad: true },
  { name: 'broadcast mul rank 6 (nearest upsampling)', inputs: [{ shape: [2, 3, 1, 3, 1, 2] }],
    f: (x) => tf.reshape(tf.mul(x, tf.ones([1, 1, 2, 1, 2, 1])), [2, 6, 6, 2]), grad: true },
  { name: 'moments + normalise rank 5 (GroupNorm)', inputs: [{ shape: [2, 4, 4, 2, 3] }, { shape: [2, 1, 1, 2, 1], gen: 'positive' }],
    f: (x, s) => { const m = tf.moments(x, [1, 2, 4], true); return tf.mul(tf.div(tf.sub(x, m.mean), tf.sqrt(tf.add(m.variance, 1e-5))), s); },
    grad: true, tol: SUMS },
  { name: 'gather rows (class embedding)', inputs: [{ shape: [6, 4] }, { shape: [5], dtype: 'int32', gen: [0, 5] }],
    f: (w, i) => tf.gather(w, i), grad: true },
  { name: 'expandDims + onesLike + zerosLike', inputs: [{ shape: [3, 2] }], f: (x) => [tf.expandDims(x, 1), tf.onesLike(x), tf.zerosLike(x)] },
  { name: 'range + fill', inputs: [], f: () => [tf.range(0, 9, 2), tf.fill([2, 3], 1.5)] },
];

describe('backends/webgpu kernels (CPU backend as reference)', function () {
  this.timeout(600_000);
  let cpuForward: boolean;

  before(async () => {
    await useWebGpu();
    cpuForward = tf.env().getBool('WEBGPU_CPU_FORWARD');
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    await tf.setBackend('cpu');
  });
  after(async () => {
    tf.env().set('WEBGPU_CPU_FORWARD', cpuForward);
    await leaveWebGpu();
  });

  cases.forEach((c, i) => {
    it(c.name, async () => {
      const before = tf.memory().numTensors;
      await checkCase(c, 1000 + i);
      assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
    });
  });
});
