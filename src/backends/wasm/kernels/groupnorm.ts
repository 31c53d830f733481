/**
 * Fused GroupNorm (+ optional SiLU) forward and backward kernels for the WASM backend, NHWC.
 *
 * Composed from tfjs ops, one GroupNorm + SiLU is about a dozen kernels forward and two dozen backward
 * (moments through transposes, broadcasts, the autodiff of each), each allocating. These kernels make
 * every full-size pass a vectorised WASM kernel — per-channel sums by average pooling, broadcasts by
 * XNNPACK's binary ops — and do the per-group arithmetic on [N, C]-sized arrays in JavaScript.
 * The forward keeps what the backward needs (the centred input and, with SiLU, the sigmoid), so the
 * backward recomputes nothing.
 *
 * Math (per sample n and group g of Cg = C/G channels, M = H·W·Cg elements):
 *   μ = mean(x), x_c = x − μ, σ² = mean(x_c²), r = 1/√(σ² + ε), z = γ_c·r·x_c + β_c, y = z·s (s = sigmoid(z)) or z.
 * Backward with g = ∂L/∂z (= dy·(s + y·(1 − s)) when SiLU is fused), A = Σ_hw g, P = Σ_hw g·x_c per (n, c):
 *   ∂β_c = Σ_n A, ∂γ_c = Σ_n r·P, m1 = Σ_{c∈g} γ_c·A / M, m2 = r·Σ_{c∈g} γ_c·P / M,
 *   ∂x = g·(r·γ_c) − x_c·(r²·m2) − r·m1.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../../../errors';
import { type BackendWasm, type TensorInfo, dispose, f32, run } from './util';
import { meanMiddle } from './reduce';

import { GROUP_NORM_GRAD_KERNEL, GROUP_NORM_KERNEL, type GroupNormKernelAttrs } from '../../../kernels/contracts';

export { GROUP_NORM_GRAD_KERNEL, GROUP_NORM_KERNEL, type GroupNormKernelAttrs };

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

/** A [N, 1, 1, C] float32 tensor with values f(n, c). */
function perSampleChannel(backend: BackendWasm, n: number, c: number, f: (b: number, k: number) => number): TensorInfo {
  const t = backend.makeOutput([n, 1, 1, c], 'float32');
  const v = f32(backend, t);
  for (let b = 0; b < n; b++) for (let k = 0; k < c; k++) v[b * c + k] = f(b, k);
  return t;
}

function scalar(backend: BackendWasm, value: number): TensorInfo {
  const t = backend.makeOutput([], 'float32');
  f32(backend, t)[0] = value;
  return t;
}

/** Forward: [y, mean [N, G], rstd [N, G], x − μ, sigmoid(z) (SiLU only)]. */
export function groupNormForwardImpl(backend: BackendWasm, x: TensorInfo, gamma: TensorInfo, beta: TensorInfo,
  groups: number, epsilon: number, silu: boolean): TensorInfo[] {
  const [n, hw, c] = checkShapes(GROUP_NORM_KERNEL, x, gamma, beta, groups);
  const cg = c / groups;
  // Small per-(n, c) arrays are copied out of the heap: a heap view must not outlive an allocation
  // (a non-shared WASM memory detaches its buffer when it grows).
  const chanMean = meanMiddle(backend, x, n, hw, c);
  const cm = Float64Array.from(f32(backend, chanMean));
  const mu = new Float64Array(n * groups);
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      let s = 0;
      for (let k = g * cg; k < (g + 1) * cg; k++) s += cm[b * c + k];
      mu[b * groups + g] = s / cg;
    }
  }
  dispose(backend, chanMean);
  const mean = backend.makeOutput([n, groups], 'float32');
  f32(backend, mean).set(mu);
  const muC = perSampleChannel(backend, n, c, (b, k) => mu[b * groups + Math.floor(k / cg)]);
  const xc = run('Sub', backend, { a: x, b: muC });
  dispose(backend, muC);
  const sq = run('Square', backend, { x: xc });
  const chanVar = meanMiddle(backend, sq, n, hw, c);
  dispose(backend, sq);
  const cv = Float64Array.from(f32(backend, chanVar));
  const r = new Float64Array(n * groups);
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      let s = 0;
      for (let k = g * cg; k < (g + 1) * cg; k++) s += cv[b * c + k];
      r[b * groups + g] = 1 / Math.sqrt(s / cg + epsilon);
    }
  }
  dispose(backend, chanVar);
  const rstd = backend.makeOutput([n, groups], 'float32');
  f32(backend, rstd).set(r);
  const gm = Float64Array.from(f32(backend, gamma));
  const scaleC = perSampleChannel(backend, n, c, (b, k) => gm[k] * r[b * groups + Math.floor(k / cg)]);
  const scaled = run('Multiply', backend, { a: xc, b: scaleC });
  dispose(backend, scaleC);
  const z = run('Add', backend, { a: scaled, b: beta });
  dispose(backend, scaled);
  if (!silu) return [z, mean, rstd, xc];
  const sig = run('Sigmoid', backend, { x: z });
  const y = run('Multiply', backend, { a: z, b: sig });
  dispose(backend, z);
  return [y, mean, rstd, xc, sig];
}

