/**
 * Square. The package kernel costs a fixed ~0.2 ms or more per call whatever the size (measured: a
 * 37k-element tensor takes as long as a 1M-element one), and an optimizer squares every gradient every
 * step. Small tensors go through Multiply(x, x) instead (XNNPACK, microseconds; bit-identical, x·x is
 * what squaring computes); large ones keep the package kernel, which is then the faster of the two.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendWasm, type TensorInfo, captureOriginal, run, runOriginal } from './util';

/** Elements below which Multiply(x, x) is used. */
export const SQUARE_VIA_MULTIPLY_BELOW = 256 * 1024;

export function squareConfig(): tf.KernelConfig {
  const pkg = captureOriginal(tf.Square);
  return {
    kernelName: tf.Square,
    backendName: 'wasm',
    setupFunc: pkg?.setupFunc,
    kernelFunc: ({ inputs, backend }) => {
      const { x } = inputs as { x: TensorInfo };
      const wasm = backend as BackendWasm;
      if (x.dtype === 'float32' && tf.util.sizeFromShape(x.shape) < SQUARE_VIA_MULTIPLY_BELOW) {
        return run('Multiply', wasm, { a: x, b: x });
      }
      return runOriginal(tf.Square, wasm, { x });
    },
  };
}
