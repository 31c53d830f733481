/**
 * Sum and Mean over one contiguous run of axes. The package kernels first transpose the reduced axes
 * to the end, which for a bias gradient (Σ over N, H, W of an NHWC tensor) or a per-channel spatial
 * mean is a full strided copy costing ten times the reduction. Here the tensor is viewed as
 * [outer, reduce, 1, inner] and averaged by XNNPACK's average pooling with a [reduce, 1] window — one
 * vectorised pass over the data, no copy — then scaled by `reduce` for Sum. Reductions over the
 * innermost axes (inner = 1, no transpose needed) and non-contiguous axis sets go to the package kernels.
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
      if (!split || split[2] === 1 || split[1] === 1 || tf.util.sizeFromShape(x.shape) === 0) {
        return runOriginal(name, wasm, { x }, attrs);
      }
      const [outer, reduce, inner] = split;
      const outShape = keepDims
        ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
        : x.shape.filter((_, i) => !axes.includes(i));
      const r = meanMiddle(wasm, x, outer, reduce, inner, mean ? 1 : reduce);
      const out = reshape(wasm, r, outShape);
      dispose(wasm, r);
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
