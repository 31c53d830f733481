/**
 * ClipByValue for int32. The package kernel treats every input as float32: an int32 tensor's bits are
 * clamped as floats and the result keeps the int32 dtype, so -1 (NaN as a float) comes back as the bits
 * of -1.0f (-1082130432). Timestep gathers clip int32 indices (`final` is -1), so stage two failed on
 * wasm with "GatherV2: the index value -1082130431 is not in [0, 1000]". Integers are clamped here on
 * the heap; float32 keeps the package kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendWasm, type TensorInfo, captureOriginal, i32, runOriginal } from './util';

export function clipByValueConfig(): tf.KernelConfig {
  const pkg = captureOriginal(tf.ClipByValue);
  return {
    kernelName: tf.ClipByValue,
    backendName: 'wasm',
    setupFunc: pkg?.setupFunc,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x } = inputs as { x: TensorInfo };
      const wasm = backend as BackendWasm;
      if (x.dtype !== 'int32') return runOriginal(tf.ClipByValue, wasm, { x }, attrs);
      const { clipValueMin, clipValueMax } = attrs as unknown as tf.ClipByValueAttrs;
      const out = wasm.makeOutput(x.shape, 'int32');
      const src = i32(wasm, x);
      const dst = i32(wasm, out);
      for (let i = 0; i < src.length; i++) dst[i] = Math.min(Math.max(src[i], clipValueMin), clipValueMax);
      return out;
    },
  };
}
