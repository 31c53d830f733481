/**
 * Calls Distillery's fused GroupNorm kernels on the active backend through tf.customGrad, exactly as
 * src/backends/wasm/fused.ts does on WASM (forward outputs [y, mean, rstd, x − μ, sigmoid(z)], the
 * backward kernel consuming what the forward saved). Used to test the libtorch implementation of that
 * kernel contract against the composite GroupNorm on the CPU backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GROUP_NORM_GRAD_KERNEL, GROUP_NORM_KERNEL } from '../../../src/backends/wasm/kernels/groupnorm';

type Fused = (...args: (tf.Tensor | tf.GradSaveFunc)[]) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[] };

export function fusedGroupNormViaKernel(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, groups: number, epsilon: number, silu: boolean): tf.Tensor4D {
  const attrs = { groups, epsilon, silu } as unknown as tf.NamedAttrMap;
  const op = tf.customGrad(((xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, , rstd, xc, sig] = tf.engine().runKernel(GROUP_NORM_KERNEL, { x: xi, gamma: g, beta: b }, attrs) as tf.Tensor[];
    save(silu ? [xc, g, rstd, y, sig] : [xc, g, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sxc, sg, sr, sy, ssig] = saved;
        const inputs: Record<string, tf.Tensor> = { dy, xc: sxc, gamma: sg, rstd: sr };
        if (silu) {
          inputs.y = sy;
          inputs.sig = ssig;
        }
        return tf.engine().runKernel(GROUP_NORM_GRAD_KERNEL, inputs, attrs) as tf.Tensor[];
      },
    };
  }) as unknown as Fused);
  return op(x, gamma, beta) as tf.Tensor4D;
}
