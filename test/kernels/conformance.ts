/**
 * Kernel conformance suite: the kernels a UNet training step runs (convolution and its two gradients,
 * matrix products with transposes and batches, reductions, slicing, segment sums, GroupNorm(+SiLU),
 * nearest upsampling and its gradient, square, identity/cast), each checked on tiny shapes against the float64
 * references in reference.ts (GroupNorm's gradient against central finite differences of the float64
 * forward), with no tensor leaked.
 *
 * Backend-agnostic: call `runKernelConformance(name, {init, teardown})` from a mocha test file; `init`
 * makes the backend current (e.g. `selectBackend('wasm', {threads: 2})`), `teardown` restores the
 * previous one. Tolerance: |got − ref| ≤ atol + rtol·max|ref| elementwise (float32 arithmetic against a
 * float64 reference; rtol 1e-5 unless a case says otherwise).
 *
 * With `precision: 'bf16'` (autocast, issue 17) the convolutions (forward and gradients) and the
 * matrix products are checked against the bound that bf16 operands allow, derived below
 * (`bf16Bound`), and must show that the bf16 path ran: either every output is a bf16 value (a kernel
 * that rounds its result to bf16, as ATen's do) or, with `bf16ConvResults: 'float32'` for the
 * convolutions, every output is the float32 sum of the products of the bf16-rounded operands (a kernel
 * that keeps oneDNN's float32 accumulator as its result; a float32 kernel fails this on the suite's
 * data, which is asserted too). With `bf16FilterGradients: false` filter gradients are checked at the
 * float32 tolerance instead. Every other kernel keeps its float32 tolerance, which checks that
 * autocast leaves them in float32.
 */
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import '../../src/util/tf-gradients';
import { groupNorm } from '../../src/backends/wasm/fused';
import { conv2dWithBias } from '../../src/models/fused-conv2d';
import * as ref from './reference';
import type { ConvParams, NdArray } from './reference';

export interface ConformanceOptions {
  /** Makes the backend under test current. */
  init: () => Promise<unknown>;
  /** Restores what was there before. */
  teardown: () => Promise<unknown>;
  /** `bf16`: the backend runs with bf16 autocast (convolutions and matmuls); default `fp32`. */
  precision?: 'fp32' | 'bf16';
  /** With bf16: false when the backend keeps filter gradients in float32 (checked at float32 tolerance). */
  bf16FilterGradients?: boolean;
  /**
   * With bf16: the form of the convolutions' results. `bf16` (default): rounded to bf16 values, as
   * ATen's bf16 kernels write them; `float32`: oneDNN's float32 accumulator kept (bf16 operands, float32
   * sum and result), checked against the sum of the bf16-rounded operands' products.
   */
  bf16ConvResults?: 'bf16' | 'float32';
}

/**
 * The error bound of one output of a bf16-autocast convolution or matmul, as a multiple of
 * S = Σ|aₖ|·|bₖ| (the same operation on the operands' absolute values), K terms per output.
 *
 * bf16 keeps 8 significant bits (7 stored + the implicit one); round-to-nearest gives unit roundoff
 * u = 2⁻⁸. (1) Each float32 operand is rounded to bf16: â = a(1 + δ), |δ| ≤ u. (2) The product of two
 * 8-bit significands has at most 16 bits, so it is exact in float32: âb̂ = ab(1 + δ₁)(1 + δ₂), off by at
 * most (2u + u²)|ab|. (3) The K products are summed in float32 (unit roundoff 2⁻²⁴): at most
 * γ_K = K·2⁻²⁴/(1 − K·2⁻²⁴) relative to Σ|âb̂| ≤ (1 + u)²·S; for K ≤ 200 that is below 1.01·K·2⁻²⁴·(1 + u)²·S.
 * (4) ATen's bf16 kernels write a bf16 result: one more rounding, at most u·|sum| ≤ u·(1 + 3u)·S.
 * Together: |ŷ − y| ≤ [(2u + u²) + 1.01·K·2⁻²⁴·(1 + u)² + u(1 + 3u)]·S < (3u + 4u² + 1.02·K·2⁻²⁴)·S.
 * With u = 2⁻⁸ the leading term is 3u ≈ 1.17 % of S: bf16 arithmetic is about 2.3 decimal digits.
 */
export function bf16Bound(k: number): number {
  const u = 2 ** -8;
  return 3 * u + 4 * u * u + 1.02 * k * 2 ** -24;
}

/**
 * The bound of a float32 result computed from bf16 operands, against the exact sum of the rounded
 * operands' products Σ âₖb̂ₖ, as a multiple of S = Σ|aₖ||bₖ|: only step (3) of `bf16Bound` (the
 * products are exact in float32; the float32 sum of K of them is off by at most γ_K·Σ|âb̂| ≤
 * 1.01·K·2⁻²⁴·(1 + u)²·S), plus 2⁻²⁴·(1 + u)²·S for the float32 rounding of a float32 bias added to the sum.
 */
export function bf16OperandsFloat32SumBound(k: number): number {
  const u = 2 ** -8;
  return (1.01 * k + 1) * 2 ** -24 * (1 + u) ** 2;
}

