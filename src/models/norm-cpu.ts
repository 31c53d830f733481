/**
 * GroupNorm (+ SiLU) for the pure-JS `cpu` backend as one differentiable op over typed arrays.
 * Composed from tfjs ops it costs ~40 kernels per call with its gradient, and on the cpu backend a
 * kernel's fixed overhead, not its arithmetic, dominates small models. Same math as torch.nn.GroupNorm
 * (biased variance over H, W and the group's channels; float64 statistics), optionally followed by SiLU.
 */
import * as tf from '@tensorflow/tfjs-core';

type GradFn = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
type CustomOp = (...args: (tf.Tensor | tf.GradSaveFunc)[]) => { value: tf.Tensor; gradFunc: GradFn };

interface Stats {
  mean: Float64Array;
  rstd: Float64Array;
}

// Per (sample, group) mean and 1/sqrt(var + eps) of NHWC data.
function statistics(x: Float32Array, b: number, hw: number, c: number, groups: number, eps: number): Stats {
  const cg = c / groups;
  const n = hw * cg;
  const mean = new Float64Array(b * groups);
  const rstd = new Float64Array(b * groups);
  for (let bi = 0; bi < b; bi++) {
    for (let g = 0; g < groups; g++) {
      let s = 0;
      for (let p = 0; p < hw; p++) {
        const off = (bi * hw + p) * c + g * cg;
        for (let k = 0; k < cg; k++) s += x[off + k];
      }
      const m = s / n;
      let v = 0;
      for (let p = 0; p < hw; p++) {
        const off = (bi * hw + p) * c + g * cg;
        for (let k = 0; k < cg; k++) {
          const d = x[off + k] - m;
          v += d * d;
        }
      }
      mean[bi * groups + g] = m;
      rstd[bi * groups + g] = 1 / Math.sqrt(v / n + eps);
    }
  }
  return { mean, rstd };
}

/** x [B, H, W, C], gamma/beta [C] → GroupNorm(x) (then SiLU when `silu`). */
export function groupNormCpu(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, groups: number, eps: number, silu: boolean): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const hw = h * w;
  const cg = c / groups;
  const op = tf.customGrad(((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor, save: tf.GradSaveFunc) => {
    save([xi, gi, bi]);
    const xv = xi.dataSync() as Float32Array;
    const gv = gi.dataSync() as Float32Array;
    const bv = bi.dataSync() as Float32Array;
    const { mean, rstd } = statistics(xv, b, hw, c, groups, eps);
    const y = new Float32Array(xv.length);
    for (let i = 0; i < xv.length; i++) {
      const ch = i % c;
      const s = Math.floor(i / (hw * c)) * groups + Math.floor(ch / cg);
      const z = (xv[i] - mean[s]) * rstd[s] * gv[ch] + bv[ch];
      y[i] = silu ? z / (1 + Math.exp(-z)) : z;
    }
    return {
      value: tf.tensor(y, x.shape, 'float32'),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const sx = saved[0].dataSync() as Float32Array;
        const sg = saved[1].dataSync() as Float32Array;
        const sb = saved[2].dataSync() as Float32Array;
        const d = dy.dataSync() as Float32Array;
        const st = statistics(sx, b, hw, c, groups, eps);
        const n = hw * cg;
        // dz: gradient at the GroupNorm output (before SiLU); xhat: the normalised input.
        const dz = new Float64Array(sx.length);
        const xhat = new Float64Array(sx.length);
        const dgamma = new Float64Array(c);
        const dbeta = new Float64Array(c);
        const sumD = new Float64Array(b * groups);
        const sumDX = new Float64Array(b * groups);
        for (let i = 0; i < sx.length; i++) {
          const ch = i % c;
          const s = Math.floor(i / (hw * c)) * groups + Math.floor(ch / cg);
          const xh = (sx[i] - st.mean[s]) * st.rstd[s];
          let g = d[i];
          if (silu) {
            const z = xh * sg[ch] + sb[ch];
            const sig = 1 / (1 + Math.exp(-z));
            g *= sig * (1 + z * (1 - sig));
          }
          dz[i] = g;
          xhat[i] = xh;
          dgamma[ch] += g * xh;
          dbeta[ch] += g;
          const dxh = g * sg[ch];
          sumD[s] += dxh;
          sumDX[s] += dxh * xh;
        }
        const dx = new Float32Array(sx.length);
        for (let i = 0; i < sx.length; i++) {
          const ch = i % c;
          const s = Math.floor(i / (hw * c)) * groups + Math.floor(ch / cg);
          dx[i] = st.rstd[s] * (dz[i] * sg[ch] - sumD[s] / n - xhat[i] * sumDX[s] / n);
        }
        return [tf.tensor(dx, x.shape, 'float32'), tf.tensor(Float32Array.from(dgamma), [c], 'float32'),
          tf.tensor(Float32Array.from(dbeta), [c], 'float32')];
      },
    };
  }) as unknown as CustomOp);
  return op(x, gamma, beta) as unknown as tf.Tensor4D;
}

/** LayerNorm over the last axis of x (any rank), gamma/beta [C]; float64 statistics, biased variance. */
export function layerNormCpu<T extends tf.Tensor>(x: T, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): T {
  const c = x.shape[x.rank - 1] as number;
  const rows = x.size / c;
  const stats = (xv: Float32Array): Stats => {
    const mean = new Float64Array(rows);
    const rstd = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let k = 0; k < c; k++) s += xv[r * c + k];
      const m = s / c;
      let v = 0;
      for (let k = 0; k < c; k++) {
        const d = xv[r * c + k] - m;
        v += d * d;
      }
      mean[r] = m;
      rstd[r] = 1 / Math.sqrt(v / c + eps);
    }
    return { mean, rstd };
  };
  const op = tf.customGrad(((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor, save: tf.GradSaveFunc) => {
    save([xi, gi]);
    const xv = xi.dataSync() as Float32Array;
    const gv = gi.dataSync() as Float32Array;
    const bv = bi.dataSync() as Float32Array;
    const { mean, rstd } = stats(xv);
    const y = new Float32Array(xv.length);
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < c; k++) y[r * c + k] = (xv[r * c + k] - mean[r]) * rstd[r] * gv[k] + bv[k];
    }
    return {
      value: tf.tensor(y, x.shape, 'float32'),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const sx = saved[0].dataSync() as Float32Array;
        const sg = saved[1].dataSync() as Float32Array;
        const d = dy.dataSync() as Float32Array;
        const st = stats(sx);
        const dx = new Float32Array(sx.length);
        const dgamma = new Float64Array(c);
        const dbeta = new Float64Array(c);
        for (let r = 0; r < rows; r++) {
          let sumD = 0;
          let sumDX = 0;
          for (let k = 0; k < c; k++) {
            const i = r * c + k;
            const xh = (sx[i] - st.mean[r]) * st.rstd[r];
            dgamma[k] += d[i] * xh;
            dbeta[k] += d[i];
            const dxh = d[i] * sg[k];
            sumD += dxh;
            sumDX += dxh * xh;
          }
          for (let k = 0; k < c; k++) {
            const i = r * c + k;
            const xh = (sx[i] - st.mean[r]) * st.rstd[r];
            dx[i] = st.rstd[r] * (d[i] * sg[k] - sumD / c - xh * sumDX / c);
          }
        }
        return [tf.tensor(dx, x.shape, 'float32'), tf.tensor(Float32Array.from(dgamma), [c], 'float32'),
          tf.tensor(Float32Array.from(dbeta), [c], 'float32')];
      },
    };
  }) as unknown as CustomOp);
  return op(x, gamma, beta) as unknown as T;
}
