/**
 * Fused GroupNorm (+ optional SiLU) forward and backward kernels for the WASM backend, NHWC.
 *
 * Composed from tfjs ops, one GroupNorm + SiLU is about a dozen element-wise kernels forward and twice
 * that backward, each a separate single-threaded pass with its own heap allocation. These kernels do
 * the forward in two passes (statistics, then normalise + affine + SiLU) and the backward in two passes,
 * recomputing the normalised value instead of storing it. Statistics accumulate in float64.
 *
 * Math (per sample n and group g of Cg = C/G channels, M = H·W·Cg elements):
 *   μ = mean(x), σ² = mean(x²) − μ², r = 1/√(σ² + ε), x̂ = (x − μ)·r, z = γ_c·x̂ + β_c, y = z·sigmoid(z) (or z).
 * Backward with g = ∂L/∂z (= dy·s·(1 + z·(1 − s)), s = sigmoid(z), when SiLU is fused):
 *   ∂β_c = Σ g, ∂γ_c = Σ g·x̂, ∂x = r·(γ_c·g − mean_g(γ·g) − x̂·mean_g(γ·g·x̂)).
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../../../errors';
import { type BackendWasm, type TensorInfo, f32 } from './util';

export const GROUP_NORM_KERNEL = 'DistilleryGroupNorm';
export const GROUP_NORM_GRAD_KERNEL = 'DistilleryGroupNormGrad';

export interface GroupNormKernelAttrs {
  groups: number;
  epsilon: number;
  silu: boolean;
}

function checkShapes(kernel: string, x: TensorInfo, gamma: TensorInfo, beta: TensorInfo, groups: number): [number, number, number] {
  if (x.shape.length !== 4) throw new BackendError(`wasm ${kernel}: x must be rank 4 (NHWC), found shape ${x.shape}`);
  const [n, h, w, c] = x.shape;
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new BackendError(`wasm ${kernel}: ${c} channels cannot be split into ${groups} groups`);
  }
  if (gamma.shape.length !== 1 || gamma.shape[0] !== c || beta.shape.length !== 1 || beta.shape[0] !== c) {
    throw new BackendError(`wasm ${kernel}: gamma and beta must have shape [${c}], found ${gamma.shape} and ${beta.shape}`);
  }
  for (const t of [x, gamma, beta]) {
    if (t.dtype !== 'float32') throw new BackendError(`wasm ${kernel}: expected float32, found ${t.dtype}`);
  }
  return [n, h * w, c];
}

/** Forward on raw arrays: writes y, mean [N·G] and rstd [N·G]. */
export function groupNormForward(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array,
  mean: Float32Array, rstd: Float32Array, n: number, hw: number, c: number, groups: number, epsilon: number,
  silu: boolean): void {
  const cg = c / groups;
  const sumC = new Float64Array(c);
  const sqC = new Float64Array(c);
  const scale = new Float32Array(c);
  const shift = new Float32Array(c);
  const count = hw * cg;
  for (let b = 0; b < n; b++) {
    sumC.fill(0);
    sqC.fill(0);
    const base = b * hw * c;
    for (let p = 0; p < hw; p++) {
      const o = base + p * c;
      for (let k = 0; k < c; k++) {
        const v = x[o + k];
        sumC[k] += v;
        sqC[k] += v * v;
      }
    }
    for (let g = 0; g < groups; g++) {
      let s = 0;
      let q = 0;
      for (let k = g * cg; k < (g + 1) * cg; k++) {
        s += sumC[k];
        q += sqC[k];
      }
      const mu = s / count;
      const variance = Math.max(q / count - mu * mu, 0);
      const r = 1 / Math.sqrt(variance + epsilon);
      mean[b * groups + g] = mu;
      rstd[b * groups + g] = r;
      for (let k = g * cg; k < (g + 1) * cg; k++) {
        scale[k] = gamma[k] * r;
        shift[k] = beta[k] - mu * r * gamma[k];
      }
    }
    if (silu) {
      for (let p = 0; p < hw; p++) {
        const o = base + p * c;
        for (let k = 0; k < c; k++) {
          const z = x[o + k] * scale[k] + shift[k];
          y[o + k] = z / (1 + Math.exp(-z));
        }
      }
    } else {
      for (let p = 0; p < hw; p++) {
        const o = base + p * c;
        for (let k = 0; k < c; k++) y[o + k] = x[o + k] * scale[k] + shift[k];
      }
    }
  }
}