/** A float32 value rounded to the nearest bf16 value (ties to even), as oneDNN and ATen round operands. */
export function toBf16(v: number): number {
  const f = new Float32Array([v]);
  const bits = new Uint32Array(f.buffer);
  bits[0] = ((bits[0] + 0x7fff + ((bits[0] >>> 16) & 1)) & 0xffff0000) >>> 0;
  return f[0];
}

/** An operand as the bf16 kernel sees it: float32 (as the tensor holds it), then rounded to bf16. */
export function bf16Array(a: NdArray): NdArray {
  return { shape: a.shape, data: a.data.map((v) => toBf16(Math.fround(v))) };
}

/** True when a float32 value is exactly a bf16 value (its low 16 bits are zero). */
export function isBf16Value(v: number): boolean {
  const f = new Float32Array([v]);
  return (new Uint32Array(f.buffer)[0] & 0xffff) === 0;
}

function absArray(a: NdArray): NdArray {
  return { shape: a.shape, data: a.data.map(Math.abs) };
}

/**
 * The check of an autocast op's output: in fp32 the usual rtol 1e-5; in bf16 elementwise
 * |got − ref| ≤ bf16Bound(k)·S (S from the op on |operands|), and the proof that bf16 ran: every output a
 * bf16 value, or, with `results: 'float32'`, every output within bf16OperandsFloat32SumBound(k)·S of the
 * float64 result on the bf16-rounded operands (`rounded`).
 */
async function expectAutocastClose(precision: 'fp32' | 'bf16', actual: tf.Tensor, expected: NdArray, magnitude: () => NdArray, k: number,
  what: string, float32Instead = false, results: 'bf16' | 'float32' = 'bf16', rounded?: () => NdArray): Promise<void> {
  if (precision === 'fp32') return expectCloseAsync(actual, expected, what);
  const got = await actual.data();
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const s = magnitude().data;
  const c = bf16Bound(k);
  let notBf16 = 0;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - expected.data[i]);
    assert.ok(err <= c * s[i], `${what} (bf16): |error| ${err.toExponential(3)} at element ${i} (got ${got[i]}, expected ${expected.data[i]}) ` +
      `exceeds ${c.toExponential(3)}·Σ|a||b| = ${(c * s[i]).toExponential(3)}`);
    if (!isBf16Value(got[i])) notBf16++;
  }
  if (float32Instead) {
    // The backend says it keeps this op in float32: then it must meet the float32 tolerance.
    assertCloseValues(got, actual.shape, expected, `${what} (kept in float32)`);
    return;
  }
  if (results === 'bf16') {
    assert.equal(notBf16, 0, `${what} (bf16): ${notBf16} of ${got.length} outputs are not bf16 values: the kernel did not run in bf16`);
    return;
  }
  assert.ok(rounded, `${what}: a float32-result check needs the reference on rounded operands`);
  const r = rounded().data;
  const cf = bf16OperandsFloat32SumBound(k);
  let discriminating = 0;
  let nonzero = 0;  // outputs with terms (a strided input gradient has structural zeros)
  for (let i = 0; i < got.length; i++) {
    if (s[i] > 0) nonzero++;
    const err = Math.abs(got[i] - r[i]);
    assert.ok(err <= cf * s[i], `${what} (bf16 operands, float32 result): |got − Σ â·b̂| ${err.toExponential(3)} at element ${i} ` +
      `(got ${got[i]}, Σ â·b̂ ${r[i]}, exact ${expected.data[i]}) exceeds ${cf.toExponential(3)}·Σ|a||b| = ${(cf * s[i]).toExponential(3)}: ` +
      'the kernel did not multiply bf16-rounded operands in float32');
    if (Math.abs(expected.data[i] - r[i]) > 2 * cf * s[i]) discriminating++;
  }
  // The check means something only where a float32 kernel (exact operands) would fail it.
  assert.ok(discriminating > nonzero / 2, `${what}: only ${discriminating} of ${nonzero} outputs with terms tell bf16 operands from float32 ones`);
}

function toTensor(a: NdArray): tf.Tensor {
  return tf.tensor(Float32Array.from(a.data), a.shape, 'float32');
}

/** The closeness check of `expectClose` on values already read back. */
export function assertCloseValues(got: ArrayLike<number>, shape: readonly number[], expected: NdArray, what: string, rtol = 1e-5, atol = 1e-6): void {
  assert.deepEqual(shape, expected.shape, `${what}: shape`);
  let scale = 0;
  for (const v of expected.data) scale = Math.max(scale, Math.abs(v));
  const tol = atol + rtol * scale;
  let worst = 0;
  let at = -1;
  for (let i = 0; i < got.length; i++) {
    const e = Math.abs(got[i] - expected.data[i]);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  assert.ok(worst <= tol, `${what}: max |error| ${worst.toExponential(3)} at element ${at} ` +
    `(got ${got[at]}, expected ${expected.data[at]}) exceeds ${tol.toExponential(3)} (rtol ${rtol}, max|ref| ${scale.toFixed(4)})`);
}

/** Checks a tensor against a reference, reading it synchronously (backends that can). */
export function expectClose(actual: tf.Tensor, expected: NdArray, what: string, rtol = 1e-5, atol = 1e-6): void {
  assertCloseValues(actual.dataSync(), actual.shape, expected, what, rtol, atol);
}

/**
 * `expectClose` with an asynchronous read: works on every backend, WebGPU under Node included (which
 * cannot read GPU data synchronously). The suite below uses it.
 */
export async function expectCloseAsync(actual: tf.Tensor, expected: NdArray, what: string, rtol = 1e-5, atol = 1e-6): Promise<void> {
  assertCloseValues(await actual.data(), actual.shape, expected, what, rtol, atol);
}

/** Runs `f` and checks that it leaves no tensor behind. */
async function noLeak(f: () => Promise<void>): Promise<void> {
  const before = tf.memory().numTensors;
  await f();
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
}

interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  strides: [number, number];
  dilations?: [number, number];
  pad: 'same' | 'valid' | [number, number, number, number];
}

