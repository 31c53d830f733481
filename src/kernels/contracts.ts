/**
 * Kernel contracts: the fused ops that the math layer (src/models, src/training) calls by name and that
 * backends (src/backends/libtorch, src/backends/wasm) implement. Declared here once — names and attribute
 * types, no code — so that a backend imports only these declarations, never src/training, src/models or
 * another backend (the layer map in docs/concepts.md). A backend that registers none of them still runs
 * every model: each caller falls back to the same computation composed of TF.js ops.
 */

/**
 * GroupNorm (+ optional SiLU), NHWC, float32 — called through `groupNorm` (src/kernels/group-norm.ts):
 *   DistilleryGroupNorm     inputs {x, gamma, beta}, attrs GroupNormKernelAttrs
 *                           → [y, mean [N, G], rstd [N, G], x − μ (broadcast per group), sigmoid(z) (silu only)]
 *   DistilleryGroupNormGrad inputs {dy, xc, gamma, rstd, y, sig} (y and sig with silu only), attrs as above
 *                           → [dx, dgamma, dbeta]
 * Normalises each sample over (H, W, channels of the group) with the biased variance, like torch.nn.GroupNorm.
 */
export const GROUP_NORM_KERNEL = 'DistilleryGroupNorm';
export const GROUP_NORM_GRAD_KERNEL = 'DistilleryGroupNormGrad';

export interface GroupNormKernelAttrs {
  groups: number;
  epsilon: number;
  silu: boolean;
}

/**
 * The fused AdamW update (called by src/training/adamw.ts). Inputs `param`, `grad`, `m`, `v` (float32,
 * equal sizes); attributes `beta1`, `beta2`, `eps`, `stepSize` = lr / (1 − β1^t), `sqrtBias2` = √(1 − β2^t),
 * `decay` = 1 − lr·weightDecay; outputs [p', m', v'] as new tensors, computed in float32 in exactly this order:
 *   m' = m·β1 + g·(1 − β1); v' = v·β2 + (g·g)·(1 − β2); p' = p·decay − (m' / (√v' / sqrtBias2 + eps))·stepSize
 * (p·decay only when decay ≠ 1), each scalar rounded to float32 first.
 */
export const ADAMW_KERNEL = 'DistilleryAdamW';

export interface AdamWKernelAttrs {
  beta1: number;
  beta2: number;
  eps: number;
  stepSize: number;
  sqrtBias2: number;
  decay: number;
}

/**
 * A backend's one-call Σ over tensors of Σ x² (called by src/training/grads.ts). Inputs: the tensors, as an
 * array like AddN's; output: a float32 scalar. The libtorch backend registers it (accumulating in float64);
 * elsewhere the sum is composed of Square, Sum and AddN per tensor.
 */
export const SQUARED_NORM_KERNEL = 'DistillerySumOfSquares';
