/**
 * Convolution gradients for the WASM backend, both expressed as forward convolutions so that they run
 * on XNNPACK's multi-threaded convolution instead of a scalar loop.
 *
 * Notation (NHWC, filter [KH, KW, Ci, Co]): y[n, oh, ow, co] = Σ x[n, oh·sh + kh·dh − pt, ow·sw + kw·dw − pl, ci]
 * · w[kh, kw, ci, co].
 *
 * - Input gradient: dx is the stride-1 convolution (dilation d) of dy, zero-upsampled by the stride and
 *   padded by (K−1)·d − p before / H − U + p after (U = (OH−1)·s + 1), with the filter flipped in
 *   space and its channel axes swapped. With stride 1 the padding is handed to the convolution, so no
 *   copy of dy is made.
 * - Filter gradient: dw[kh, kw, ci, co] is a convolution whose batch is Ci, whose channels are the
 *   batch N, and whose filter is dy laid out as [OH, OW, N, Co]; the roles of stride and dilation swap.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../../../errors';
import {
  type BackendWasm, type TensorInfo, assertChannelsLast, assertFloat32, dispose, f32, run,
} from './util';

export interface ConvGeometry {
  batch: number;
  inH: number; inW: number; inC: number;
  outH: number; outW: number; outC: number;
  kh: number; kw: number;
  sh: number; sw: number;
  dh: number; dw: number;
  padTop: number; padLeft: number;
}

type PadAttr = 'valid' | 'same' | number | backend_util_ExplicitPadding;
type backend_util_ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];

/** The geometry of a forward NHWC convolution, as tfjs computes it (padding included). */
export function convGeometry(
  inShape: readonly number[], filterShape: readonly number[], strides: number | [number, number],
  dilations: number | [number, number], pad: PadAttr, dimRoundingMode?: 'floor' | 'round' | 'ceil',
): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number], filterShape as [number, number, number, number], strides,
    dilations, pad as 'valid', dimRoundingMode, false, 'channelsLast');
  return {
    batch: info.batchSize, inH: info.inHeight, inW: info.inWidth, inC: info.inChannels,
    outH: info.outHeight, outW: info.outWidth, outC: info.outChannels,
    kh: info.filterHeight, kw: info.filterWidth, sh: info.strideHeight, sw: info.strideWidth,
    dh: info.dilationHeight, dw: info.dilationWidth, padTop: info.padInfo.top, padLeft: info.padInfo.left,
  };
}

/** dx = ∂L/∂x of a forward convolution with geometry g, given dy [N, OH, OW, Co] and filter [KH, KW, Ci, Co]. */
export function conv2dBackpropInputImpl(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry): TensorInfo {
  const { kh, kw, inC, outC } = g;
  // Flipped filter with in/out channels swapped: wf[j, i, co, ci] = w[KH−1−j, KW−1−i, ci, co].
  const wf = backend.makeOutput([kh, kw, outC, inC], 'float32');
  const w = f32(backend, filter);
  const o = f32(backend, wf);
  for (let j = 0; j < kh; j++) {
    for (let i = 0; i < kw; i++) {
      const src = ((kh - 1 - j) * kw + (kw - 1 - i)) * inC * outC;
      const dst = (j * kw + i) * outC * inC;
      for (let ci = 0; ci < inC; ci++) {
        for (let co = 0; co < outC; co++) o[dst + co * inC + ci] = w[src + ci * outC + co];
      }
    }
  }
  const top = (kh - 1) * g.dh - g.padTop;
  const left = (kw - 1) * g.dw - g.padLeft;
  const uh = (g.outH - 1) * g.sh + 1;
  const uw = (g.outW - 1) * g.sw + 1;
  const bottom = g.inH - uh + g.padTop;
  const right = g.inW - uw + g.padLeft;
  let out: TensorInfo;
  if (g.sh === 1 && g.sw === 1 && top >= 0 && left >= 0 && bottom >= 0 && right >= 0) {
    out = run('Conv2D', backend, { x: dy, filter: wf }, {
      strides: [1, 1], dilations: [g.dh, g.dw], dataFormat: 'NHWC',
      pad: [[0, 0], [top, bottom], [left, right], [0, 0]] as unknown as tf.NamedAttrMap[string],
    });
  } else {
    const up = zeroUpsamplePad(backend, dy, g.sh, g.sw, top, left, g.inH + (kh - 1) * g.dh, g.inW + (kw - 1) * g.dw);
    out = run('Conv2D', backend, { x: up, filter: wf }, {
      strides: [1, 1], dilations: [g.dh, g.dw], pad: 'valid', dataFormat: 'NHWC',
    });
    dispose(backend, up);
  }
  dispose(backend, wf);
  return out;
}

