/**
 * Distillery's fused AdamW update for the WASM backend (contract in src/kernels/contracts.ts): one pass in
 * JavaScript over heap views instead of about fifteen kernels per variable. Every operation is rounded
 * to float32 (Math.fround) in the composed update's order, so the result equals the composition bit for
 * bit: a float32 sum, product, quotient or square root computed in float64 and rounded once is the
 * correctly rounded float32 result.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../../../errors';
import { ADAMW_KERNEL, type AdamWKernelAttrs } from '../../../kernels/contracts';
import { type BackendWasm, type TensorInfo, f32 } from './util';

export function adamwImpl(backend: BackendWasm, param: TensorInfo, grad: TensorInfo, m: TensorInfo, v: TensorInfo, attrs: AdamWKernelAttrs): TensorInfo[] {
  const n = tf.util.sizeFromShape(param.shape);
  for (const t of [param, grad, m, v]) {
    if (t.dtype !== 'float32' || tf.util.sizeFromShape(t.shape) !== n) {
      throw new BackendError(`wasm ${ADAMW_KERNEL}: param, grad, m and v must be float32 with ${n} elements, found ${t.dtype} [${t.shape}]`);
    }
  }
  const f = Math.fround;
  const b1 = f(attrs.beta1), b2 = f(attrs.beta2), omb1 = f(1 - attrs.beta1), omb2 = f(1 - attrs.beta2);
  const eps = f(attrs.eps), stepSize = f(attrs.stepSize), sqrtBias2 = f(attrs.sqrtBias2), decay = f(attrs.decay);
  const decays = attrs.decay !== 1;
  // Allocate every output before taking heap views: an allocation may grow (and detach) the heap.
  const outs = [param, m, v].map((t) => backend.makeOutput(t.shape, 'float32'));
  const [pp, gp, mp, vp, pn, mn, vn] = [param, grad, m, v, ...outs].map((t) => f32(backend, t));
  for (let i = 0; i < n; i++) {
    const g = gp[i];
    const mi = f(f(mp[i] * b1) + f(g * omb1));
    const vi = f(f(vp[i] * b2) + f(f(g * g) * omb2));
    const denom = f(f(f(Math.sqrt(vi)) / sqrtBias2) + eps);
    const pd = decays ? f(pp[i] * decay) : pp[i];
    pn[i] = pd - f(f(mi / denom) * stepSize);
    mn[i] = mi;
    vn[i] = vi;
  }
  return outs;
}

export const adamwConfig: tf.KernelConfig = {
  kernelName: ADAMW_KERNEL,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { param, grad, m, v } = inputs as { param: TensorInfo; grad: TensorInfo; m: TensorInfo; v: TensorInfo };
    return adamwImpl(backend as BackendWasm, param, grad, m, v, attrs as unknown as AdamWKernelAttrs);
  },
};
