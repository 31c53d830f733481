/**
 * Independent float64 JavaScript references for the kernel conformance suite: direct loops over the
 * definitions (NHWC, filters [KH, KW, Ci, Co]), written without reference to any backend's code.
 */

export type Shape = number[];

export interface NdArray {
  shape: Shape;
  data: Float64Array;
}

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/** Deterministic uniform values in [lo, hi) (mulberry32). */
export function randomArray(shape: Shape, seed: number, lo = -1, hi = 1): NdArray {
  let a = seed >>> 0;
  const data = new Float64Array(size(shape));
  for (let i = 0; i < data.length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    // Rounded to float32 so that the backend sees exactly the reference's inputs.
    data[i] = Math.fround(lo + (hi - lo) * u);
  }
  return { shape, data };
}

export interface ConvParams {
  strides: [number, number];
  dilations: [number, number];
  /** Explicit padding [top, bottom, left, right] (resolve 'same'/'valid' with `resolvePadding`). */
  pad: [number, number, number, number];
}

/** TensorFlow's padding rules for 'same' / 'valid' and the output size. */
export function resolvePadding(inH: number, inW: number, kh: number, kw: number, strides: [number, number],
  dilations: [number, number], pad: 'same' | 'valid' | [number, number, number, number]): { pad: [number, number, number, number]; outH: number; outW: number } {
  const ekh = (kh - 1) * dilations[0] + 1;
  const ekw = (kw - 1) * dilations[1] + 1;
  if (pad === 'valid') {
    return { pad: [0, 0, 0, 0], outH: Math.ceil((inH - ekh + 1) / strides[0]), outW: Math.ceil((inW - ekw + 1) / strides[1]) };
  }
  if (pad === 'same') {
    const outH = Math.ceil(inH / strides[0]);
    const outW = Math.ceil(inW / strides[1]);
    const ph = Math.max(0, (outH - 1) * strides[0] + ekh - inH);
    const pw = Math.max(0, (outW - 1) * strides[1] + ekw - inW);
    return { pad: [Math.floor(ph / 2), ph - Math.floor(ph / 2), Math.floor(pw / 2), pw - Math.floor(pw / 2)], outH, outW };
  }
  const [t, b, l, r] = pad;
  return {
    pad, outH: Math.floor((inH + t + b - ekh) / strides[0]) + 1, outW: Math.floor((inW + l + r - ekw) / strides[1]) + 1,
  };
}

/** y[n, oh, ow, co] = Σ x[n, oh·sh + kh·dh − pt, ow·sw + kw·dw − pl, ci] · w[kh, kw, ci, co]. */
export function conv2d(x: NdArray, w: NdArray, p: ConvParams, outH: number, outW: number): NdArray {
  const [n, h, wd, ci] = x.shape;
  const [kh, kw, , co] = w.shape;
  const y = new Float64Array(n * outH * outW * co);
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        for (let i = 0; i < kh; i++) {
          const ih = oh * p.strides[0] + i * p.dilations[0] - p.pad[0];
          if (ih < 0 || ih >= h) continue;
          for (let j = 0; j < kw; j++) {
            const iw = ow * p.strides[1] + j * p.dilations[1] - p.pad[2];
            if (iw < 0 || iw >= wd) continue;
            for (let c = 0; c < ci; c++) {
              const xv = x.data[((b * h + ih) * wd + iw) * ci + c];
              for (let o = 0; o < co; o++) {
                y[((b * outH + oh) * outW + ow) * co + o] += xv * w.data[((i * kw + j) * ci + c) * co + o];
              }
            }
          }
        }
      }
    }
  }
  return { shape: [n, outH, outW, co], data: y };
}