/** Backward: [dx, dgamma, dbeta]. `y` and `sig` are the forward's output and sigmoid (SiLU only). */
export function groupNormBackwardImpl(backend: BackendWasm, dy: TensorInfo, xc: TensorInfo, gamma: TensorInfo,
  rstd: TensorInfo, groups: number, y?: TensorInfo, sig?: TensorInfo): TensorInfo[] {
  const [n, h, w, c] = xc.shape;
  const hw = h * w;
  const cg = c / groups;
  const count = hw * cg;
  let gz = dy;
  if (y && sig) {
    // SiLU'(z) = s + y·(1 − s).
    const one = scalar(backend, 1);
    const oms = run('Sub', backend, { a: one, b: sig });
    const q = run('Multiply', backend, { a: y, b: oms });
    const d = run('Add', backend, { a: sig, b: q });
    gz = run('Multiply', backend, { a: dy, b: d });
    dispose(backend, one, oms, q, d);
  }
  const sumG = meanMiddle(backend, gz, n, hw, c, hw);
  const gx = run('Multiply', backend, { a: gz, b: xc });
  const sumGX = meanMiddle(backend, gx, n, hw, c, hw);
  dispose(backend, gx);
  const A = Float64Array.from(f32(backend, sumG));
  const P = Float64Array.from(f32(backend, sumGX));
  const r = Float64Array.from(f32(backend, rstd));
  const gm = Float64Array.from(f32(backend, gamma));
  const dg = new Float64Array(c);
  const db = new Float64Array(c);
  const m1 = new Float64Array(n * groups);
  const m2 = new Float64Array(n * groups);
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      const rg = r[b * groups + g];
      let s1 = 0;
      let s2 = 0;
      for (let k = g * cg; k < (g + 1) * cg; k++) {
        const a = A[b * c + k];
        const p = P[b * c + k];
        db[k] += a;
        dg[k] += rg * p;
        s1 += gm[k] * a;
        s2 += gm[k] * p;
      }
      m1[b * groups + g] = s1 / count;
      m2[b * groups + g] = (rg * s2) / count;
    }
  }
  dispose(backend, sumG, sumGX);
  const dgamma = backend.makeOutput([c], 'float32');
  f32(backend, dgamma).set(dg);
  const dbeta = backend.makeOutput([c], 'float32');
  f32(backend, dbeta).set(db);
  const grp = (b: number, k: number): number => b * groups + Math.floor(k / cg);
  const alpha = perSampleChannel(backend, n, c, (b, k) => r[grp(b, k)] * gm[k]);
  const beta2 = perSampleChannel(backend, n, c, (b, k) => -r[grp(b, k)] * r[grp(b, k)] * m2[grp(b, k)]);
  const gamma2 = perSampleChannel(backend, n, c, (b, k) => -r[grp(b, k)] * m1[grp(b, k)]);
  const t1 = run('Multiply', backend, { a: gz, b: alpha });
  const t2 = run('Multiply', backend, { a: xc, b: beta2 });
  const t3 = run('Add', backend, { a: t1, b: t2 });
  const dx = run('Add', backend, { a: t3, b: gamma2 });
  dispose(backend, alpha, beta2, gamma2, t1, t2, t3);
  if (gz !== dy) dispose(backend, gz);
  return [dx, dgamma, dbeta];
}

export const groupNormConfig: tf.KernelConfig = {
  kernelName: GROUP_NORM_KERNEL,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
    const { groups, epsilon, silu } = attrs as unknown as GroupNormKernelAttrs;
    return groupNormForwardImpl(backend as BackendWasm, x, gamma, beta, groups, epsilon, silu);
  },
};

export const groupNormGradConfig: tf.KernelConfig = {
  kernelName: GROUP_NORM_GRAD_KERNEL,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, xc, gamma, rstd, y, sig } = inputs as Record<string, TensorInfo | undefined>;
    const { groups } = attrs as unknown as GroupNormKernelAttrs;
    if (!dy || !xc || !gamma || !rstd) throw new BackendError(`wasm ${GROUP_NORM_GRAD_KERNEL}: missing inputs`);
    if (!tf.util.arraysEqual(dy.shape, xc.shape)) {
      throw new BackendError(`wasm ${GROUP_NORM_GRAD_KERNEL}: dy shape ${dy.shape} differs from x shape ${xc.shape}`);
    }
    return groupNormBackwardImpl(backend as BackendWasm, dy, xc, gamma, rstd, groups, y, sig);
  },
};