const CONV_CASES: ConvCase[] = [
  { name: '3x3 stride 1 same', x: [2, 7, 6, 3], w: [3, 3, 3, 4], strides: [1, 1], pad: 'same' },
  { name: '3x3 stride 1 valid', x: [2, 7, 6, 3], w: [3, 3, 3, 4], strides: [1, 1], pad: 'valid' },
  { name: '3x3 stride 1 explicit (1,2,0,1)', x: [2, 7, 6, 3], w: [3, 3, 3, 4], strides: [1, 1], pad: [1, 2, 0, 1] },
  { name: '3x3 stride 2 same, odd size', x: [2, 7, 7, 3], w: [3, 3, 3, 4], strides: [2, 2], pad: 'same' },
  { name: '3x3 stride 2 same, even size (UNet downsample)', x: [3, 8, 8, 5], w: [3, 3, 5, 6], strides: [2, 2], pad: 'same' },
  { name: '3x3 stride 2 explicit 1 (PyTorch padding=1)', x: [2, 8, 8, 3], w: [3, 3, 3, 2], strides: [2, 2], pad: [1, 1, 1, 1] },
  { name: '3x3 stride 2 valid, unused last row', x: [2, 8, 7, 3], w: [3, 3, 3, 4], strides: [2, 2], pad: 'valid' },
  { name: '2x3 stride (2,1) valid, non-square', x: [2, 7, 6, 2], w: [2, 3, 2, 3], strides: [2, 1], pad: 'valid' },
  { name: '1x1 stride 1', x: [2, 5, 4, 6], w: [1, 1, 6, 3], strides: [1, 1], pad: 'valid' },
  { name: '1x1 stride 2', x: [2, 5, 4, 6], w: [1, 1, 6, 3], strides: [2, 2], pad: 'same' },
  { name: 'batch 1, one channel in', x: [1, 5, 5, 1], w: [3, 3, 1, 4], strides: [1, 1], pad: 'same' },
  { name: '3x3 dilation 2 same (forward only)', x: [2, 9, 8, 3], w: [3, 3, 3, 2], strides: [1, 1], dilations: [2, 2], pad: 'same' },
  { name: '3x3 dilation (2,1) valid (forward only)', x: [1, 9, 8, 2], w: [3, 3, 2, 2], strides: [1, 1], dilations: [2, 1], pad: 'valid' },
];

function tfPad(pad: ConvCase['pad']): 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]] {
  return typeof pad === 'string' ? pad : [[0, 0], [pad[0], pad[1]], [pad[2], pad[3]], [0, 0]];
}

