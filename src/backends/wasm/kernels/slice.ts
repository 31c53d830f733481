/**
 * Slice and SplitV without the package kernel's habit of first copying the whole input out of the heap
 * (`readSync`): rows are copied straight from heap view to heap view.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendWasm, type TensorInfo, view } from './util';

export function sliceImpl(backend: BackendWasm, x: TensorInfo, begin: readonly number[], size: readonly number[]): TensorInfo {
  const out = backend.makeOutput([...size], x.dtype);
  const n = tf.util.sizeFromShape([...size]);
  if (n === 0) return out;
  const src = view(backend, x);
  const dst = view(backend, out);
  const rank = x.shape.length;
  const strides = tf.util.computeStrides(x.shape);
  // Merge the trailing dimensions taken whole into one contiguous run.
  let k = rank - 1;
  let run = size[k] ?? 1;
  while (k > 0 && size[k] === x.shape[k] && begin[k] === 0) {
    k--;
    run *= size[k];
  }
  if (rank === 0 || k < 0) {
    dst.set(src.subarray(0, n));
    return out;
  }
  // Dimensions 0..k-1 are iterated; dimension k and everything after it form `run` contiguous elements.
  const offset0 = begin.reduce((acc, b, i) => acc + b * (i < rank - 1 ? strides[i] : 1), 0);
  const idx = new Array<number>(k).fill(0);
  let o = 0;
  for (;;) {
    let off = offset0;
    for (let i = 0; i < k; i++) off += idx[i] * strides[i];
    dst.set(src.subarray(off, off + run), o);
    o += run;
    let d = k - 1;
    while (d >= 0) {
      idx[d]++;
      if (idx[d] < size[d]) break;
      idx[d] = 0;
      d--;
    }
    if (d < 0) break;
  }
  return out;
}

export const sliceConfig: tf.KernelConfig = {
  kernelName: tf.Slice,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const { begin, size } = attrs as unknown as tf.SliceAttrs;
    const [b, s] = tf.slice_util.parseSliceParams(x as tf.TensorInfo as tf.Tensor, begin, size);
    return sliceImpl(backend as BackendWasm, x, b, s);
  },
};

export const splitVConfig: tf.KernelConfig = {
  kernelName: tf.SplitV,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const { numOrSizeSplits, axis } = attrs as unknown as tf.SplitVAttrs;
    const $axis = tf.util.parseAxisParam(axis, x.shape)[0];
    const splits = tf.backend_util.prepareSplitSize(x as tf.TensorInfo as tf.Tensor, numOrSizeSplits, $axis);
    const begin = new Array<number>(x.shape.length).fill(0);
    const size = [...x.shape];
    return splits.map((s) => {
      size[$axis] = s;
      const part = sliceImpl(backend as BackendWasm, x, begin, size);
      begin[$axis] += s;
      return part;
    });
  },
};
