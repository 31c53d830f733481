/**
 * The building blocks of the models, in plain tfjs-core ops. Activations are NHWC; parameters are
 * registered in a ParamStore under their state-dict names (see params.ts for the layouts).
 *
 * Initialisation follows PyTorch's defaults: Conv2d / Conv1d / Linear weight and bias
 * U(−1/√fan_in, 1/√fan_in) (kaiming-uniform with a = √5), GroupNorm / LayerNorm weight 1 and bias 0,
 * Embedding N(0, 1). `zeroInit` gives LDM's zero_module (weight and bias zero).
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core registers no gradient functions by itself (the `@tensorflow/tfjs` bundle does); the models
// are trained through tf.variableGrads, so they bring the gradients of the ops they use.
import '../util/tf-gradients';
import { ModelError } from '../errors';
import { concatLastAxisCpu, sliceLastAxisCpu } from './channels-cpu';
import { conv2dCpu } from './conv-cpu';
import { groupNormCpu, layerNormCpu } from './norm-cpu';
import type { Param, ParamStore } from './params';
import { groupNorm } from '../kernels/group-norm';
import { conv2dWithBias } from './fused-conv2d';

function uniformFanIn(fanIn: number): { kind: 'uniform'; bound: number } {
  return { kind: 'uniform', bound: 1 / Math.sqrt(fanIn) };
}

/**
 * How convolutions and GroupNorm run. `native`: the FusedConv2D kernel (fused-conv2d.ts) and the composed / wasm-fused GroupNorm
 * (src/kernels/group-norm.ts). `cpu-loops`: conv-cpu.ts and norm-cpu.ts, each one differentiable op
 * over typed arrays, for the pure-JS `cpu` backend: its own conv filter-gradient kernel reads every
 * element through TensorBuffer.get (seconds per step for a small UNet), and there a kernel's fixed
 * overhead outweighs the arithmetic of small models. `auto` (default): cpu-loops on the `cpu` backend,
 * native elsewhere. Both agree up to float32 rounding.
 */
export type KernelStrategy = 'auto' | 'native' | 'cpu-loops';
let kernelStrategy: KernelStrategy = 'auto';

export function setKernelStrategy(strategy: KernelStrategy): void {
  kernelStrategy = strategy;
}

export function getKernelStrategy(): KernelStrategy {
  return kernelStrategy;
}

function useCpuLoops(): boolean {
  const loops = kernelStrategy === 'cpu-loops' || (kernelStrategy === 'auto' && tf.getBackend() === 'cpu');
  if (loops && tf.getBackend() !== 'cpu') {
    throw new ModelError(`kernel strategy "cpu-loops" needs the cpu backend (active: ${tf.getBackend()})`);
  }
  return loops;
}

/**
 * Convolution with PyTorch's symmetric zero padding `pad` (not TF's "same", which pads stride-2
 * convolutions asymmetrically), plus an optional bias. x [B, H, W, in], filter [kh, kw, in, out].
 */
export function conv2d(x: tf.Tensor4D, filter: tf.Tensor4D, stride: number, pad: number, bias?: tf.Tensor1D): tf.Tensor4D {
  if (useCpuLoops()) return conv2dCpu(x, filter, stride, pad, bias);
  return bias ? conv2dWithBias(x, filter, bias, stride, pad) : tf.conv2d(x, filter, stride, pad);
}

/** concat([a, b]) along the last axis (float32). */
export function concatLastAxis<T extends tf.Tensor>(a: T, b: T): T {
  return useCpuLoops() ? concatLastAxisCpu(a, b) : tf.concat([a, b], a.rank - 1) as T;
}

/** Splits the last axis (float32) into `parts` equal pieces. */
export function splitLastAxis<T extends tf.Tensor>(x: T, parts: number): T[] {
  const c = x.shape[x.rank - 1] as number;
  const size = c / parts;
  if (!useCpuLoops()) return tf.split(x, parts, x.rank - 1) as T[];
  return Array.from({ length: parts }, (_, i) => sliceLastAxisCpu(x, i * size, size));
}

export interface Conv2dOptions {
  stride?: number;
  /** Zero padding on each side (PyTorch's `padding`); default: kernel size div 2. */
  padding?: number;
  bias?: boolean;
  zeroInit?: boolean;
}

/** nn.Conv2d: weight [out, in, kh, kw] on disk. */
export class Conv2d {
  readonly weight: Param;
  readonly bias: Param | undefined;
  readonly stride: number;
  readonly padding: number;