function convSuite(precision: 'fp32' | 'bf16', bf16FilterGradients: boolean, results: 'bf16' | 'float32'): void {
  CONV_CASES.forEach((c, idx) => {
    const dil = c.dilations ?? [1, 1];
    const r = ref.resolvePadding(c.x[1], c.x[2], c.w[0], c.w[1], c.strides, dil, c.pad);
    const p: ConvParams = { strides: c.strides, dilations: dil, pad: r.pad };
    const x = ref.randomArray(c.x, 100 + idx);
    const w = ref.randomArray(c.w, 200 + idx);
    const dy = ref.randomArray([c.x[0], r.outH, r.outW, c.w[3]], 300 + idx);

    it(`Conv2D: ${c.name}`, () => noLeak(async () => {
      const y = tf.tidy(() => tf.conv2d(toTensor(x) as tf.Tensor4D, toTensor(w) as tf.Tensor4D, c.strides, tfPad(c.pad), 'NHWC', dil));
      await expectAutocastClose(precision, y, ref.conv2d(x, w, p, r.outH, r.outW), () => ref.conv2d(absArray(x), absArray(w), p, r.outH, r.outW),
        c.w[0] * c.w[1] * c.w[2], 'conv2d', false, results, () => ref.conv2d(bf16Array(x), bf16Array(w), p, r.outH, r.outW));
      y.dispose();
    }));
    if (dil[0] !== 1 || dil[1] !== 1) return;

    it(`Conv2DBackpropInput: ${c.name}`, () => noLeak(async () => {
      const dx = tf.tidy(() => tf.engine().runKernel('Conv2DBackpropInput', { dy: toTensor(dy), filter: toTensor(w) },
        { strides: c.strides, pad: tfPad(c.pad), dataFormat: 'NHWC', inputShape: c.x } as unknown as tf.NamedAttrMap) as tf.Tensor);
      await expectAutocastClose(precision, dx, ref.conv2dBackpropInput(dy, w, c.x, p), () => ref.conv2dBackpropInput(absArray(dy), absArray(w), c.x, p),
        c.w[0] * c.w[1] * c.w[3], 'dx', false, results, () => ref.conv2dBackpropInput(bf16Array(dy), bf16Array(w), c.x, p));
      dx.dispose();
    }));

    it(`Conv2DBackpropFilter: ${c.name}`, () => noLeak(async () => {
      const dw = tf.tidy(() => tf.engine().runKernel('Conv2DBackpropFilter', { x: toTensor(x), dy: toTensor(dy) },
        { strides: c.strides, pad: tfPad(c.pad), dataFormat: 'NHWC', filterShape: c.w } as unknown as tf.NamedAttrMap) as tf.Tensor);
      await expectAutocastClose(precision, dw, ref.conv2dBackpropFilter(x, dy, c.w, p), () => ref.conv2dBackpropFilter(absArray(x), absArray(dy), c.w, p),
        c.x[0] * r.outH * r.outW, 'dw', !bf16FilterGradients, results, () => ref.conv2dBackpropFilter(bf16Array(x), bf16Array(dy), c.w, p));
      dw.dispose();
    }));
  });

  it('gradients of fused conv2d + bias (bias gradient = Σ over N, H, W)', () => noLeak(async () => {
    const x = ref.randomArray([2, 6, 6, 3], 11);
    const w = ref.randomArray([3, 3, 3, 4], 12);
    const g = ref.randomArray([2, 3, 3, 4], 13);
    const b = ref.randomArray([4], 14);
    const p: ConvParams = { strides: [2, 2], dilations: [1, 1], pad: [1, 1, 1, 1] };
    const [dx, dw, db] = tf.tidy(() => tf.grads((xt: tf.Tensor, wt: tf.Tensor, bt: tf.Tensor) => tf.sum(tf.mul(
      tf.fused.conv2d({ x: xt as tf.Tensor4D, filter: wt as tf.Tensor4D, strides: 2, pad: 1, bias: bt }), toTensor(g))))(
      [toTensor(x), toTensor(w), toTensor(b)]));
    await expectAutocastClose(precision, dx, ref.conv2dBackpropInput(g, w, x.shape, p), () => ref.conv2dBackpropInput(absArray(g), absArray(w), x.shape, p),
      3 * 3 * 4, 'dx', false, results, () => ref.conv2dBackpropInput(bf16Array(g), bf16Array(w), x.shape, p));
    await expectAutocastClose(precision, dw, ref.conv2dBackpropFilter(x, g, w.shape, p), () => ref.conv2dBackpropFilter(absArray(x), absArray(g), w.shape, p),
      2 * 3 * 3, 'dw', !bf16FilterGradients, results, () => ref.conv2dBackpropFilter(bf16Array(x), bf16Array(g), w.shape, p));
    // The bias gradient is a float32 reduction under autocast too.
    await expectCloseAsync(db, ref.reduce(g, [0, 1, 2], false, false), 'dbias');
    tf.dispose([dx, dw, db]);
  }));
}

function fusedConvForwardSuite(precision: 'fp32' | 'bf16', results: 'bf16' | 'float32'): void {
  it('conv2dWithBias (FusedConv2D, the models\' convolution) forward: Σ x·w + b', () => noLeak(async () => {
    const x = ref.randomArray([2, 8, 8, 5], 21);
    const w = ref.randomArray([3, 3, 5, 6], 22);
    const b = ref.randomArray([6], 23);
    const p: ConvParams = { strides: [1, 1], dilations: [1, 1], pad: [1, 1, 1, 1] };
    const plusBias = (y: NdArray, bias: NdArray): NdArray => ({ shape: y.shape, data: y.data.map((v, i) => v + bias.data[i % 6]) });
    const y = tf.tidy(() => conv2dWithBias(toTensor(x) as tf.Tensor4D, toTensor(w) as tf.Tensor4D, toTensor(b) as tf.Tensor1D, 1, 1));
    // The bias is one more product (b·1) of the sum: K = 3·3·5 + 1.
    await expectAutocastClose(precision, y, plusBias(ref.conv2d(x, w, p, 8, 8), b),
      () => plusBias(ref.conv2d(absArray(x), absArray(w), p, 8, 8), absArray(b)), 3 * 3 * 5 + 1, 'conv2dWithBias', false, results,
      // A float32 result keeps the float32 bias as it is (oneDNN adds it to the float32 sum).
      () => plusBias(ref.conv2d(bf16Array(x), bf16Array(w), p, 8, 8), { shape: b.shape, data: b.data.map(Math.fround) }));
    y.dispose();
  }));
}

interface MatMulCase { a: number[]; b: number[]; ta: boolean; tb: boolean; note: string }

