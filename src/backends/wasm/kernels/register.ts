/**
 * Registers Distillery's WASM kernels with TensorFlow.js: the training kernels the package lacks
 * (Conv2DBackpropFilter, UnsortedSegmentSum), faster replacements for slow package kernels
 * (Conv2DBackpropInput, BatchMatMul, Sum, Mean, Slice, SplitV, Identity, Cast), and the fused GroupNorm
 * kernels.
 *
 * Must run before the `wasm` backend is initialised: tfjs calls each kernel's setup function once, when
 * the backend starts, and the replacements that delegate to package kernels carry those setups along.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { captureOriginal } from './util';
import { conv2dBackpropFilterConfig, conv2dBackpropInputConfig } from './conv';
import { batchMatMulConfig } from './matmul';
import { meanConfig, sumConfig } from './reduce';
import { sliceConfig, splitVConfig } from './slice';
import { unsortedSegmentSumConfig } from './segment';
import { groupNormConfig, groupNormGradConfig } from './groupnorm';
import { castConfig, identityConfig } from './identity';

let registered = false;

/** Kernel names Distillery registers for `wasm` (added or replacing the package's). */
export const DISTILLERY_WASM_KERNELS: readonly string[] = [
  tf.Conv2DBackpropInput, tf.Conv2DBackpropFilter, tf.BatchMatMul, tf.Sum, tf.Mean, tf.Slice, tf.SplitV,
  tf.UnsortedSegmentSum, tf.Identity, tf.Cast, groupNormConfig.kernelName, groupNormGradConfig.kernelName,
];

function replace(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, 'wasm')) tf.unregisterKernel(config.kernelName, 'wasm');
  tf.registerKernel(config);
}

/** Idempotent. Returns the names registered. */
export function registerWasmKernels(): readonly string[] {
  if (registered) return DISTILLERY_WASM_KERNELS;
  const matmul = captureOriginal(tf.BatchMatMul);
  const configs: tf.KernelConfig[] = [
    conv2dBackpropInputConfig,
    conv2dBackpropFilterConfig,
    { ...batchMatMulConfig, setupFunc: matmul?.setupFunc },
    sumConfig(),
    meanConfig(),
    sliceConfig,
    splitVConfig,
    unsortedSegmentSumConfig,
    identityConfig,
    castConfig(),
    groupNormConfig,
    groupNormGradConfig,
  ];
  for (const c of configs) replace(c);
  registered = true;
  return DISTILLERY_WASM_KERNELS;
}
