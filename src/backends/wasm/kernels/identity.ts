/**
 * Identity and same-dtype Cast without a copy. The package kernels copy the whole tensor, and tfjs
 * runs Identity for every clone (customGrad saves, gradient bookkeeping) and Cast for every
 * `cast(x, x.dtype)` (an optimizer casting float32 gradients to float32). Tensor data is immutable in
 * tfjs — no kernel writes into an input — so sharing the buffer with a reference count is safe; the
 * CPU backend and the package's own Reshape do the same.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendWasm, type TensorInfo, captureOriginal, runOriginal } from './util';

function share(backend: BackendWasm, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

export const identityConfig: tf.KernelConfig = {
  kernelName: tf.Identity,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend }) => share(backend as BackendWasm, (inputs as { x: TensorInfo }).x),
};

export function castConfig(): tf.KernelConfig {
  const pkg = captureOriginal(tf.Cast);
  return {
    kernelName: tf.Cast,
    backendName: 'wasm',
    setupFunc: pkg?.setupFunc,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x } = inputs as { x: TensorInfo };
      const { dtype } = attrs as unknown as tf.CastAttrs;
      if (dtype === x.dtype) return share(backend as BackendWasm, x);
      return runOriginal(tf.Cast, backend as BackendWasm, { x }, attrs);
    },
  };
}