const MATMUL_CASES: MatMulCase[] = [
  { a: [40, 30], b: [30, 20], ta: false, tb: false, note: '2-D' },
  { a: [30, 40], b: [30, 20], ta: true, tb: false, note: '2-D, transposeA (weight gradient)' },
  { a: [40, 30], b: [20, 30], ta: false, tb: true, note: '2-D, transposeB (input gradient)' },
  { a: [30, 40], b: [20, 30], ta: true, tb: true, note: '2-D, both transposed' },
  { a: [3, 40, 30], b: [30, 20], ta: false, tb: false, note: 'batch on A only (folded into rows)' },
  { a: [3, 30, 40], b: [20, 30], ta: true, tb: true, note: 'batch on A only, both transposed' },
  { a: [40, 30], b: [3, 30, 20], ta: false, tb: false, note: 'batch on B only' },
  { a: [40, 30], b: [2, 3, 20, 30], ta: false, tb: true, note: 'rank-4 batch on B only, transposeB' },
  { a: [3, 20, 16], b: [3, 16, 12], ta: false, tb: false, note: 'batch on both (attention)' },
  { a: [3, 20, 16], b: [3, 12, 16], ta: false, tb: true, note: 'batch on both, transposeB (q·kᵀ)' },
  { a: [2, 3, 8, 6], b: [1, 1, 6, 5], ta: false, tb: false, note: 'batch broadcast from size-1 dims' },
  { a: [2, 3], b: [3, 4], ta: false, tb: false, note: 'tiny' },
  // Above 2²⁰ multiply-adds: the libtorch backend's bf16 kernels proper (smaller products it computes as
  // float32 arithmetic on bf16-rounded operands).
  { a: [256, 64], b: [64, 136], ta: false, tb: false, note: '2-D, 2.2M multiply-adds' },
  { a: [4, 128, 64], b: [4, 72, 64], ta: false, tb: true, note: 'batch on both, transposeB, 2.4M multiply-adds' },
];

function matMulSuite(precision: 'fp32' | 'bf16'): void {
  MATMUL_CASES.forEach((c, i) => {
    it(`BatchMatMul: ${c.note} ${JSON.stringify(c.a)}${c.ta ? 'ᵀ' : ''} × ${JSON.stringify(c.b)}${c.tb ? 'ᵀ' : ''}`, () => noLeak(async () => {
      const a = ref.randomArray(c.a, 400 + i);
      const b = ref.randomArray(c.b, 500 + i);
      const y = tf.tidy(() => tf.matMul(toTensor(a), toTensor(b), c.ta, c.tb));
      const k = c.ta ? c.a[c.a.length - 2] : c.a[c.a.length - 1];
      await expectAutocastClose(precision, y, ref.matMul(a, b, c.ta, c.tb), () => ref.matMul(absArray(a), absArray(b), c.ta, c.tb), k, 'matMul');
      y.dispose();
    }));
  });
}

function reduceSuite(): void {
  const cases: Array<{ shape: number[]; axes: number[]; mean: boolean; keepDims: boolean }> = [
    { shape: [3, 4, 5, 6], axes: [0, 1, 2], mean: false, keepDims: false },
    { shape: [3, 4, 5, 6], axes: [1, 2], mean: false, keepDims: true },
    { shape: [3, 4, 5, 6], axes: [1, 2], mean: true, keepDims: false },
    { shape: [3, 4, 5, 6], axes: [3], mean: false, keepDims: false },
    { shape: [3, 4, 5, 6], axes: [-1], mean: true, keepDims: true },
    { shape: [3, 4, 5, 6], axes: [0], mean: false, keepDims: false },
    { shape: [3, 4, 5, 6], axes: [0, 2], mean: false, keepDims: false },
    { shape: [3, 4, 5, 6], axes: [1, 3], mean: true, keepDims: false },
    { shape: [3, 4, 5, 6], axes: [0, 1, 2, 3], mean: false, keepDims: false },
    { shape: [2, 3, 2, 4, 2, 5], axes: [2, 4], mean: false, keepDims: false },
    { shape: [300, 7], axes: [0], mean: false, keepDims: false },
  ];
  cases.forEach((c, i) => {
    it(`${c.mean ? 'Mean' : 'Sum'} over ${JSON.stringify(c.axes)} of ${JSON.stringify(c.shape)}${c.keepDims ? ', keepDims' : ''}`, () => noLeak(async () => {
      const x = ref.randomArray(c.shape, 600 + i);
      const y = tf.tidy(() => (c.mean ? tf.mean : tf.sum)(toTensor(x), c.axes, c.keepDims));
      await expectCloseAsync(y, ref.reduce(x, c.axes, c.mean, c.keepDims), c.mean ? 'mean' : 'sum', 1e-5, 1e-5);
      y.dispose();
    }));
  });
  it('Sum of int32 stays exact', () => noLeak(async () => {
    const y = tf.tidy(() => tf.sum(tf.tensor([[1, 2, 3], [4, 5, 6]], [2, 3], 'int32'), 0));
    assert.equal(y.dtype, 'int32');
    assert.deepEqual(Array.from(await y.data()), [5, 7, 9]);
    y.dispose();
  }));
}

