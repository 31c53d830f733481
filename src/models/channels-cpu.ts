/**
 * Concatenation and slicing along the last (channel) axis for the pure-JS `cpu` backend, as
 * differentiable ops over typed arrays. tfjs-backend-cpu slices a non-leading axis element by element
 * through TensorBuffer (the gradient of every skip-connection concat, every GEGLU split), which showed
 * as the largest kernel time of a small UNet step once convolutions were fixed.
 */
import * as tf from '@tensorflow/tfjs-core';

type GradFn = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
type CustomOp = (...args: (tf.Tensor | tf.GradSaveFunc)[]) => { value: tf.Tensor; gradFunc: GradFn };

function lastDim(t: tf.Tensor): number {
  return t.shape[t.rank - 1] as number;
}

// Copies columns [begin, begin + width) of rows of `src` (row length srcC) into `dst` (row length dstC) at `at`.
function copyColumns(src: Float32Array, srcC: number, begin: number, width: number, dst: Float32Array, dstC: number, at: number): void {
  const rows = src.length / srcC;
  for (let r = 0; r < rows; r++) dst.set(src.subarray(r * srcC + begin, r * srcC + begin + width), r * dstC + at);
}

/** concat([a, b], lastAxis); a and b agree on every other axis. */
export function concatLastAxisCpu<T extends tf.Tensor>(a: T, b: T): T {
  const ca = lastDim(a);
  const cb = lastDim(b);
  const c = ca + cb;
  const shape = [...a.shape.slice(0, -1), c];
  const op = tf.customGrad(((ai: tf.Tensor, bi: tf.Tensor) => {
    const out = new Float32Array((a.size / ca) * c);
    copyColumns(ai.dataSync() as Float32Array, ca, 0, ca, out, c, 0);
    copyColumns(bi.dataSync() as Float32Array, cb, 0, cb, out, c, ca);
    return {
      value: tf.tensor(out, shape, 'float32'),
      gradFunc: (dy: tf.Tensor) => {
        const d = dy.dataSync() as Float32Array;
        const da = new Float32Array(a.size);
        const db = new Float32Array(b.size);
        copyColumns(d, c, 0, ca, da, ca, 0);
        copyColumns(d, c, ca, cb, db, cb, 0);
        return [tf.tensor(da, a.shape, 'float32'), tf.tensor(db, b.shape, 'float32')];
      },
    };
  }) as unknown as CustomOp);
  return op(a, b) as unknown as T;
}

/** x[..., begin : begin + size]. */
export function sliceLastAxisCpu<T extends tf.Tensor>(x: T, begin: number, size: number): T {
  const c = lastDim(x);
  const shape = [...x.shape.slice(0, -1), size];
  const op = tf.customGrad(((xi: tf.Tensor) => {
    const out = new Float32Array((x.size / c) * size);
    copyColumns(xi.dataSync() as Float32Array, c, begin, size, out, size, 0);
    return {
      value: tf.tensor(out, shape, 'float32'),
      gradFunc: (dy: tf.Tensor) => {
        const dx = new Float32Array(x.size);
        copyColumns(dy.dataSync() as Float32Array, size, 0, size, dx, c, begin);
        return tf.tensor(dx, x.shape, 'float32');
      },
    };
  }) as unknown as CustomOp);
  return op(x) as unknown as T;
}
