/**
 * Runs one computation on two TF.js backends and compares the results: the pure-JS CPU backend is the
 * reference (its kernels are straightforward loops over TF's definitions), the other backend is the one
 * under test. Inputs are generated once from a seeded generator and uploaded to each backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { strict as assert } from 'node:assert';

export type Gen = 'normal' | 'positive' | 'unit' | 'nonzero' | [number, number];

export interface InputSpec {
  shape: number[];
  dtype?: 'float32' | 'int32' | 'bool';
  /** Values: normal(0,1), positive (0.1..2.1), unit (-0.9..0.9), nonzero (|x| ≥ 0.5), or integers in [lo, hi]. */
  gen?: Gen;
}

export interface ConformanceCase {
  name: string;
  inputs: InputSpec[];
  f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
  /** Also compare gradients of sum(f(x) · w) with respect to every float input (w random, fixed). */
  grad?: boolean;
  /** Absolute + relative tolerance (default 1e-4 each). */
  tol?: number;
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

function generate(spec: InputSpec, rand: () => number): Float32Array | Int32Array | Uint8Array {
  const n = spec.shape.reduce((p, q) => p * q, 1);
  const dtype = spec.dtype ?? 'float32';
  const gen = spec.gen ?? (dtype === 'float32' ? 'normal' : dtype === 'bool' ? [0, 1] : [-5, 5]);
  const out = dtype === 'float32' ? new Float32Array(n) : dtype === 'int32' ? new Int32Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (Array.isArray(gen)) out[i] = gen[0] + Math.floor(rand() * (gen[1] - gen[0] + 1));
    else if (gen === 'positive') out[i] = 0.1 + 2 * rand();
    else if (gen === 'unit') out[i] = -0.9 + 1.8 * rand();
    else if (gen === 'nonzero') out[i] = (rand() < 0.5 ? -1 : 1) * (0.5 + rand());
    else out[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  }
  return out;
}

interface Result {
  shape: number[];
  dtype: string;
  values: ArrayLike<number>;
}

async function runOn(backend: string, c: ConformanceCase, data: Array<Float32Array | Int32Array | Uint8Array>, weights?: Float32Array[]): Promise<{ out: Result[]; grads: Result[] }> {
  await tf.setBackend(backend);
  const read = (t: tf.Tensor): Result => ({ shape: t.shape.slice(), dtype: t.dtype, values: t.dataSync() as ArrayLike<number> });
  const readAll = (ts: tf.Tensor[]): Result[] => {
    const r = ts.map(read);
    tf.dispose(ts);
    return r;
  };
  const out = readAll(tf.tidy(() => {
    const xs = c.inputs.map((s, i) => tf.tensor(data[i], s.shape, s.dtype ?? 'float32'));
    const y = c.f(...xs);
    return Array.isArray(y) ? y : [y];
  }));
  let grads: Result[] = [];
  if (c.grad && weights) {
    grads = readAll(tf.tidy(() => {
      const xs = c.inputs.map((s, i) => tf.tensor(data[i], s.shape, s.dtype ?? 'float32'));
      const floatIdx = c.inputs.map((s, i) => ((s.dtype ?? 'float32') === 'float32' ? i : -1)).filter((i) => i >= 0);
      const loss = (...vars: tf.Tensor[]): tf.Scalar => {
        const all = xs.slice();
        floatIdx.forEach((k, j) => { all[k] = vars[j]; });
        const y = c.f(...all);
        const ys = Array.isArray(y) ? y : [y];
        return tf.addN(ys.map((t, j) => tf.sum(tf.mul(t, tf.tensor(weights[j], t.shape))))) as tf.Scalar;
      };
      return tf.grads(loss)(floatIdx.map((k) => xs[k]));
    }));
  }
  return { out, grads };
}

function compare(what: string, ref: Result, got: Result, tol: number): void {
  assert.deepEqual(got.shape, ref.shape, `${what}: shape`);
  assert.equal(got.dtype, ref.dtype, `${what}: dtype`);
  assert.equal(got.values.length, ref.values.length, `${what}: size`);
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < ref.values.length; i++) {
    const r = ref.values[i];
    const g = got.values[i];
    if (Number.isNaN(r) && Number.isNaN(g)) continue;
    if (r === g) continue;
    const err = Math.abs(r - g) / (tol + tol * Math.abs(r));
    if (!(err <= worst)) { worst = Number.isNaN(err) ? Infinity : err; worstAt = i; }
  }
  if (worst > 1) {
    assert.fail(`${what}: element ${worstAt} is ${got.values[worstAt]}, reference ${ref.values[worstAt]} (tolerance ${tol} abs + ${tol} rel)`);
  }
}

/** Runs `c` on the CPU reference and on `backend`, comparing outputs (and gradients when asked). */
export async function checkCase(backend: string, c: ConformanceCase, seed: number): Promise<void> {
  const rand = mulberry(seed);
  const data = c.inputs.map((s) => generate(s, rand));
  const ref = await runOn('cpu', c, data);
  const weights = c.grad ? ref.out.map((r) => generate({ shape: r.shape }, rand) as Float32Array) : undefined;
  const refFull = c.grad ? await runOn('cpu', c, data, weights) : ref;
  const got = await runOn(backend, c, data, weights);
  await tf.setBackend('cpu');
  const tol = c.tol ?? 1e-4;
  assert.equal(got.out.length, refFull.out.length, `${c.name}: number of outputs`);
  refFull.out.forEach((r, i) => compare(`${c.name} output ${i}`, r, got.out[i], tol));
  refFull.grads.forEach((r, i) => compare(`${c.name} gradient ${i}`, r, got.grads[i], tol));
}
