/**
 * Transpose without the package kernel's slow general path. The package has specialised loops up to
 * rank 4 and a per-element index computation beyond: the UNet attention's [B, L, heads, 3, d] →
 * [3, B, heads, L, d] (rank 5) took 35–52 % of the kernel time of a sampling forward pass
 * (bench/eval-probe.ts, 2026-12-06; docs/results.md).
 *
 * The shape is first reduced: size-1 axes are dropped and output axes that are consecutive in the
 * input are merged (a transpose of [B, L, h, 3, d] by [3, 0, 2, 1, 4] stays rank 5, but [B, L, C] by
 * [0, 1, 2] becomes a copy). Reduced rank ≤ 4 goes to the package kernel, whose loops there are fast;
 * higher ranks are copied here in output order, the innermost output axis as one strided (usually
 * contiguous) run per position of the outer axes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendWasm, type TensorInfo, heap, runOriginal } from './util';

/** The tensor's 4-byte words on the heap (no copy). */
function words(backend: BackendWasm, t: TensorInfo): Int32Array {
  const { memoryOffset } = backend.dataIdMap.get(t.dataId)!;
  return new Int32Array(heap(backend), memoryOffset, tf.util.sizeFromShape(t.shape));
}

/** Input shape and permutation with size-1 axes dropped and runs of consecutive axes merged. */
export function reduceTranspose(shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } {
  // Keep the axes of size > 1, renumbered.
  const kept = shape.map((s, i) => (s !== 1 ? i : -1)).filter((i) => i >= 0);
  const index = new Map(kept.map((a, k) => [a, k]));
  const p = perm.filter((a) => shape[a] !== 1).map((a) => index.get(a)!);
  const s = kept.map((a) => shape[a]);
  // Output axes i, i+1 with p[i+1] = p[i] + 1 are one axis of size s[p[i]]·s[p[i]+1].
  const groups: number[][] = [];
  for (const a of p) {
    const last = groups[groups.length - 1];
    if (last && last[last.length - 1] + 1 === a) last.push(a);
    else groups.push([a]);
  }
  // Groups ordered by their first input axis give the reduced input shape; their output order is the perm.
  const byInput = [...groups].sort((g, h) => g[0] - h[0]);
  const rank = new Map(byInput.map((g, k) => [g[0], k]));
  return {
    shape: byInput.map((g) => g.reduce((acc, a) => acc * s[a], 1)),
    perm: groups.map((g) => rank.get(g[0])!),
  };
}

/**
 * dst = src transposed, for a reduced shape/perm of rank ≥ 2. Elements are copied as 32-bit words
 * (float32 and int32 alike, bit for bit): one element type keeps the loop monomorphic, which V8 runs
 * several times faster than a loop over mixed typed-array kinds.
 */
export function transposeInto(src: Int32Array, dst: Int32Array, shape: readonly number[], perm: readonly number[]): void {
  const r = shape.length;
  const strides = new Array<number>(r);
  strides[r - 1] = 1;
  for (let i = r - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  const outShape = perm.map((a) => shape[a]);
  const outStrides = perm.map((a) => strides[a]);
  const inner = outShape[r - 1];
  const innerStride = outStrides[r - 1];
  const outer = r - 1;
  const idx = new Array<number>(outer).fill(0);
  let base = 0;
  let o = 0;
  for (;;) {
    if (innerStride === 1) {
      for (let j = 0; j < inner; j++) dst[o + j] = src[base + j];
    } else {
      for (let j = 0, at = base; j < inner; j++, at += innerStride) dst[o + j] = src[at];
    }
    o += inner;
    // Odometer over the outer output axes, keeping the input offset in step.
    let d = outer - 1;
    while (d >= 0) {
      idx[d]++;
      base += outStrides[d];
      if (idx[d] < outShape[d]) break;
      base -= outStrides[d] * outShape[d];
      idx[d] = 0;
      d--;
    }
    if (d < 0) return;
  }
}

export const transposeConfig: tf.KernelConfig = {
  kernelName: tf.Transpose,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const { perm } = attrs as unknown as tf.TransposeAttrs;
    const reduced = reduceTranspose(x.shape, perm);
    if (reduced.shape.length <= 4 || (x.dtype !== 'float32' && x.dtype !== 'int32') || tf.util.sizeFromShape(x.shape) === 0) {
      return runOriginal(tf.Transpose, backend as BackendWasm, { x }, attrs);
    }
    const wasm = backend as BackendWasm;
    const out = wasm.makeOutput(perm.map((a) => x.shape[a]), x.dtype);
    transposeInto(words(wasm, x), words(wasm, out), reduced.shape, reduced.perm);
    return out;
  },
};