/** ∂/∂x of Σ conv2d(x, w)·dy, i.e. the transposed convolution of dy. */
export function conv2dBackpropInput(dy: NdArray, w: NdArray, xShape: Shape, p: ConvParams): NdArray {
  const [n, h, wd, ci] = xShape;
  const [kh, kw, , co] = w.shape;
  const [, outH, outW] = dy.shape;
  const dx = new Float64Array(size(xShape));
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        for (let i = 0; i < kh; i++) {
          const ih = oh * p.strides[0] + i * p.dilations[0] - p.pad[0];
          if (ih < 0 || ih >= h) continue;
          for (let j = 0; j < kw; j++) {
            const iw = ow * p.strides[1] + j * p.dilations[1] - p.pad[2];
            if (iw < 0 || iw >= wd) continue;
            for (let c = 0; c < ci; c++) {
              let s = 0;
              for (let o = 0; o < co; o++) s += dy.data[((b * outH + oh) * outW + ow) * co + o] * w.data[((i * kw + j) * ci + c) * co + o];
              dx[((b * h + ih) * wd + iw) * ci + c] += s;
            }
          }
        }
      }
    }
  }
  return { shape: xShape, data: dx };
}

/** ∂/∂w of Σ conv2d(x, w)·dy. */
export function conv2dBackpropFilter(x: NdArray, dy: NdArray, wShape: Shape, p: ConvParams): NdArray {
  const [n, h, wd, ci] = x.shape;
  const [kh, kw, , co] = wShape;
  const [, outH, outW] = dy.shape;
  const dw = new Float64Array(size(wShape));
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        for (let i = 0; i < kh; i++) {
          const ih = oh * p.strides[0] + i * p.dilations[0] - p.pad[0];
          if (ih < 0 || ih >= h) continue;
          for (let j = 0; j < kw; j++) {
            const iw = ow * p.strides[1] + j * p.dilations[1] - p.pad[2];
            if (iw < 0 || iw >= wd) continue;
            for (let c = 0; c < ci; c++) {
              const xv = x.data[((b * h + ih) * wd + iw) * ci + c];
              for (let o = 0; o < co; o++) dw[((i * kw + j) * ci + c) * co + o] += xv * dy.data[((b * outH + oh) * outW + ow) * co + o];
            }
          }
        }
      }
    }
  }
  return { shape: wShape, data: dw };
}

/** Batched matrix product with optional transposes and batch broadcasting (numpy rules). */
export function matMul(a: NdArray, b: NdArray, transposeA: boolean, transposeB: boolean): NdArray {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  const ba = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  const rank = Math.max(ba.length, bb.length);
  const pa = [...new Array(rank - ba.length).fill(1), ...ba];
  const pb = [...new Array(rank - bb.length).fill(1), ...bb];
  const outBatch = pa.map((d, i) => Math.max(d, pb[i]));
  const nb = size(outBatch);
  const out = new Float64Array(nb * m * n);
  const sa = strides(pa);
  const sb = strides(pb);
  const so = strides(outBatch);
  for (let bi = 0; bi < nb; bi++) {
    let ia = 0;
    let ib = 0;
    let rem = bi;
    for (let d = 0; d < rank; d++) {
      const idx = Math.floor(rem / so[d]);
      rem -= idx * so[d];
      ia += (pa[d] === 1 ? 0 : idx) * sa[d];
      ib += (pb[d] === 1 ? 0 : idx) * sb[d];
    }
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) {
          const av = a.data[ia * m * k + (transposeA ? q * m + i : i * k + q)];
          const bv = b.data[ib * k * n + (transposeB ? j * k + q : q * n + j)];
          s += av * bv;
        }
        out[(bi * m + i) * n + j] = s;
      }
    }
  }
  return { shape: [...outBatch, m, n], data: out };
}

