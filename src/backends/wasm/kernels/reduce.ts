/**
 * Sum (and Mean, which tfjs-core lowers to Sum for gradients) over a contiguous run of axes, in one
 * linear pass over the heap with float64 accumulators. The package kernel first transposes the reduced
 * axes to the end, which for a bias gradient (Σ over N, H, W of an NHWC tensor) is a full-size strided
 * copy that costs ten times the reduction itself. Non-contiguous axis sets go to the package kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendWasm, type TensorInfo, captureOriginal, f32, runOriginal } from './util';

/** [outer, reduce, inner] when `axes` are one contiguous run of dimensions, otherwise undefined. */
export function contiguousReduction(shape: readonly number[], axes: readonly number[]): [number, number, number] | undefined {
  const sorted = [...new Set(axes.map((a) => (a < 0 ? a + shape.length : a)))].sort((p, q) => p - q);
  if (sorted.length === 0) return undefined;
  for (let i = 1; i < sorted.length; i++) if (sorted[i] !== sorted[i - 1] + 1) return undefined;
  const first = sorted[0];
  const last = sorted[sorted.length - 1];
  const outer = tf.util.sizeFromShape(shape.slice(0, first));
  const reduce = tf.util.sizeFromShape(shape.slice(first, last + 1));
  const inner = tf.util.sizeFromShape(shape.slice(last + 1));
  return [outer, reduce, inner];
}

/** out[o, i] = scale · Σ_r x[o, r, i], accumulated in float64. */
export function reduceSumInto(x: Float32Array, out: Float32Array, outer: number, reduce: number, inner: number, scale: number): void {
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      let s = 0;
      const base = o * reduce;
      for (let r = 0; r < reduce; r++) s += x[base + r];
      out[o] = s * scale;
    }
    return;
  }
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    let p = o * reduce * inner;
    for (let r = 0; r < reduce; r++) {
      for (let i = 0; i < inner; i++) acc[i] += x[p + i];
      p += inner;
    }
    const ob = o * inner;
    for (let i = 0; i < inner; i++) out[ob + i] = acc[i] * scale;
  }
}

function reduceKernel(name: string, mean: boolean): tf.KernelConfig {
  const pkg = captureOriginal(name);
  return {
    kernelName: name,
    backendName: 'wasm',
    setupFunc: pkg?.setupFunc,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x } = inputs as { x: TensorInfo };
      const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
      const wasm = backend as BackendWasm;
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const split = x.dtype === 'float32' ? contiguousReduction(x.shape, axes) : undefined;
      if (!split || tf.util.sizeFromShape(x.shape) === 0) return runOriginal(name, wasm, { x }, attrs);
      const [outer, reduce, inner] = split;
      const outShape = keepDims
        ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
        : x.shape.filter((_, i) => !axes.includes(i));
      const out = wasm.makeOutput(outShape, 'float32');
      reduceSumInto(f32(wasm, x), f32(wasm, out), outer, reduce, inner, mean ? 1 / reduce : 1);
      return out;
    },
  };
}

export function sumConfig(): tf.KernelConfig {
  return reduceKernel(tf.Sum, false);
}

export function meanConfig(): tf.KernelConfig {
  return reduceKernel(tf.Mean, true);
}