  constructor(store: ParamStore, name: string, readonly inChannels: number, readonly outChannels: number,
    readonly kernelSize: number, options: Conv2dOptions = {}) {
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? Math.floor(kernelSize / 2);
    const fanIn = inChannels * kernelSize * kernelSize;
    const init = options.zeroInit ? { kind: 'zeros' as const } : uniformFanIn(fanIn);
    this.weight = store.add(`${name}.weight`, [outChannels, inChannels, kernelSize, kernelSize], 'conv2d', init);
    this.bias = (options.bias ?? true) ? store.add(`${name}.bias`, [outChannels], 'plain', init) : undefined;
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    // Bias through the fused ops: one kernel instead of a convolution plus a broadcast add.
    const bias = this.bias?.value as tf.Tensor1D | undefined;
    if (this.kernelSize === 1 && this.stride === 1 && this.padding === 0 && tf.getBackend() !== 'libtorch') {
      // A 1x1 convolution as a matmul over channels: cheaper than conv2d on wasm and the JS backends. On
      // libtorch, oneDNN's convolution beats the BLAS matmul (0.92 against 1.60 ms for [32, 32, 32, 96] → 32;
      // bench/micro.ts), so it takes the convolution below.
      const [b, h, w, c] = x.shape;
      const k = tf.reshape(this.weight.value, [c, this.outChannels]) as tf.Tensor2D;
      const y = tf.fused.matMul({ a: tf.reshape(x, [b * h * w, c]), b: k, bias });
      return tf.reshape(y, [b, h, w, this.outChannels]);
    }
    return conv2d(x, this.weight.value as unknown as tf.Tensor4D, this.stride, this.padding, bias);
  }
}

/** nn.Linear: weight [out, in] on disk. Applies to the last axis of any rank. */
export class Linear {
  readonly weight: Param;
  readonly bias: Param | undefined;

  constructor(store: ParamStore, name: string, readonly inFeatures: number, readonly outFeatures: number,
    options: { bias?: boolean; zeroInit?: boolean } = {}) {
    const init = options.zeroInit ? { kind: 'zeros' as const } : uniformFanIn(inFeatures);
    this.weight = store.add(`${name}.weight`, [outFeatures, inFeatures], 'linear', init);
    this.bias = (options.bias ?? true) ? store.add(`${name}.bias`, [outFeatures], 'plain', init) : undefined;
  }

  apply<T extends tf.Tensor>(x: T): T {
    const shape = x.shape;
    const flat = shape.length === 2 ? (x as unknown as tf.Tensor2D)
      : tf.reshape(x, [-1, shape[shape.length - 1]]) as tf.Tensor2D;
    const y = tf.fused.matMul({ a: flat, b: this.weight.value as unknown as tf.Tensor2D, bias: this.bias?.value });
    return (shape.length === 2 ? y : tf.reshape(y, [...shape.slice(0, -1), this.outFeatures])) as T;
  }
}

/** A kernel-size-1 nn.Conv1d over a token axis (LDM's AttentionBlock qkv / proj_out): weight [out, in, 1]. */
export class Conv1x1d {
  readonly weight: Param;
  readonly bias: Param;

  constructor(store: ParamStore, name: string, readonly inChannels: number, readonly outChannels: number,
    options: { zeroInit?: boolean } = {}) {
    const init = options.zeroInit ? { kind: 'zeros' as const } : uniformFanIn(inChannels);
    this.weight = store.add(`${name}.weight`, [outChannels, inChannels, 1], 'conv1d', init);
    this.bias = store.add(`${name}.bias`, [outChannels], 'plain', init);
  }

  /** x: [B, L, in] → [B, L, out]. */
  apply(x: tf.Tensor3D): tf.Tensor3D {
    const [b, l, c] = x.shape;
    const y = tf.add(tf.matMul(tf.reshape(x, [b * l, c]), this.weight.value as unknown as tf.Tensor2D), this.bias.value);
    return tf.reshape(y, [b, l, this.outChannels]);
  }
}

/** nn.GroupNorm(numGroups, channels, eps, affine) over NHWC input (biased variance, as PyTorch). */
export class GroupNorm {
  readonly weight: Param;
  readonly bias: Param;

  constructor(store: ParamStore, name: string, readonly channels: number, readonly numGroups: number,
    readonly eps: number) {
    if (channels % numGroups !== 0) {
      store.problems.push({
        path: 'num_groups',
        message: `GroupNorm "${name}" has ${channels} channels, not divisible by num_groups`,
        expected: `a divisor of ${channels}`,
        found: String(numGroups),
        hint: 'lower num_groups (e.g. 8 or 16 for small model_channels)',
      });
    }
    this.weight = store.add(`${name}.weight`, [channels], 'plain', { kind: 'ones' });
    this.bias = store.add(`${name}.bias`, [channels], 'plain', { kind: 'zeros' });
  }