function sliceSuite(): void {
  const cases: Array<{ shape: number[]; begin: number[]; size: number[] }> = [
    { shape: [3, 4, 5, 6], begin: [1, 0, 2, 0], size: [2, 4, 2, 6] },
    { shape: [3, 4, 5, 6], begin: [0, 1, 1, 1], size: [3, 2, 3, 4] },
    { shape: [3, 4, 5, 6], begin: [2, 3, 4, 5], size: [1, 1, 1, 1] },
    { shape: [10], begin: [3], size: [5] },
    { shape: [6, 7], begin: [1, 2], size: [4, 5] },
    { shape: [2, 3, 4, 5, 6], begin: [1, 0, 1, 0, 2], size: [1, 3, 2, 5, 3] },
  ];
  cases.forEach((c, i) => {
    it(`Slice ${JSON.stringify(c.begin)} size ${JSON.stringify(c.size)} of ${JSON.stringify(c.shape)}`, () => noLeak(async () => {
      const x = ref.randomArray(c.shape, 700 + i);
      const y = tf.tidy(() => tf.slice(toTensor(x), c.begin, c.size));
      await expectCloseAsync(y, ref.slice(x, c.begin, c.size), 'slice', 0, 0);
      y.dispose();
    }));
  });
  it('SplitV into sizes [1, 2, 3] along the last axis and 2 parts along the first', () => noLeak(async () => {
    const x = ref.randomArray([4, 3, 6], 750);
    const parts = tf.tidy(() => tf.split(toTensor(x), [1, 2, 3], 2));
    for (const [k, [b, s]] of [[0, 1], [1, 2], [3, 3]].entries()) await expectCloseAsync(parts[k], ref.slice(x, [0, 0, b], [4, 3, s]), `part ${k}`, 0, 0);
    const halves = tf.tidy(() => tf.split(toTensor(x), 2, 0));
    for (const [k, h] of halves.entries()) await expectCloseAsync(h, ref.slice(x, [2 * k, 0, 0], [2, 3, 6]), `half ${k}`, 0, 0);
    tf.dispose([...parts, ...halves]);
  }));
}

function transposeSuite(): void {
  // A transpose copies: exact equality (tolerance 0) with the index-arithmetic reference.
  const cases: Array<{ shape: number[]; perm: number[]; note: string }> = [
    { shape: [5, 6, 4, 3, 7], perm: [3, 0, 2, 1, 4], note: 'UNet attention, legacy qkv order [B, L, h, 3, d] → [3, B, h, L, d]' },
    { shape: [5, 6, 3, 4, 7], perm: [2, 0, 3, 1, 4], note: 'UNet attention, new qkv order [B, L, 3, h, d] → [3, B, h, L, d]' },
    { shape: [4, 2, 3, 5, 2, 3], perm: [5, 3, 1, 0, 4, 2], note: 'rank 6, innermost axis moved (strided copy)' },
    { shape: [3, 1, 4, 5, 1, 6], perm: [4, 2, 0, 5, 3, 1], note: 'rank 6 with size-1 axes' },
    { shape: [2, 3, 4, 5, 6], perm: [0, 1, 4, 2, 3], note: 'rank 5 that merges to rank 3' },
    { shape: [2, 3, 4, 5, 6], perm: [0, 1, 2, 3, 4], note: 'rank 5 identity' },
    { shape: [6, 4, 16, 12], perm: [0, 2, 1, 3], note: 'rank 4 (heads merge)' },
    { shape: [7, 9], perm: [1, 0], note: 'matrix' },
    { shape: [2, 0, 3, 4, 5], perm: [4, 3, 2, 1, 0], note: 'rank 5 with no elements' },
  ];
  cases.forEach((c, i) => {
    it(`Transpose ${JSON.stringify(c.shape)} by ${JSON.stringify(c.perm)}: ${c.note}`, () => noLeak(async () => {
      const x = ref.randomArray(c.shape, 760 + i);
      const y = tf.tidy(() => tf.transpose(toTensor(x), c.perm));
      await expectCloseAsync(y, ref.transpose(x, c.perm), 'transpose', 0, 0);
      y.dispose();
    }));
  });
  it('Transpose of int32 at rank 5 keeps the values exactly, and its gradient is the inverse transpose', () => noLeak(async () => {
    const shape = [3, 4, 2, 3, 5];
    const perm = [3, 0, 2, 1, 4];
    const values = Array.from({ length: ref.size(shape) }, (_, k) => (k * 7919) % 100003 - 50000);
    const y = tf.tidy(() => tf.transpose(tf.tensor(values, shape, 'int32'), perm));
    assert.equal(y.dtype, 'int32');
    assert.deepEqual(Array.from(await y.data()), Array.from(ref.transpose({ shape, data: Float64Array.from(values) }, perm).data));
    const x = ref.randomArray(shape, 790);
    const g = ref.randomArray(perm.map((a) => shape[a]), 791);
    const dx = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.transpose(t, perm), toTensor(g))))(toTensor(x)));
    const inverse = perm.map((_, k) => perm.indexOf(k));
    await expectCloseAsync(dx, ref.transpose(g, inverse), 'dx', 0, 0);
    tf.dispose([y, dx]);
  }));
}

function segmentSuite(): void {
  it('UnsortedSegmentSum with repeated, unused and out-of-range ids', () => noLeak(async () => {
    const x = ref.randomArray([6, 3, 2], 800);
    const ids = [0, 2, 2, 5, -1, 1];
    const y = tf.tidy(() => tf.unsortedSegmentSum(toTensor(x), tf.tensor1d(ids, 'int32'), 4));
    await expectCloseAsync(y, ref.unsortedSegmentSum(x, ids, 4), 'segment sum');
    y.dispose();
  }));
  it('gradient of gather (label embedding) accumulates repeated labels', () => noLeak(async () => {
    const table = ref.randomArray([5, 4], 810);
    const g = ref.randomArray([6, 4], 811);
    const idx = [3, 0, 3, 4, 3, 1];
    const d = tf.tidy(() => tf.grad((e: tf.Tensor) => tf.sum(tf.mul(tf.gather(e, tf.tensor1d(idx, 'int32')), toTensor(g))))(toTensor(table)));
    await expectCloseAsync(d, ref.unsortedSegmentSum(g, idx, 5), 'dE');
    d.dispose();
  }));
}

