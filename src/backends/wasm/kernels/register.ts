/**
 * Registers Distillery's WASM kernels with TensorFlow.js: the training kernels the package lacks
 * (Conv2DBackpropFilter, UnsortedSegmentSum), faster replacements for slow package kernels
 * (Conv2DBackpropInput, BatchMatMul, Sum, Mean, Slice, SplitV, Identity, Cast, Square, Transpose above rank 4), and the fused GroupNorm
 * and AdamW kernels.
 *
 * Must run before the `wasm` backend is initialised: tfjs calls each kernel's setup function once, when
 * the backend starts, and the replacements that delegate to package kernels carry those setups along.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { captureOriginal, originalKernel } from './util';
import { conv2dBackpropFilterConfig, conv2dBackpropInputConfig } from './conv';
import { batchMatMulConfig } from './matmul';
import { meanConfig, sumConfig } from './reduce';
import { sliceConfig, splitVConfig } from './slice';
import { unsortedSegmentSumConfig } from './segment';
import { groupNormConfig, groupNormGradConfig } from './groupnorm';
import { castConfig, identityConfig } from './identity';
import { squareConfig } from './square';
import { clipByValueConfig } from './clip';
import { adamwConfig } from './adamw';
import { transposeConfig } from './transpose';

/**
 * Which kernels run: `distillery` (default) registers everything here; `package` keeps the package's
 * own kernels wherever it has one and adds only what it lacks (Conv2DBackpropFilter,
 * UnsortedSegmentSum) — the baseline that `npm run bench -- --kernels package` measures.
 */
export type WasmKernelSet = 'distillery' | 'package';

/** Names the package lacks or computes wrongly (ClipByValue on int32); registered in both sets. */
const ADDED: readonly string[] = [tf.Conv2DBackpropFilter, tf.UnsortedSegmentSum, tf.ClipByValue];

let registered: WasmKernelSet | undefined;

/** Package kernels that the `distillery` set replaces. */
const PACKAGE_REPLACED: readonly string[] = [
  tf.BatchMatMul, tf.Sum, tf.Mean, tf.Cast, tf.Square, tf.Conv2DBackpropInput, tf.Slice, tf.SplitV, tf.Identity, tf.Transpose,
];

/** Kernel names Distillery registers for `wasm` (added or replacing the package's). */
export const DISTILLERY_WASM_KERNELS: readonly string[] = [
  tf.Conv2DBackpropInput, tf.Conv2DBackpropFilter, tf.BatchMatMul, tf.Sum, tf.Mean, tf.Slice, tf.SplitV,
  tf.UnsortedSegmentSum, tf.ClipByValue, tf.Identity, tf.Cast, tf.Square, groupNormConfig.kernelName, groupNormGradConfig.kernelName,
  adamwConfig.kernelName, tf.Transpose,
];

function replace(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, 'wasm')) tf.unregisterKernel(config.kernelName, 'wasm');
  tf.registerKernel(config);
}

/**
 * Registers the kernel set for `wasm` (idempotent; switching sets re-registers). Must run before the
 * backend starts. Returns the names of the Distillery kernels now registered.
 */
export function registerWasmKernels(set: WasmKernelSet = 'distillery'): readonly string[] {
  if (registered === set) return set === 'distillery' ? DISTILLERY_WASM_KERNELS : ADDED;
  for (const name of PACKAGE_REPLACED) {
    captureOriginal(name);
  }
  const clip = clipByValueConfig();
  const matmul = captureOriginal(tf.BatchMatMul);
  // The replacement delegates ranks ≤ 4 to the package kernel, which needs its setup (cwrap) at backend start.
  const transpose = captureOriginal(tf.Transpose);
  const configs: tf.KernelConfig[] = set === 'distillery' ? [
    conv2dBackpropInputConfig,
    conv2dBackpropFilterConfig,
    { ...batchMatMulConfig, setupFunc: matmul?.setupFunc },
    sumConfig(),
    meanConfig(),
    sliceConfig,
    splitVConfig,
    unsortedSegmentSumConfig,
    clip,
    identityConfig,
    castConfig(),
    squareConfig(),
    groupNormConfig,
    groupNormGradConfig,
    adamwConfig,
    { ...transposeConfig, setupFunc: transpose?.setupFunc },
  ] : [
    conv2dBackpropFilterConfig,
    unsortedSegmentSumConfig,
    clip,
    ...PACKAGE_REPLACED.map(originalKernel),
  ];
  if (set === 'package') {
    for (const name of [groupNormConfig.kernelName, groupNormGradConfig.kernelName, adamwConfig.kernelName]) {
      if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
    }
  }
  for (const c of configs) replace(c);
  registered = set;
  return set === 'distillery' ? DISTILLERY_WASM_KERNELS : ADDED;
}
