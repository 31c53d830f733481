/**
 * GroupNorm (+ SiLU), the fused op models call directly. It runs as one fused kernel pair (forward and
 * backward, the contract in ./contracts.ts) on any backend that registers it (`wasm`, `libtorch`) and as
 * the equivalent composition of tfjs ops everywhere else, so a model can call it unconditionally; both
 * paths agree to float32 rounding (tested). It lives below the backends so that models call it without
 * importing a backend, and backends re-export it without importing models.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../errors';
import { GROUP_NORM_GRAD_KERNEL, GROUP_NORM_KERNEL } from './contracts';

export interface GroupNormOptions {
  /** Number of channel groups; must divide the channel count. */
  groups: number;
  /** Added to the variance; default 1e-5 (torch.nn.GroupNorm's default). */
  epsilon?: number;
  /** Apply SiLU (x·sigmoid(x)) to the result, as in GroupNorm → SiLU blocks. Default false. */
  silu?: boolean;
}

function validate(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, groups: number): void {
  if (x.rank !== 4) throw new BackendError(`groupNorm: x must be rank 4 (NHWC), found shape [${x.shape}]`);
  const c = x.shape[3] as number;
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new BackendError(`groupNorm: ${c} channels cannot be split into ${groups} groups`);
  }
  if (gamma.rank !== 1 || gamma.shape[0] !== c || beta.rank !== 1 || beta.shape[0] !== c) {
    throw new BackendError(`groupNorm: gamma and beta must have shape [${c}], found [${gamma.shape}] and [${beta.shape}]`);
  }
}

/** GroupNorm (+ SiLU) composed from tfjs ops: the reference path, differentiated by tfjs autodiff. */
export function groupNormComposite(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, options: GroupNormOptions): tf.Tensor4D {
  const { groups, epsilon = 1e-5, silu = false } = options;
  validate(x, gamma, beta, groups);
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const xg = tf.reshape(x, [n, h * w, groups, c / groups]);
    const { mean, variance } = tf.moments(xg, [1, 3], true);
    const xhat = tf.reshape(tf.mul(tf.sub(xg, mean), tf.rsqrt(tf.add(variance, epsilon))), [n, h, w, c]);
    const z = tf.add(tf.mul(xhat, gamma), beta);
    return (silu ? tf.mul(z, tf.sigmoid(z)) : z) as tf.Tensor4D;
  });
}

/**
 * GroupNorm over NHWC `x` with per-channel scale `gamma` and shift `beta`, optionally followed by SiLU.
 * Uses the fused kernels when the active backend registers both, the composition otherwise.
 * Normalises each sample over (H, W, channels of the group) with the biased variance, like
 * torch.nn.GroupNorm. Differentiable with respect to x, gamma and beta.
 */
export function groupNorm(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, options: GroupNormOptions): tf.Tensor4D {
  const backend = tf.getBackend();
  if (!tf.getKernel(GROUP_NORM_KERNEL, backend) || !tf.getKernel(GROUP_NORM_GRAD_KERNEL, backend) || x.dtype !== 'float32') {
    return groupNormComposite(x, gamma, beta, options);
  }
  const { groups, epsilon = 1e-5, silu = false } = options;
  validate(x, gamma, beta, groups);
  const attrs = { groups, epsilon, silu };
  const op = tf.customGrad(((xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const outs = tf.engine().runKernel(GROUP_NORM_KERNEL, { x: xi, gamma: g, beta: b },
      attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    // outs: y, mean, rstd, x − μ and, with SiLU, sigmoid(z); the backward needs all but the mean.
    const [y, , rstd, xc, sig] = outs;
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
        return tf.engine().runKernel(GROUP_NORM_GRAD_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      },
    };
  }) as unknown as (...args: (tf.Tensor | tf.GradSaveFunc)[]) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[] });
  return op(x, gamma, beta) as tf.Tensor4D;
}