function groupNormSuite(): void {
  for (const silu of [false, true]) {
    it(`groupNorm${silu ? ' + SiLU' : ''}: forward and gradients (central differences of the float64 forward)`, () => noLeak(async () => {
      const shape = [2, 3, 4, 6];
      const groups = 3;
      const eps = 1e-5;
      const x = ref.randomArray(shape, 900, -1.5, 2.5);
      const gamma = ref.randomArray([6], 901, 0.5, 1.5);
      const beta = ref.randomArray([6], 902);
      const g = ref.randomArray(shape, 903);
      const y = tf.tidy(() => groupNorm(toTensor(x) as tf.Tensor4D, toTensor(gamma) as tf.Tensor1D, toTensor(beta) as tf.Tensor1D,
        { groups, epsilon: eps, silu }));
      await expectCloseAsync(y, ref.groupNorm(x, gamma.data, beta.data, groups, eps, silu), 'y', 1e-5, 1e-6);
      y.dispose();
      const [dx, dg, db] = tf.tidy(() => tf.grads((xt: tf.Tensor, gt: tf.Tensor, bt: tf.Tensor) => tf.sum(tf.mul(
        groupNorm(xt as tf.Tensor4D, gt as tf.Tensor1D, bt as tf.Tensor1D, { groups, epsilon: eps, silu }), toTensor(g))))(
        [toTensor(x), toTensor(gamma), toTensor(beta)]));
      const loss = (xa: NdArray, ga: Float64Array, ba: Float64Array): number => {
        const out = ref.groupNorm(xa, ga, ba, groups, eps, silu);
        let s = 0;
        for (let i = 0; i < out.data.length; i++) s += out.data[i] * g.data[i];
        return s;
      };
      const h = 1e-5;
      const numeric = (vals: Float64Array, f: () => number): Float64Array => {
        const d = new Float64Array(vals.length);
        for (let i = 0; i < vals.length; i++) {
          const v = vals[i];
          vals[i] = v + h;
          const up = f();
          vals[i] = v - h;
          const down = f();
          vals[i] = v;
          d[i] = (up - down) / (2 * h);
        }
        return d;
      };
      const f = (): number => loss(x, gamma.data, beta.data);
      await expectCloseAsync(dx, { shape, data: numeric(x.data, f) }, 'dx', 1e-4, 1e-5);
      await expectCloseAsync(dg, { shape: [6], data: numeric(gamma.data, f) }, 'dgamma', 1e-4, 1e-5);
      await expectCloseAsync(db, { shape: [6], data: numeric(beta.data, f) }, 'dbeta', 1e-4, 1e-5);
      tf.dispose([dx, dg, db]);
    }));
  }
  // Shapes of the UNet (a sample spans several of the libtorch kernel's 16,384-value chunks; 40 channels is
  // not a multiple of the SIMD width), activations far from zero mean (|μ| = 40σ: no cancellation in the
  // variance) and pre-activations up to ±100 (the SiLU's saturated ends).
  for (const silu of [false, true]) {
    it(`groupNorm${silu ? ' + SiLU' : ''} on [2, 24, 20, 40], mean 40σ, |z| up to 100: forward and analytic gradients (float64)`,
      () => noLeak(async () => {
        const shape = [2, 24, 20, 40];
        const groups = 8;
        const eps = 1e-5;
        const x = ref.randomArray(shape, 910, 19, 21);
        const gamma = ref.randomArray([40], 911, -100, 100);
        const beta = ref.randomArray([40], 912, -3, 3);
        const dy = ref.randomArray(shape, 913);
        const y = tf.tidy(() => groupNorm(toTensor(x) as tf.Tensor4D, toTensor(gamma) as tf.Tensor1D, toTensor(beta) as tf.Tensor1D,
          { groups, epsilon: eps, silu }));
        // float32 inputs near 20 carry 1e-6 relative rounding, which |γ| r up to 170 turns into ~3e-4 in z (measured
        // worst errors, libtorch / wasm: y 3.4e-4 / 6.9e-4, SiLU dx 1.1e-2 / 3.7e-2 of 181, dγ 2.7e-5 / 2.3e-4, dβ 2.8e-4 / 7.2e-4).
        await expectCloseAsync(y, ref.groupNorm(x, gamma.data, beta.data, groups, eps, silu), 'y', 5e-6, 0);
        y.dispose();
        const [dx, dg, db] = tf.tidy(() => tf.grads((xt: tf.Tensor, gt: tf.Tensor, bt: tf.Tensor) => tf.sum(tf.mul(
          groupNorm(xt as tf.Tensor4D, gt as tf.Tensor1D, bt as tf.Tensor1D, { groups, epsilon: eps, silu }), toTensor(dy))))(
          [toTensor(x), toTensor(gamma), toTensor(beta)]));
        const want = ref.groupNormGrad(x, gamma.data, beta.data, dy, groups, eps, silu);
        await expectCloseAsync(dx, want.dx, 'dx', 3e-4, 0);
        await expectCloseAsync(dg, want.dgamma, 'dgamma', 2e-5, 0);
        await expectCloseAsync(db, want.dbeta, 'dbeta', 5e-5, 0);
        tf.dispose([dx, dg, db]);
      }));
  }
}

