/**
 * Sum and Mean over one contiguous run of axes. The package kernels first transpose the reduced axes
 * to the end, which for a bias gradient (Σ over N, H, W of an NHWC tensor) or a per-channel spatial
 * mean is a full strided copy costing ten times the reduction. Here the tensor is viewed as
 * [outer, reduce, 1, inner] and averaged by XNNPACK's average pooling with a [reduce, 1] window — one
 * vectorised pass over the data, no copy — then scaled by `reduce` for Sum. A set of axes with gaps
 * (e.g. the gradient of a nearest-neighbour upsampling, Σ over axes 2 and 4 of [B, H, 2, W, 2, C]) is
 * reduced one contiguous run at a time, innermost first. Runs that end at the last axis (inner = 1,
 * where pooling would have one channel) use the package kernel, which needs no transpose for them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendWasm, type TensorInfo, captureOriginal, dispose, f32, reshape, run, runOriginal } from './util';

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

/**
 * Mean over the middle axis of x viewed as [outer, reduce, inner], as a [outer, inner] tensor (times
 * `scale`). Float32 accumulation, as the package's own reductions.
 */
export function meanMiddle(backend: BackendWasm, x: TensorInfo, outer: number, reduce: number, inner: number,
  scale = 1): TensorInfo {
  const x4 = reshape(backend, x, [outer, reduce, 1, inner]);
  const pooled = run('AvgPool', backend, { x: x4 }, {
    filterSize: [reduce, 1], strides: [1, 1], pad: 'valid', dimRoundingMode: null as unknown as string,
  });
  dispose(backend, x4);
  const out = reshape(backend, pooled, [outer, inner]);
  dispose(backend, pooled);
  if (scale !== 1) {
    const v = f32(backend, out);
    for (let i = 0; i < v.length; i++) v[i] *= scale;
  }
  return out;
}

/** Maximal runs of consecutive axes, innermost run first. */
function axisRuns(axes: readonly number[]): number[][] {
  const sorted = [...new Set(axes)].sort((p, q) => p - q);
  const runs: number[][] = [];
  for (const a of sorted) {
    const last = runs[runs.length - 1];
    if (last && last[last.length - 1] === a - 1) last.push(a);
    else runs.push([a]);
  }
  return runs.reverse();
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
      if (x.dtype !== 'float32' || axes.length === 0 || tf.util.sizeFromShape(x.shape) === 0) {
        return runOriginal(name, wasm, { x }, attrs);
      }
      // Reduce run by run, innermost first, keeping reduced axes as size 1 so later axis numbers hold.
      let cur = x;
      let shape = [...x.shape];
      for (const run of axisRuns(axes)) {
        const [outer, reduce, inner] = contiguousReduction(shape, run)!;
        let next: TensorInfo;
        if (reduce === 1) continue;
        if (inner === 1) {
          next = runOriginal(name, wasm, { x: cur }, { axis: run, keepDims: true });
        } else {
          const r = meanMiddle(wasm, cur, outer, reduce, inner, mean ? 1 : reduce);
          shape = shape.map((d, i) => (run.includes(i) ? 1 : d));
          next = reshape(wasm, r, shape);
          dispose(wasm, r);
        }
        shape = [...next.shape];
        if (cur !== x) dispose(wasm, cur);
        cur = next;
      }
      const outShape = keepDims
        ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
        : x.shape.filter((_, i) => !axes.includes(i));
      const out = reshape(wasm, cur, outShape);
      if (cur !== x) dispose(wasm, cur);
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
