/**
 * Runs one computation on the pure-JS CPU backend (the reference: TF.js's plain loops over TF's op
 * definitions) and on WebGPU, and compares outputs and gradients elementwise. Every read is
 * asynchronous (`await tensor.data()`): WebGPU under Node cannot read GPU buffers synchronously.
 */
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { selectBackend, shutdownBackend, type BackendInfo } from '../../../src/backends';

export type Gen = 'normal' | 'positive' | [number, number];

export interface InputSpec {
  shape: number[];
  dtype?: 'float32' | 'int32';
  /** normal(0, 1), positive (0.1 … 2.1), or integers in [lo, hi]. */
  gen?: Gen;
}

export interface KernelCase {
  name: string;
  inputs: InputSpec[];
  f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
  /** Also compare the gradients of Σ f(x)·w (w fixed, random) with respect to every float input. */
  grad?: boolean;
  /** Absolute + relative tolerance; default 1e-5 each. */
  tol?: number;
}

/** Selects WebGPU on whatever adapter Dawn offers, software included (CI runs on llvmpipe). */
export async function useWebGpu(): Promise<BackendInfo> {
  return selectBackend('webgpu', { allowSoftwareAdapter: true });
}

/** Releases the device and returns to the CPU backend the other suites expect. */
export async function leaveWebGpu(): Promise<void> {
  await shutdownBackend();
  await tf.setBackend('cpu');
}

export function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function generate(spec: InputSpec, rand: () => number): Float32Array | Int32Array {
  const n = spec.shape.reduce((p, q) => p * q, 1);
  const dtype = spec.dtype ?? 'float32';
  const gen = spec.gen ?? (dtype === 'float32' ? 'normal' : [0, 3]);
  const out = dtype === 'float32' ? new Float32Array(n) : new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (Array.isArray(gen)) out[i] = gen[0] + Math.floor(rand() * (gen[1] - gen[0] + 1));
    else if (gen === 'positive') out[i] = 0.1 + 2 * rand();
    else out[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  }
  return out;
}

export interface Values {
  shape: number[];
  dtype: string;
  values: ArrayLike<number>;
}

/** Reads and disposes tensors. */
export async function readAll(ts: tf.Tensor[]): Promise<Values[]> {
  const out: Values[] = [];
  for (const t of ts) out.push({ shape: t.shape.slice(), dtype: t.dtype, values: (await t.data()) as ArrayLike<number> });
  tf.dispose(ts);
  return out;
}

async function runOn(backend: string, c: KernelCase, data: Array<Float32Array | Int32Array>, weights?: Float32Array[]): Promise<Values[]> {
  await tf.setBackend(backend);
  const inputs = (): tf.Tensor[] => c.inputs.map((s, i) => tf.tensor(data[i], s.shape, s.dtype ?? 'float32'));
  const outs = tf.tidy(() => {
    const y = c.f(...inputs());
    return Array.isArray(y) ? y : [y];
  });
  if (!weights) return readAll(outs);
  tf.dispose(outs);
  const grads = tf.tidy(() => {
    const xs = inputs();
    const floatIdx = c.inputs.map((s, i) => ((s.dtype ?? 'float32') === 'float32' ? i : -1)).filter((i) => i >= 0);
    const loss = (...vars: tf.Tensor[]): tf.Scalar => {
      const all = xs.slice();
      floatIdx.forEach((k, j) => { all[k] = vars[j]; });
      const y = c.f(...all);
      const ys = Array.isArray(y) ? y : [y];
      return tf.addN(ys.map((t, j) => tf.sum(tf.mul(t, tf.tensor(weights[j], t.shape))))) as tf.Scalar;
    };
    return tf.grads(loss)(floatIdx.map((k) => xs[k]));
  });
  return readAll(grads);
}

/** Largest |got − ref| / (tol + tol·|ref|); ≤ 1 passes. */
export function assertClose(what: string, ref: Values, got: Values, tol: number): void {
  assert.deepEqual(got.shape, ref.shape, `${what}: shape`);
  assert.equal(got.dtype, ref.dtype, `${what}: dtype`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < ref.values.length; i++) {
    const r = ref.values[i];
    const g = got.values[i];
    if (r === g) continue;
    const err = Math.abs(r - g) / (tol + tol * Math.abs(r));
    if (!(err <= worst)) { worst = Number.isNaN(err) ? Infinity : err; at = i; }
  }
  if (worst > 1) assert.fail(`${what}: element ${at} is ${got.values[at]}, reference ${ref.values[at]} (tolerance ${tol} abs + ${tol} rel)`);
}

/** Runs `c` on CPU and WebGPU (leaving CPU active) and compares outputs and, if asked, gradients. */
export async function checkCase(c: KernelCase, seed: number): Promise<void> {
  const rand = mulberry(seed);
  const data = c.inputs.map((s) => generate(s, rand));
  const tol = c.tol ?? 1e-5;
  const refOut = await runOn('cpu', c, data);
  const gotOut = await runOn('webgpu', c, data);
  assert.equal(gotOut.length, refOut.length, `${c.name}: number of outputs`);
  refOut.forEach((r, i) => assertClose(`${c.name} output ${i}`, r, gotOut[i], tol));
  if (c.grad) {
    const weights = refOut.map((r) => generate({ shape: r.shape }, rand) as Float32Array);
    const refGrad = await runOn('cpu', c, data, weights);
    const gotGrad = await runOn('webgpu', c, data, weights);
    refGrad.forEach((r, i) => assertClose(`${c.name} gradient ${i}`, r, gotGrad[i], tol));
  }
  await tf.setBackend('cpu');
}