function upsampleSuite(): void {
  it('ResizeNearestNeighbor ×2 and its gradient, batch 3', () => noLeak(async () => {
    const x = ref.randomArray([3, 2, 3, 4], 1000);
    const g = ref.randomArray([3, 4, 6, 4], 1001);
    const y = tf.tidy(() => tf.image.resizeNearestNeighbor(toTensor(x) as tf.Tensor4D, [4, 6]));
    await expectCloseAsync(y, ref.upsampleNearest(x, 2), 'upsampled', 0, 0);
    const d = tf.tidy(() => tf.grad((xt: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeNearestNeighbor(xt as tf.Tensor4D, [4, 6]), toTensor(g))))(toTensor(x)));
    await expectCloseAsync(d, ref.upsampleNearestGrad(g, 2), 'gradient');
    tf.dispose([y, d]);
  }));
  it('nearest ×2 as a rank-6 broadcast (the UNet layer) and its gradient, batch 3', () => noLeak(async () => {
    const x = ref.randomArray([3, 2, 3, 4], 1010);
    const g = ref.randomArray([3, 4, 6, 4], 1011);
    const up = (t: tf.Tensor): tf.Tensor => tf.reshape(tf.mul(tf.reshape(t, [3, 2, 1, 3, 1, 4]), tf.ones([1, 1, 2, 1, 2, 1])), [3, 4, 6, 4]);
    const y = tf.tidy(() => up(toTensor(x)));
    await expectCloseAsync(y, ref.upsampleNearest(x, 2), 'upsampled', 0, 0);
    const d = tf.tidy(() => tf.grad((xt: tf.Tensor) => tf.sum(tf.mul(up(xt), toTensor(g))))(toTensor(x)));
    await expectCloseAsync(d, ref.upsampleNearestGrad(g, 2), 'gradient');
    tf.dispose([y, d]);
  }));
}

function squareSuite(): void {
  for (const shape of [[3, 3, 8, 8], [70, 70, 60]]) {
    it(`Square of ${JSON.stringify(shape)} is x·x rounded to float32`, () => noLeak(async () => {
      const x = ref.randomArray(shape, 1100 + shape.length, -3, 3);
      const y = tf.tidy(() => tf.square(toTensor(x)));
      await expectCloseAsync(y, { shape, data: x.data.map((v) => Math.fround(v * v)) }, 'square', 0, 0);
      y.dispose();
    }));
  }
}

function identitySuite(): void {
  it('clone and same-dtype cast keep values; disposing the source keeps the copy', () => noLeak(async () => {
    const a = tf.tensor([1.5, -2, 3.25], [3]);
    const b = tf.clone(a);
    const c = tf.cast(a, 'float32');
    a.dispose();
    assert.deepEqual(Array.from(await b.data()), [1.5, -2, 3.25]);
    assert.deepEqual(Array.from(await c.data()), [1.5, -2, 3.25]);
    tf.dispose([b, c]);
  }));
  it('cast float32 → int32 truncates toward zero, int32 → float32 is exact', () => noLeak(async () => {
    const i = tf.tidy(() => tf.cast(tf.tensor([1.7, -1.7, 2.5]), 'int32'));
    assert.equal(i.dtype, 'int32');
    assert.deepEqual(Array.from(await i.data()), [1, -1, 2]);
    const f = tf.tidy(() => tf.cast(tf.tensor([16777216, -3], [2], 'int32'), 'float32'));
    assert.deepEqual(Array.from(await f.data()), [16777216, -3]);
    tf.dispose([i, f]);
  }));
}

/** Registers the suite (mocha `describe`) for the backend `backendName`. */
export function runKernelConformance(backendName: string, options: ConformanceOptions): void {
  const precision = options.precision ?? 'fp32';
  describe(`kernel conformance on ${backendName}${precision === 'fp32' ? '' : ` (${precision} autocast)`}`, function () {
    before(async function () {
      await options.init();
      assert.equal(tf.getBackend(), backendName, `init() did not make "${backendName}" current`);
    });
    after(async function () {
      await options.teardown();
    });
    describe('convolution', () => {
      convSuite(precision, options.bf16FilterGradients ?? true, options.bf16ConvResults ?? 'bf16');
      fusedConvForwardSuite(precision, options.bf16ConvResults ?? 'bf16');
    });
    describe('matrix products', () => matMulSuite(precision));
    describe('reductions', reduceSuite);
    describe('slicing', sliceSuite);
    describe('transpose', transposeSuite);
    describe('segment sums', segmentSuite);
    describe('GroupNorm', groupNormSuite);
    describe('nearest upsampling', upsampleSuite);
    describe('square', squareSuite);
    describe('identity and cast', identitySuite);
  });
}