/** Sum (or mean) over `axes`, keeping them as size 1 when keepDims. */
export function reduce(x: NdArray, axes: number[], mean: boolean, keepDims: boolean): NdArray {
  const r = x.shape.length;
  const ax = axes.map((a) => (a < 0 ? a + r : a));
  const kept = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const out = new Float64Array(size(kept));
  const sx = strides(x.shape);
  const sk = strides(kept);
  let count = 1;
  for (const a of new Set(ax)) count *= x.shape[a];
  for (let i = 0; i < x.data.length; i++) {
    let rem = i;
    let o = 0;
    for (let d = 0; d < r; d++) {
      const idx = Math.floor(rem / sx[d]);
      rem -= idx * sx[d];
      if (!ax.includes(d)) o += idx * sk[d];
    }
    out[o] += x.data[i];
  }
  if (mean) for (let i = 0; i < out.length; i++) out[i] /= count;
  return { shape: keepDims ? kept : x.shape.filter((_, i) => !ax.includes(i)), data: out };
}

export function slice(x: NdArray, begin: number[], sz: number[]): NdArray {
  const out = new Float64Array(size(sz));
  const sx = strides(x.shape);
  const so = strides(sz);
  for (let i = 0; i < out.length; i++) {
    let rem = i;
    let off = 0;
    for (let d = 0; d < sz.length; d++) {
      const idx = Math.floor(rem / so[d]);
      rem -= idx * so[d];
      off += (begin[d] + idx) * sx[d];
    }
    out[i] = x.data[off];
  }
  return { shape: sz, data: out };
}

/** out[i0, …, i(r−1)] = x[j] with j[perm[d]] = i[d] (tf.transpose), by per-element index arithmetic. */
export function transpose(x: NdArray, perm: number[]): NdArray {
  const outShape = perm.map((a) => x.shape[a]);
  const out = new Float64Array(size(outShape));
  const sx = strides(x.shape);
  const so = strides(outShape);
  for (let i = 0; i < out.length; i++) {
    let rem = i;
    let off = 0;
    for (let d = 0; d < outShape.length; d++) {
      const idx = Math.floor(rem / so[d]);
      rem -= idx * so[d];
      off += idx * sx[perm[d]];
    }
    out[i] = x.data[off];
  }
  return { shape: outShape, data: out };
}

/** out[s, …] = Σ_{i: ids[i] = s} x[i, …]; ids outside [0, numSegments) are dropped. */
export function unsortedSegmentSum(x: NdArray, ids: number[], numSegments: number): NdArray {
  const inner = size(x.shape.slice(1));
  const out = new Float64Array(numSegments * inner);
  ids.forEach((s, i) => {
    if (s < 0 || s >= numSegments) return;
    for (let j = 0; j < inner; j++) out[s * inner + j] += x.data[i * inner + j];
  });
  return { shape: [numSegments, ...x.shape.slice(1)], data: out };
}

/** GroupNorm over NHWC x (biased variance), optionally followed by SiLU. */
export function groupNorm(x: NdArray, gamma: Float64Array, beta: Float64Array, groups: number, eps: number, silu: boolean): NdArray {
  const [n, h, w, c] = x.shape;
  const cg = c / groups;
  const out = new Float64Array(x.data.length);
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      let s = 0;
      let cnt = 0;
      for (let p = 0; p < h * w; p++) for (let k = g * cg; k < (g + 1) * cg; k++) { s += x.data[(b * h * w + p) * c + k]; cnt++; }
      const mu = s / cnt;
      let v = 0;
      for (let p = 0; p < h * w; p++) for (let k = g * cg; k < (g + 1) * cg; k++) v += (x.data[(b * h * w + p) * c + k] - mu) ** 2;
      const rstd = 1 / Math.sqrt(v / cnt + eps);
      for (let p = 0; p < h * w; p++) {
        for (let k = g * cg; k < (g + 1) * cg; k++) {
          const i = (b * h * w + p) * c + k;
          const z = (x.data[i] - mu) * rstd * gamma[k] + beta[k];
          out[i] = silu ? z / (1 + Math.exp(-z)) : z;
        }
      }
    }
  }
  return { shape: x.shape, data: out };
}