/**
 * [N, LH, LW, C] zeros with dy[n, oh, ow, :] placed at (top + oh·sh, left + ow·sw); rows or columns that
 * fall outside (negative padding) are dropped.
 */
function zeroUpsamplePad(backend: BackendWasm, dy: TensorInfo, sh: number, sw: number, top: number, left: number,
  lh: number, lw: number): TensorInfo {
  const [n, oh, ow, c] = dy.shape;
  const out = backend.makeOutput([n, lh, lw, c], 'float32');
  const o = f32(backend, out);
  o.fill(0);
  const d = f32(backend, dy);
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < oh; r++) {
      const y = top + r * sh;
      if (y < 0 || y >= lh) continue;
      const rowOut = (b * lh + y) * lw;
      const rowIn = (b * oh + r) * ow;
      if (sw === 1 && left >= 0 && left + ow <= lw) {
        o.set(d.subarray(rowIn * c, (rowIn + ow) * c), (rowOut + left) * c);
        continue;
      }
      for (let q = 0; q < ow; q++) {
        const xx = left + q * sw;
        if (xx < 0 || xx >= lw) continue;
        o.set(d.subarray((rowIn + q) * c, (rowIn + q + 1) * c), (rowOut + xx) * c);
      }
    }
  }
  return out;
}

/** dw = ∂L/∂w of a forward convolution with geometry g, given x [N, H, W, Ci] and dy [N, OH, OW, Co]. */
export function conv2dBackpropFilterImpl(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo {
  const { kh, kw, inC, outC } = g;
  const xt = run('Transpose', backend, { x }, { perm: [3, 1, 2, 0] }); // [Ci, H, W, N]
  const dyt = run('Transpose', backend, { x: dy }, { perm: [1, 2, 0, 3] }); // [OH, OW, N, Co]
  const extH = (g.outH - 1) * g.sh + 1;
  const extW = (g.outW - 1) * g.sw + 1;
  // Bottom/right padding that makes the output KH x KW; when the forward pass left input rows unused
  // (valid padding with a stride), none is needed and the extra output rows are cropped below.
  const bottom = Math.max(0, (kh - 1) * g.dh + extH - g.inH - g.padTop);
  const right = Math.max(0, (kw - 1) * g.dw + extW - g.inW - g.padLeft);
  const conv = run('Conv2D', backend, { x: xt, filter: dyt }, {
    strides: [g.dh, g.dw], dilations: [g.sh, g.sw], dataFormat: 'NHWC',
    pad: [[0, 0], [g.padTop, bottom], [g.padLeft, right], [0, 0]] as unknown as tf.NamedAttrMap[string],
  }); // [Ci, ≥KH, ≥KW, Co]
  dispose(backend, xt, dyt);
  if (conv.shape[1] < kh || conv.shape[2] < kw) {
    dispose(backend, conv);
    throw new BackendError(`wasm Conv2DBackpropFilter: internal geometry error (got ${conv.shape}, need ${kh}x${kw})`);
  }
  let cropped = conv;
  if (conv.shape[1] !== kh || conv.shape[2] !== kw) {
    cropped = run('Slice', backend, { x: conv }, { begin: [0, 0, 0, 0], size: [inC, kh, kw, outC] });
    dispose(backend, conv);
  }
  const out = run('Transpose', backend, { x: cropped }, { perm: [1, 2, 0, 3] });
  dispose(backend, cropped);
  return out;
}

export const conv2dBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
    assertChannelsLast('Conv2DBackpropInput', dataFormat);
    assertFloat32('Conv2DBackpropInput', dy, filter);
    const g = convGeometry(inputShape, filter.shape, strides, 1, pad as PadAttr, dimRoundingMode);
    return conv2dBackpropInputImpl(backend as BackendWasm, dy, filter, g);
  },
};

export const conv2dBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    assertChannelsLast('Conv2DBackpropFilter', dataFormat);
    assertFloat32('Conv2DBackpropFilter', x, dy);
    const g = convGeometry(x.shape, filterShape, strides, 1, pad as PadAttr, dimRoundingMode);
    return conv2dBackpropFilterImpl(backend as BackendWasm, x, dy, g);
  },
};
