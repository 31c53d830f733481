/**
 * A 2-D convolution for the pure-JS `cpu` backend, as one differentiable op (tf.customGrad) over
 * typed arrays. tfjs-backend-cpu's own Conv2DBackpropFilter reads every element through
 * TensorBuffer.get and takes seconds for a small UNet step; this loop nest does the forward pass and
 * both gradients in the same index pattern, with float64 accumulators. Used by layers.conv2d only when
 * the active backend is `cpu` (tensors there live in JS memory, so reading them is free).
 */
import * as tf from '@tensorflow/tfjs-core';

interface Geometry {
  b: number; h: number; w: number; c: number;
  kh: number; kw: number; o: number;
  ho: number; wo: number; stride: number; pad: number;
}

function geometry(x: tf.Tensor4D, filter: tf.Tensor4D, stride: number, pad: number): Geometry {
  const [b, h, w, c] = x.shape;
  const [kh, kw, , o] = filter.shape;
  return {
    b, h, w, c, kh, kw, o, stride, pad,
    ho: Math.floor((h + 2 * pad - kh) / stride) + 1,
    wo: Math.floor((w + 2 * pad - kw) / stride) + 1,
  };
}

/** Calls `visit(xOff, wOff, yOff)` for every (output pixel, kernel tap) that reads an in-range input pixel. */
function forEachTap(g: Geometry, visit: (xOff: number, wOff: number, yOff: number) => void): void {
  for (let bi = 0; bi < g.b; bi++) {
    for (let oh = 0; oh < g.ho; oh++) {
      for (let ow = 0; ow < g.wo; ow++) {
        const yOff = ((bi * g.ho + oh) * g.wo + ow) * g.o;
        for (let i = 0; i < g.kh; i++) {
          const ih = oh * g.stride + i - g.pad;
          if (ih < 0 || ih >= g.h) continue;
          for (let j = 0; j < g.kw; j++) {
            const iw = ow * g.stride + j - g.pad;
            if (iw < 0 || iw >= g.w) continue;
            visit(((bi * g.h + ih) * g.w + iw) * g.c, (i * g.kw + j) * g.c * g.o, yOff);
          }
        }
      }
    }
  }
}

function forward(g: Geometry, x: Float32Array, f: Float32Array, bias: Float32Array | undefined): Float32Array {
  const npix = g.b * g.ho * g.wo;
  const acc = new Float64Array(npix * g.o);
  const { c, o } = g;
  forEachTap(g, (xOff, wOff, yOff) => {
    for (let ci = 0; ci < c; ci++) {
      const xv = x[xOff + ci];
      if (xv === 0) continue;
      const row = wOff + ci * o;
      for (let k = 0; k < o; k++) acc[yOff + k] += xv * f[row + k];
    }
  });
  const y = new Float32Array(npix * o);
  for (let p = 0; p < npix; p++) {
    for (let k = 0; k < o; k++) y[p * o + k] = acc[p * o + k] + (bias ? bias[k] : 0);
  }
  return y;
}

function backward(g: Geometry, x: Float32Array, f: Float32Array, dy: Float32Array): { dx: Float32Array; df: Float32Array; db: Float32Array } {
  const dx = new Float64Array(g.b * g.h * g.w * g.c);
  const df = new Float64Array(g.kh * g.kw * g.c * g.o);
  const { c, o } = g;
  forEachTap(g, (xOff, wOff, yOff) => {
    for (let ci = 0; ci < c; ci++) {
      const xv = x[xOff + ci];
      const row = wOff + ci * o;
      let s = 0;
      for (let k = 0; k < o; k++) {
        const d = dy[yOff + k];
        s += d * f[row + k];
        df[row + k] += xv * d;
      }
      dx[xOff + ci] += s;
    }
  });
  const db = new Float64Array(o);
  for (let p = 0; p < dy.length; p += o) for (let k = 0; k < o; k++) db[k] += dy[p + k];
  return { dx: Float32Array.from(dx), df: Float32Array.from(df), db: Float32Array.from(db) };
}

type GradFn = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
type CustomOp = (...args: (tf.Tensor | tf.GradSaveFunc)[]) => { value: tf.Tensor; gradFunc: GradFn };

/** x [B, H, W, C] * filter [kh, kw, C, O] (+ bias [O]) with symmetric zero padding `pad`, PyTorch-style. */
export function conv2dCpu(x: tf.Tensor4D, filter: tf.Tensor4D, stride: number, pad: number, bias?: tf.Tensor1D): tf.Tensor4D {
  const g = geometry(x, filter, stride, pad);
  const outShape = [g.b, g.ho, g.wo, g.o];
  if (bias) {
    const op = tf.customGrad(((xi: tf.Tensor, fi: tf.Tensor, bi: tf.Tensor, save: tf.GradSaveFunc) => {
      save([xi, fi]);
      const y = forward(g, xi.dataSync() as Float32Array, fi.dataSync() as Float32Array, bi.dataSync() as Float32Array);
      return {
        value: tf.tensor(y, outShape, 'float32'),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const r = backward(g, saved[0].dataSync() as Float32Array, saved[1].dataSync() as Float32Array, dy.dataSync() as Float32Array);
          return [tf.tensor(r.dx, saved[0].shape, 'float32'), tf.tensor(r.df, saved[1].shape, 'float32'), tf.tensor(r.db, [g.o], 'float32')];
        },
      };
    }) as unknown as CustomOp);
    return op(x, filter, bias) as unknown as tf.Tensor4D;
  }
  const op = tf.customGrad(((xi: tf.Tensor, fi: tf.Tensor, save: tf.GradSaveFunc) => {
    save([xi, fi]);
    const y = forward(g, xi.dataSync() as Float32Array, fi.dataSync() as Float32Array, undefined);
    return {
      value: tf.tensor(y, outShape, 'float32'),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const r = backward(g, saved[0].dataSync() as Float32Array, saved[1].dataSync() as Float32Array, dy.dataSync() as Float32Array);
        return [tf.tensor(r.dx, saved[0].shape, 'float32'), tf.tensor(r.df, saved[1].shape, 'float32')];
      },
    };
  }) as unknown as CustomOp);
  return op(x, filter) as unknown as tf.Tensor4D;
}