/**
 * Analytic gradients of Σ dy · groupNorm(x) (+ SiLU) in float64: with z = x̂ γ + β, x̂ = (x − μ) r and
 * g = dL/dz (dy, or dy σ(z)(1 + z(1 − σ(z))) through the SiLU), per group of M values
 * dx = r/M (M g γ − Σ gγ − x̂ Σ gγ x̂), dγ = Σ g x̂, dβ = Σ g.
 */
export function groupNormGrad(x: NdArray, gamma: Float64Array, beta: Float64Array, dy: NdArray, groups: number, eps: number,
  silu: boolean): { dx: NdArray; dgamma: NdArray; dbeta: NdArray } {
  const [n, h, w, c] = x.shape;
  const cg = c / groups;
  const hw = h * w;
  const m = hw * cg;
  const dx = new Float64Array(x.data.length);
  const dgamma = new Float64Array(c);
  const dbeta = new Float64Array(c);
  const index = (b: number, p: number, k: number): number => (b * hw + p) * c + k;
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      let s = 0;
      for (let p = 0; p < hw; p++) for (let k = g * cg; k < (g + 1) * cg; k++) s += x.data[index(b, p, k)];
      const mu = s / m;
      let v = 0;
      for (let p = 0; p < hw; p++) for (let k = g * cg; k < (g + 1) * cg; k++) v += (x.data[index(b, p, k)] - mu) ** 2;
      const r = 1 / Math.sqrt(v / m + eps);
      const gz = new Float64Array(hw * cg);
      let sumG = 0;
      let sumGX = 0;
      for (let p = 0; p < hw; p++) {
        for (let k = g * cg; k < (g + 1) * cg; k++) {
          const i = index(b, p, k);
          const xh = (x.data[i] - mu) * r;
          const z = xh * gamma[k] + beta[k];
          const sg = 1 / (1 + Math.exp(-z));
          const gi = silu ? dy.data[i] * sg * (1 + z * (1 - sg)) : dy.data[i];
          gz[p * cg + k - g * cg] = gi;
          dgamma[k] += gi * xh;
          dbeta[k] += gi;
          sumG += gi * gamma[k];
          sumGX += gi * gamma[k] * xh;
        }
      }
      for (let p = 0; p < hw; p++) {
        for (let k = g * cg; k < (g + 1) * cg; k++) {
          const i = index(b, p, k);
          const xh = (x.data[i] - mu) * r;
          dx[i] = (r / m) * (m * gz[p * cg + k - g * cg] * gamma[k] - sumG - xh * sumGX);
        }
      }
    }
  }
  return { dx: { shape: x.shape, data: dx }, dgamma: { shape: [c], data: dgamma }, dbeta: { shape: [c], data: dbeta } };
}

/** Nearest-neighbour upsampling by an integer factor (each pixel repeated f×f). */
export function upsampleNearest(x: NdArray, f: number): NdArray {
  const [n, h, w, c] = x.shape;
  const out = new Float64Array(n * h * f * w * f * c);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < h * f; i++) {
      for (let j = 0; j < w * f; j++) {
        for (let k = 0; k < c; k++) {
          out[((b * h * f + i) * w * f + j) * c + k] = x.data[((b * h + Math.floor(i / f)) * w + Math.floor(j / f)) * c + k];
        }
      }
    }
  }
  return { shape: [n, h * f, w * f, c], data: out };
}

/** Σ of each f×f block: the gradient of nearest-neighbour upsampling. */
export function upsampleNearestGrad(dy: NdArray, f: number): NdArray {
  const [n, hf, wf, c] = dy.shape;
  const h = hf / f;
  const w = wf / f;
  const out = new Float64Array(n * h * w * c);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < hf; i++) {
      for (let j = 0; j < wf; j++) {
        for (let k = 0; k < c; k++) {
          out[((b * h + Math.floor(i / f)) * w + Math.floor(j / f)) * c + k] += dy.data[((b * hf + i) * wf + j) * c + k];
        }
      }
    }
  }
  return { shape: [n, h, w, c], data: out };
}