  /**
   * `silu: true` applies SiLU to the result (GroupNorm → SiLU, as in ResBlocks). Both run as one fused
   * kernel on the wasm backend and as the plain op composition elsewhere (src/kernels/group-norm.ts).
   */
  apply(x: tf.Tensor4D, options: { silu?: boolean } = {}): tf.Tensor4D {
    if (useCpuLoops()) {
      return groupNormCpu(x, this.weight.value as unknown as tf.Tensor1D, this.bias.value as unknown as tf.Tensor1D,
        this.numGroups, this.eps, options.silu ?? false);
    }
    return groupNorm(x, this.weight.value as unknown as tf.Tensor1D, this.bias.value as unknown as tf.Tensor1D,
      { groups: this.numGroups, epsilon: this.eps, silu: options.silu ?? false });
  }
}

/** nn.LayerNorm(dim) over the last axis. */
export class LayerNorm {
  readonly weight: Param;
  readonly bias: Param;

  constructor(store: ParamStore, name: string, readonly dim: number, readonly eps = 1e-5) {
    this.weight = store.add(`${name}.weight`, [dim], 'plain', { kind: 'ones' });
    this.bias = store.add(`${name}.bias`, [dim], 'plain', { kind: 'zeros' });
  }

  apply<T extends tf.Tensor>(x: T): T {
    if (useCpuLoops()) {
      return layerNormCpu(x, this.weight.value as unknown as tf.Tensor1D, this.bias.value as unknown as tf.Tensor1D, this.eps);
    }
    const { mean, variance } = tf.moments(x, -1, true);
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
    return tf.add(tf.mul(normed, this.weight.value), this.bias.value) as T;
  }
}

/** nn.Embedding(num, dim): weight [num, dim]. */
export class Embedding {
  readonly weight: Param;

  constructor(store: ParamStore, name: string, readonly num: number, readonly dim: number) {
    this.weight = store.add(`${name}.weight`, [num, dim], 'plain', { kind: 'normal', std: 1 });
  }

  /** ids: int32 [B] → [B, dim]. */
  apply(ids: tf.Tensor1D): tf.Tensor2D {
    return tf.gather(this.weight.value, ids.dtype === 'int32' ? ids : tf.cast(ids, 'int32')) as tf.Tensor2D;
  }
}

export function silu<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(x)) as T;
}

/** The exact (erf) GELU, PyTorch's F.gelu default. */
export function gelu<T extends tf.Tensor>(x: T): T {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)) as T;
}

/**
 * Sinusoidal embedding of a [B] float tensor into [B, dim]: cat[cos(t·f), sin(t·f)] with
 * f_i = exp(−ln(maxPeriod)·i/half), i = 0 … half−1, half = dim div 2 (cos first, as latent-diffusion's
 * timestep_embedding; golden-io.json's `unet.t_emb` records the order). Odd dim: a zero column is appended.
 * The frequencies are computed in float32 in the same order of operations as the reference, because
 * at t ≈ 1000 a one-ulp frequency difference moves the phase by ~1e-4.
 */
export function sinusoidalEmbedding(t: tf.Tensor1D, dim: number, maxPeriod = 10000): tf.Tensor2D {
  return tf.tidy(() => {
    const half = Math.floor(dim / 2);
    const freqs = tf.exp(tf.div(tf.mul(tf.scalar(-Math.log(maxPeriod)), tf.range(0, half, 1, 'float32')), half));
    const args = tf.mul(tf.reshape(tf.cast(t, 'float32'), [-1, 1]), tf.reshape(freqs, [1, half]));
    let emb = tf.concat([tf.cos(args), tf.sin(args)], 1);
    if (dim % 2 === 1) emb = tf.pad(emb, [[0, 0], [0, 1]]);
    return emb as tf.Tensor2D;
  });
}

/** Nearest-neighbour ×2 upsampling (F.interpolate(scale_factor=2, mode='nearest')). */
export function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  // libtorch runs the resize and its gradient as ATen's upsample_nearest2d (one pass each; 1.9 and 1.4 ms
  // per step as a broadcast multiply and a sum on the reference UNet). Same values: nearest ×2 repeats
  // each pixel either way.
  if (tf.getBackend() === 'libtorch') return tf.image.resizeNearestNeighbor(x, [2 * h, 2 * w]);
  // Broadcasting against ones rather than tf.tile: tfjs-core has no tile gradient above rank 5.
  const t = tf.mul(tf.reshape(x, [b, h, 1, w, 1, c]), tf.ones([1, 1, 2, 1, 2, 1]));
  return tf.reshape(t, [b, 2 * h, 2 * w, c]);
}

/** 2×2 average pooling with stride 2 (nn.AvgPool2d(2)). */
export function avgPool2x(x: tf.Tensor4D): tf.Tensor4D {
  return tf.avgPool(x, 2, 2, 'valid');
}

/**
 * Inverted dropout as nn.Dropout in training mode; identity when `rate` is 0. `seed` makes it
 * repeatable (tfjs-core's dropout draws from a seeded generator).
 */
export function dropout<T extends tf.Tensor>(x: T, rate: number, seed: number): T {
  return rate > 0 ? tf.dropout(x, rate, undefined, seed) as T : x;
}
