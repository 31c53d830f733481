/**
 * UnsortedSegmentSum (the gradient of gather, e.g. of a label embedding), missing from the WASM package.
 * out[s, …] = Σ over i with segmentIds[i] = s of x[i, …]; ids outside [0, numSegments) are dropped,
 * as in TensorFlow. segmentIds may cover several leading dimensions of x.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../../../errors';
import { type BackendWasm, type TensorInfo, i32, view } from './util';

export const unsortedSegmentSumConfig: tf.KernelConfig = {
  kernelName: tf.UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
    const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
    const wasm = backend as BackendWasm;
    if (segmentIds.dtype !== 'int32') {
      throw new BackendError(`wasm UnsortedSegmentSum: segmentIds must be int32, found ${segmentIds.dtype}`);
    }
    if (x.dtype !== 'float32' && x.dtype !== 'int32') {
      throw new BackendError(`wasm UnsortedSegmentSum: x must be float32 or int32, found ${x.dtype}`);
    }
    const idRank = segmentIds.shape.length;
    for (let i = 0; i < idRank; i++) {
      if (segmentIds.shape[i] !== x.shape[i]) {
        throw new BackendError(`wasm UnsortedSegmentSum: segmentIds shape ${segmentIds.shape} is not a prefix ` +
          `of x shape ${x.shape}`);
      }
    }
    const inner = tf.util.sizeFromShape(x.shape.slice(idRank));
    const out = wasm.makeOutput([numSegments, ...x.shape.slice(idRank)], x.dtype);
    const ids = i32(wasm, segmentIds);
    const src = view(wasm, x);
    const dst = view(wasm, out);
    dst.fill(0);
    for (let i = 0; i < ids.length; i++) {
      const s = ids[i];
      if (s < 0 || s >= numSegments) continue;
      const so = s * inner;
      const xo = i * inner;
      for (let j = 0; j < inner; j++) dst[so + j] += src[xo + j];
    }
    return out;
  },
};