/** Backward on raw arrays: writes dx, dgamma, dbeta. */
export function groupNormBackward(dy: Float32Array, x: Float32Array, gamma: Float32Array, beta: Float32Array,
  mean: Float32Array, rstd: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, n: number,
  hw: number, c: number, groups: number, silu: boolean): void {
  const cg = c / groups;
  const count = hw * cg;
  const muC = new Float32Array(c);
  const rC = new Float32Array(c);
  const aC = new Float64Array(c);
  const bC = new Float64Array(c);
  const dgAcc = new Float64Array(c);
  const dbAcc = new Float64Array(c);
  const m1C = new Float32Array(c);
  const m2C = new Float32Array(c);
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      for (let k = g * cg; k < (g + 1) * cg; k++) {
        muC[k] = mean[b * groups + g];
        rC[k] = rstd[b * groups + g];
      }
    }
    aC.fill(0);
    bC.fill(0);
    const base = b * hw * c;
    // Pass 1: g = ∂L/∂z into dx, and per-channel Σ g and Σ g·x̂.
    for (let p = 0; p < hw; p++) {
      const o = base + p * c;
      for (let k = 0; k < c; k++) {
        const xh = (x[o + k] - muC[k]) * rC[k];
        let gz = dy[o + k];
        if (silu) {
          const z = xh * gamma[k] + beta[k];
          const s = 1 / (1 + Math.exp(-z));
          gz *= s * (1 + z * (1 - s));
        }
        dx[o + k] = gz;
        aC[k] += gz;
        bC[k] += gz * xh;
      }
    }
    for (let g = 0; g < groups; g++) {
      let m1 = 0;
      let m2 = 0;
      for (let k = g * cg; k < (g + 1) * cg; k++) {
        m1 += gamma[k] * aC[k];
        m2 += gamma[k] * bC[k];
        dbAcc[k] += aC[k];
        dgAcc[k] += bC[k];
      }
      m1 /= count;
      m2 /= count;
      for (let k = g * cg; k < (g + 1) * cg; k++) {
        m1C[k] = m1;
        m2C[k] = m2;
      }
    }
    // Pass 2: ∂x = r·(γ·g − m1 − x̂·m2).
    for (let p = 0; p < hw; p++) {
      const o = base + p * c;
      for (let k = 0; k < c; k++) {
        const xh = (x[o + k] - muC[k]) * rC[k];
        dx[o + k] = rC[k] * (gamma[k] * dx[o + k] - m1C[k] - xh * m2C[k]);
      }
    }
  }
  for (let k = 0; k < c; k++) {
    dgamma[k] = dgAcc[k];
    dbeta[k] = dbAcc[k];
  }
}

export const groupNormConfig: tf.KernelConfig = {
  kernelName: GROUP_NORM_KERNEL,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
    const { groups, epsilon, silu } = attrs as unknown as GroupNormKernelAttrs;
    const wasm = backend as BackendWasm;
    const [n, hw, c] = checkShapes(GROUP_NORM_KERNEL, x, gamma, beta, groups);
    const y = wasm.makeOutput([...x.shape], 'float32');
    const mean = wasm.makeOutput([n, groups], 'float32');
    const rstd = wasm.makeOutput([n, groups], 'float32');
    groupNormForward(f32(wasm, x), f32(wasm, gamma), f32(wasm, beta), f32(wasm, y), f32(wasm, mean), f32(wasm, rstd),
      n, hw, c, groups, epsilon, silu);
    return [y, mean, rstd];
  },
};

export const groupNormGradConfig: tf.KernelConfig = {
  kernelName: GROUP_NORM_GRAD_KERNEL,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, x, gamma, beta, mean, rstd } = inputs as Record<string, TensorInfo>;
    const { groups, silu } = attrs as unknown as GroupNormKernelAttrs;
    const wasm = backend as BackendWasm;
    const [n, hw, c] = checkShapes(GROUP_NORM_GRAD_KERNEL, x, gamma, beta, groups);
    if (!tf.util.arraysEqual(dy.shape, x.shape)) {
      throw new BackendError(`wasm ${GROUP_NORM_GRAD_KERNEL}: dy shape ${dy.shape} differs from x shape ${x.shape}`);
    }
    const dx = wasm.makeOutput([...x.shape], 'float32');
    const dgamma = wasm.makeOutput([c], 'float32');
    const dbeta = wasm.makeOutput([c], 'float32');
    groupNormBackward(f32(wasm, dy), f32(wasm, x), f32(wasm, gamma), f32(wasm, beta), f32(wasm, mean), f32(wasm, rstd),
      f32(wasm, dx), f32(wasm, dgamma), f32(wasm, dbeta), n, hw, c, groups, silu);
    return [dx, dgamma, dbeta];
  },
};
