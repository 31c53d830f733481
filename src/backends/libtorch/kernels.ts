/**
 * TF.js kernels for the libtorch backend. Each kernel maps TF.js semantics (attrs, padding rules, dtype
 * rules) onto the addon's primitives; the arithmetic runs in ATen. Host-side work is limited to small
 * index tables (resize, mirror pad) and shape bookkeeping.
 */
import { backend_util, engine, slice_util, upcastType, util } from '@tensorflow/tfjs-core';
import type { DataType, KernelConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { BackendError } from '../../errors';
import { LIBTORCH_BACKEND_NAME, type LibtorchBackend } from './backend';
import { DTYPE_CODE } from './native';
import { ADAMW_KERNEL, GROUP_NORM_GRAD_KERNEL, GROUP_NORM_KERNEL, SQUARED_NORM_KERNEL } from '../../kernels/contracts';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Attrs = Record<string, any>;
/** Kernel inputs by name; the optional ones are those fused ops may omit. */
type Inputs = Record<string, TensorInfo> & { bias?: TensorInfo; preluActivationWeights?: TensorInfo; offset?: TensorInfo; scale?: TensorInfo };
type Kernel = (inputs: Inputs, b: LibtorchBackend, attrs: Attrs) => TensorInfo | TensorInfo[];

function dtypeCode(dtype: DataType): number {
  if (dtype !== 'float32' && dtype !== 'int32' && dtype !== 'bool') throw new BackendError(`libtorch backend: unsupported dtype ${dtype}`);
  return DTYPE_CODE[dtype];
}

function pair(v: number | number[]): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

// ----- element-wise ------------------------------------------------------------------------------

/** Unary kernels: name -> [addon op, output dtype rule]. */
const UNARY: Record<string, [string, 'same' | 'float32' | 'bool']> = {
  Abs: ['abs', 'same'], Acos: ['acos', 'float32'], Acosh: ['acosh', 'float32'], Asin: ['asin', 'float32'],
  Asinh: ['asinh', 'float32'], Atan: ['atan', 'float32'], Atanh: ['atanh', 'float32'], Ceil: ['ceil', 'same'],
  Cos: ['cos', 'float32'], Cosh: ['cosh', 'float32'], Elu: ['elu', 'float32'], Erf: ['erf', 'float32'],
  Exp: ['exp', 'float32'], Expm1: ['expm1', 'float32'], Floor: ['floor', 'same'], IsFinite: ['isfinite', 'bool'],
  IsInf: ['isinf', 'bool'], IsNan: ['isnan', 'bool'], Log: ['log', 'float32'], Log1p: ['log1p', 'float32'],
  LogicalNot: ['logicalnot', 'bool'], Neg: ['neg', 'same'], Reciprocal: ['reciprocal', 'float32'],
  Relu: ['relu', 'same'], Relu6: ['relu6', 'same'], Round: ['round', 'same'], Rsqrt: ['rsqrt', 'float32'],
  Selu: ['selu', 'float32'], Sigmoid: ['sigmoid', 'float32'], Sign: ['sign', 'same'], Sin: ['sin', 'float32'],
  Sinh: ['sinh', 'float32'], Softplus: ['softplus', 'float32'], Sqrt: ['sqrt', 'float32'], Square: ['square', 'same'],
  Tan: ['tan', 'float32'], Tanh: ['tanh', 'float32'],
};

/** Binary kernels (NumPy broadcasting): name -> [addon op, output dtype rule]. */
const BINARY: Record<string, [string, 'upcast' | 'bool' | 'int32']> = {
  Add: ['add', 'upcast'], Sub: ['sub', 'upcast'], Multiply: ['mul', 'upcast'], RealDiv: ['div', 'upcast'],
  FloorDiv: ['floordiv', 'int32'], Mod: ['mod', 'upcast'], Pow: ['pow', 'upcast'], Maximum: ['maximum', 'upcast'],
  Minimum: ['minimum', 'upcast'], SquaredDifference: ['squareddifference', 'upcast'], Atan2: ['atan2', 'upcast'],
  Equal: ['equal', 'bool'], NotEqual: ['notequal', 'bool'], Less: ['less', 'bool'], LessEqual: ['lessequal', 'bool'],
  Greater: ['greater', 'bool'], GreaterEqual: ['greaterequal', 'bool'], LogicalAnd: ['logicaland', 'bool'],
  LogicalOr: ['logicalor', 'bool'], LogicalXor: ['logicalxor', 'bool'],
};

function unary(b: LibtorchBackend, op: string, x: TensorInfo, dtype?: DataType, a = 0, c = 0): TensorInfo {
  return b.output(b.native.unary(b.unaryCode(op), b.handle(x), a, c), dtype);
}

/** Applies a fused activation to a handle the caller owns (freed here when replaced). */
function activate(b: LibtorchBackend, h: number, activation: string, prelu: TensorInfo | undefined, alpha: number | undefined): number {
  const n = b.native;
  let out: number;
  switch (activation) {
    case 'linear': return h;
    case 'relu': out = n.unary(b.unaryCode('relu'), h); break;
    case 'relu6': out = n.unary(b.unaryCode('relu6'), h); break;
    case 'elu': out = n.unary(b.unaryCode('elu'), h); break;
    case 'sigmoid': out = n.unary(b.unaryCode('sigmoid'), h); break;
    case 'leakyrelu': out = n.unary(b.unaryCode('leakyrelu'), h, alpha ?? 0.2); break;
    case 'prelu':
      if (!prelu) throw new BackendError('prelu activation needs preluActivationWeights');
      out = n.binary(b.binaryCode('prelu'), h, b.handle(prelu));
      break;
    default: throw new BackendError(`libtorch backend: unknown fused activation "${activation}"`);
  }
  n.free(h);
  return out;
}

function addBias(b: LibtorchBackend, h: number, bias: TensorInfo | undefined): number {
  if (!bias) return h;
  const out = b.native.binary(b.binaryCode('add'), h, b.handle(bias));
  b.native.free(h);
  return out;
}

// ----- convolution and pooling -------------------------------------------------------------------

function padOf(info: backend_util.Conv2DInfo): number[] {
  const p = info.padInfo;
  return [p.top, p.bottom, p.left, p.right];
}

function checkShape(b: LibtorchBackend, kernel: string, expected: number[]): void {
  const got = b.lastShape();
  if (!util.arraysEqual(got, expected)) {
    throw new BackendError(`libtorch kernel ${kernel}: output shape [${got}] differs from TF.js's [${expected}] (unsupported rounding mode?)`);
  }
}

function conv(b: LibtorchBackend, kernel: string, x: TensorInfo, filter: TensorInfo, bias: TensorInfo | undefined, attrs: Attrs, depthwise: boolean): number {
  const dataFormat = backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC');
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
    attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, depthwise, dataFormat);
  const outChannels = info.outChannels;
  const fuseBias = bias !== undefined && bias.shape.length === 1 && bias.shape[0] === outChannels;
  // An empty batch (or any empty operand): ATen's channels-last convolution refuses it; the result is
  // empty, or zeros where only the summed-over dimension is empty.
  if (util.sizeFromShape(x.shape) === 0 || util.sizeFromShape(filter.shape) === 0) {
    return addBias(b, b.native.full(info.outShape, 0, dtypeCode('float32')), bias);
  }
  const h = b.native.conv2d(b.handle(x), b.handle(filter), fuseBias ? b.handle(bias) : -1, [info.strideHeight, info.strideWidth],
    padOf(info), [info.dilationHeight, info.dilationWidth], depthwise, dataFormat === 'channelsLast');
  checkShape(b, kernel, info.outShape);
  return fuseBias ? h : addBias(b, h, bias);
}

function convBackpropInput(b: LibtorchBackend, dy: TensorInfo, filter: TensorInfo, attrs: Attrs, depthwise: boolean): TensorInfo {
  const dataFormat = backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC');
  const info = backend_util.computeConv2DInfo(attrs.inputShape, filter.shape as [number, number, number, number], attrs.strides,
    attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, depthwise, dataFormat);
  if (util.sizeFromShape(dy.shape) === 0 || util.sizeFromShape(filter.shape) === 0) {
    return b.output(b.native.full(attrs.inputShape, 0, dtypeCode('float32')), 'float32');
  }
  return b.output(b.native.conv2dBackpropInput(b.handle(dy), b.handle(filter), attrs.inputShape, [info.strideHeight, info.strideWidth],
    padOf(info), [info.dilationHeight, info.dilationWidth], depthwise, dataFormat === 'channelsLast'));
}

function convBackpropFilter(b: LibtorchBackend, x: TensorInfo, dy: TensorInfo, attrs: Attrs, depthwise: boolean): TensorInfo {
  const dataFormat = backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC');
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], attrs.filterShape, attrs.strides,
    attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, depthwise, dataFormat);
  if (util.sizeFromShape(x.shape) === 0 || util.sizeFromShape(dy.shape) === 0) {
    return b.output(b.native.full(attrs.filterShape, 0, dtypeCode('float32')), 'float32');
  }
  return b.output(b.native.conv2dBackpropFilter(b.handle(x), b.handle(dy), attrs.filterShape, [info.strideHeight, info.strideWidth],
    padOf(info), [info.dilationHeight, info.dilationWidth], depthwise, dataFormat === 'channelsLast'));
}

function poolInfo(x: TensorInfo, attrs: Attrs): backend_util.Conv2DInfo {
  return backend_util.computePool2DInfo(x.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
}

function pool(b: LibtorchBackend, kernel: string, x: TensorInfo, attrs: Attrs, isMax: boolean): TensorInfo {
  const info = poolInfo(x, attrs);
  if (info.filterWidth === 1 && info.filterHeight === 1 && util.arraysEqual(info.inShape, info.outShape)) {
    return unary(b, 'identity', x);
  }
  const h = b.native.pool2d(isMax, b.handle(x), [info.filterHeight, info.filterWidth], [info.strideHeight, info.strideWidth], padOf(info));
  checkShape(b, kernel, info.outShape);
  return b.output(h, x.dtype);
}

// ----- resize -------------------------------------------------------------------------------------

/** TF's nearest-neighbour source index for each output row/column. */
/** Whether source indices are each input index repeated out/in times in order (ATen's nearest ×k). */
function isIntegerRepeat(idx: Int32Array, inSize: number): boolean {
  const k = idx.length / inSize;
  if (!Number.isInteger(k) || k < 1) return false;
  for (let r = 0; r < idx.length; r++) if (idx[r] !== Math.floor(r / k)) return false;
  return true;
}

function nearestIndices(inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean): Int32Array {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const ratio = effIn / effOut;
  const idx = new Int32Array(outSize);
  for (let r = 0; r < outSize; r++) {
    const frac = halfPixelCenters ? ratio * (r + 0.5) : ratio * r;
    let src = Math.min(inSize - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
    if (halfPixelCenters) src = Math.max(0, src);
    idx[r] = src;
  }
  return idx;
}

/** TF's bilinear weights as an [out, in] matrix (each row mixes the floor and ceil source rows). */
function bilinearMatrix(inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean, transpose: boolean): Float32Array {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const ratio = effIn / effOut;
  const m = new Float32Array(outSize * inSize);
  for (let r = 0; r < outSize; r++) {
    const frac = halfPixelCenters ? ratio * (r + 0.5) - 0.5 : ratio * r;
    const lo = Math.max(0, Math.floor(frac));
    const hi = Math.min(inSize - 1, Math.ceil(frac));
    const w = frac - lo;
    const at = (row: number, col: number): number => (transpose ? col * outSize + row : row * inSize + col);
    m[at(r, lo)] += 1 - w;
    m[at(r, hi)] += w;
  }
  return m;
}

function resizeBilinear(b: LibtorchBackend, x: TensorInfo, inH: number, inW: number, outH: number, outW: number, attrs: Attrs, grad: boolean): TensorInfo {
  const n = b.native;
  // Forward maps [in] -> [out] along each axis; the gradient applies the transposed matrices.
  const mh = bilinearMatrix(inH, outH, attrs.alignCorners, attrs.halfPixelCenters, grad);
  const mw = bilinearMatrix(inW, outW, attrs.alignCorners, attrs.halfPixelCenters, grad);
  let src = b.handle(x);
  let owned = false;
  if (x.dtype !== 'float32') { src = n.cast(src, DTYPE_CODE.float32); owned = true; }
  const rows = n.interpolate(src, 1, mh);
  if (owned) n.free(src);
  const out = n.interpolate(rows, 2, mw);
  n.free(rows);
  return b.output(out, 'float32');
}

// ----- the kernel table ---------------------------------------------------------------------------

function reduceKernel(op: string, dtypeRule: (x: TensorInfo) => DataType, axisAttr = 'axis'): Kernel {
  return ({ x }, b, attrs) => {
    const axes = util.parseAxisParam(attrs[axisAttr], x.shape);
    let h = b.handle(x);
    let owned = false;
    if (x.dtype === 'bool' && (op === 'sum' || op === 'mean' || op === 'prod')) { h = b.native.cast(h, DTYPE_CODE.int32); owned = true; }
    if (op === 'mean' && x.dtype !== 'float32') { const f = b.native.cast(h, DTYPE_CODE.float32); if (owned) b.native.free(h); h = f; owned = true; }
    const out = b.native.reduce(b.reduceCode(op), h, axes, attrs.keepDims ?? false);
    if (owned) b.native.free(h);
    return b.output(out, dtypeRule(x));
  };
}

const sameDtype = (x: TensorInfo): DataType => x.dtype;

function expandDimsShape(shape: number[], dim: number): number[] {
  const rank = shape.length + 1;
  const axis = dim < 0 ? dim + rank : dim;
  const out = shape.slice();
  out.splice(axis, 0, 1);
  return out;
}

function rangeValues(start: number, stop: number, step: number, dtype: DataType): Float32Array | Int32Array {
  if (step === 0) throw new BackendError('range: step must not be 0');
  const size = Math.max(0, Math.ceil((stop - start) / step));
  const values = dtype === 'int32' ? new Int32Array(size) : new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = start + i * step;
  return values;
}

function mirrorIndices(n: number, before: number, after: number, mode: 'reflect' | 'symmetric'): Int32Array {
  const idx = new Int32Array(before + n + after);
  for (let i = -before; i < n + after; i++) {
    let j = i;
    if (j < 0) j = mode === 'reflect' ? -j : -j - 1;
    else if (j >= n) j = mode === 'reflect' ? 2 * n - 2 - j : 2 * n - 1 - j;
    idx[i + before] = j;
  }
  return idx;
}

const KERNELS: Record<string, Kernel> = {
  // identity, shape and dtype
  Identity: ({ x }, b) => unary(b, 'identity', x),
  Cast: ({ x }, b, { dtype }) => {
    if (dtype === x.dtype) return unary(b, 'identity', x);
    return b.output(b.native.cast(b.handle(x), dtypeCode(dtype)), dtype);
  },
  Reshape: ({ x }, b, { shape }) => b.output(b.native.reshape(b.handle(x), util.inferFromImplicitShape(shape, util.sizeFromShape(x.shape)))),
  ExpandDims: ({ input }, b, { dim }) => b.output(b.native.reshape(b.handle(input), expandDimsShape(input.shape, dim))),
  Transpose: ({ x }, b, { perm }) => b.output(b.native.permute(b.handle(x), perm)),
  BroadcastTo: ({ x }, b, { shape }) => b.output(b.native.expand(b.handle(x), shape)),
  Reverse: ({ x }, b, { dims }) => b.output(b.native.flip(b.handle(x), util.parseAxisParam(dims, x.shape))),
  FlipLeftRight: ({ image }, b) => b.output(b.native.flip(b.handle(image), [2])),
  Slice: ({ x }, b, { begin, size }) => {
    const [$begin, $size] = slice_util.parseSliceParams(x, begin, size);
    slice_util.assertParamsValid(x, $begin, $size);
    return b.output(b.native.stridedSlice(b.handle(x), $begin, $begin.map(() => 1), $size));
  },
  StridedSlice: ({ x }, b, attrs) => {
    const info = slice_util.sliceInfo(x.shape, attrs.begin, attrs.end, attrs.strides, attrs.beginMask, attrs.endMask,
      attrs.ellipsisMask, attrs.newAxisMask, attrs.shrinkAxisMask);
    if (info.isIdentity) return b.output(b.native.reshape(b.handle(x), info.finalShape));
    const size = slice_util.computeOutShape(info.begin, info.end, info.strides).map((s) => Math.max(0, s));
    const sliced = b.native.stridedSlice(b.handle(x), info.begin, info.strides, size);
    const out = b.native.reshape(sliced, info.finalShape);
    b.native.free(sliced);
    return b.output(out);
  },
  Concat: (inputs, b, { axis }) => {
    const xs = Object.values(inputs) as TensorInfo[];
    const $axis = util.parseAxisParam(axis, xs[0].shape)[0];
    const shapes = xs.map((t) => t.shape);
    backend_util.assertParamsConsistent(shapes, $axis);
    const outShape = backend_util.computeOutShape(shapes, $axis);
    const dtype = xs.map((t) => t.dtype).reduce((p, q) => upcastType(p, q));
    const nonEmpty = xs.filter((t) => util.sizeFromShape(t.shape) > 0);
    if (nonEmpty.length === 0) return b.output(b.native.full(outShape, 0, dtypeCode(dtype)), dtype);
    return b.output(b.native.concat(nonEmpty.map((t) => b.handle(t)), $axis), dtype);
  },
  Pack: (inputs, b, { axis }) => {
    const xs = Object.values(inputs) as TensorInfo[];
    const $axis = axis < 0 ? axis + xs[0].shape.length + 1 : axis;
    const dtype = xs.map((t) => t.dtype).reduce((p, q) => upcastType(p, q));
    return b.output(b.native.stack(xs.map((t) => b.handle(t)), $axis), dtype);
  },
  Unpack: ({ value }, b, { axis }) => {
    const $axis = axis < 0 ? axis + value.shape.length : axis;
    return b.outputs(b.native.unbind(b.handle(value), $axis));
  },
  SplitV: ({ x }, b, { numOrSizeSplits, axis }) => {
    const $axis = util.parseAxisParam(axis, x.shape)[0];
    const sizes = backend_util.prepareSplitSize(x, numOrSizeSplits, $axis);
    return b.outputs(b.native.split(b.handle(x), sizes, $axis));
  },
  Tile: ({ x }, b, { reps }) => b.output(b.native.repeat(b.handle(x), reps)),
  PadV2: ({ x }, b, { paddings, constantValue }) =>
    b.output(b.native.pad(b.handle(x), (paddings as number[][]).flat(), constantValue ?? 0), x.dtype),
  MirrorPad: ({ x }, b, { paddings, mode }) => {
    let h = b.handle(x);
    let owned = false;
    (paddings as Array<[number, number]>).forEach(([before, after], axis) => {
      if (before === 0 && after === 0) return;
      const next = b.native.take(h, axis, mirrorIndices(x.shape[axis], before, after, mode));
      if (owned) b.native.free(h);
      h = next;
      owned = true;
    });
    return owned ? b.output(h) : unary(b, 'identity', x);
  },
  Fill: (_inputs, b, { shape, value, dtype }) => {
    if (typeof value === 'string') throw new BackendError('libtorch backend: Fill with strings is not supported');
    return b.output(b.native.full(shape, value, dtypeCode(dtype ?? 'float32')), dtype ?? 'float32');
  },
  ZerosLike: ({ x }, b) => b.output(b.native.full(x.shape, 0, dtypeCode(x.dtype)), x.dtype),
  OnesLike: ({ x }, b) => b.output(b.native.full(x.shape, 1, dtypeCode(x.dtype)), x.dtype),
  Range: (_inputs, b, { start, stop, step, dtype }) => {
    const values = rangeValues(start, stop, step, dtype);
    return b.output(b.native.fromData(values, [values.length], dtypeCode(dtype)), dtype);
  },
  LinSpace: (_inputs, b, { start, stop, num }) => {
    const values = new Float32Array(num);
    const step = num > 1 ? (stop - start) / (num - 1) : 0;
    for (let i = 0; i < num; i++) values[i] = start + i * step;
    return b.output(b.native.fromData(values, [num], DTYPE_CODE.float32), 'float32');
  },
  OneHot: ({ indices }, b, { depth, onValue, offValue, dtype }) =>
    b.output(b.native.oneHot(b.handle(indices), depth, onValue, offValue, dtypeCode(dtype ?? 'int32')), dtype ?? 'int32'),

  // element-wise extras
  AddN: (inputs, b) => {
    const xs = Object.values(inputs) as TensorInfo[];
    if (xs.length === 1) return unary(b, 'identity', xs[0]);
    let h = b.native.binary(b.binaryCode('add'), b.handle(xs[0]), b.handle(xs[1]));
    for (let i = 2; i < xs.length; i++) {
      const next = b.native.binary(b.binaryCode('add'), h, b.handle(xs[i]));
      b.native.free(h);
      h = next;
    }
    return b.output(h, xs.map((t) => t.dtype).reduce((p, q) => upcastType(p, q)));
  },
  ClipByValue: ({ x }, b, { clipValueMin, clipValueMax }) => unary(b, 'clip', x, x.dtype, clipValueMin, clipValueMax),
  LeakyRelu: ({ x }, b, { alpha }) => unary(b, 'leakyrelu', x, 'float32', alpha),
  Step: ({ x }, b, { alpha }) => unary(b, 'step', x, x.dtype, alpha),
  Prelu: ({ x, alpha }, b) => b.output(b.native.binary(b.binaryCode('prelu'), b.handle(x), b.handle(alpha)), 'float32'),
  EluGrad: ({ dy, y }, b) => b.output(b.native.binary(b.binaryCode('elugrad'), b.handle(dy), b.handle(y)), 'float32'),
  Select: ({ condition, t, e }, b) => {
    let c = b.handle(condition);
    let owned = false;
    if (condition.shape.length === 1 && t.shape.length > 1) {
      c = b.native.reshape(c, [condition.shape[0], ...new Array<number>(t.shape.length - 1).fill(1)]);
      owned = true;
    }
    const out = b.native.where(c, b.handle(t), b.handle(e));
    if (owned) b.native.free(c);
    return b.output(out, upcastType(t.dtype, e.dtype));
  },
  FusedBatchNorm: ({ x, mean, variance, offset, scale }, b, { varianceEpsilon }) => {
    const n = b.native;
    const bin = (op: string, p: number, q: number): number => n.binary(b.binaryCode(op), p, q);
    const eps = n.full([], varianceEpsilon ?? 0.001, DTYPE_CODE.float32);
    const ve = bin('add', b.handle(variance), eps);
    const inv = n.unary(b.unaryCode('rsqrt'), ve);
    const centered = bin('sub', b.handle(x), b.handle(mean));
    let h = bin('mul', centered, inv);
    [eps, ve, inv, centered].forEach((t) => n.free(t));
    if (scale) { const s = bin('mul', h, b.handle(scale)); n.free(h); h = s; }
    if (offset) { const o = bin('add', h, b.handle(offset)); n.free(h); h = o; }
    return b.output(h, 'float32');
  },

  // reductions and scans
  Sum: reduceKernel('sum', (x) => upcastType(x.dtype === 'bool' ? 'int32' : x.dtype, 'int32')),
  Mean: reduceKernel('mean', () => 'float32'),
  Max: reduceKernel('max', sameDtype, 'reductionIndices'),
  Min: reduceKernel('min', sameDtype),
  Prod: reduceKernel('prod', (x) => upcastType(x.dtype === 'bool' ? 'int32' : x.dtype, 'int32')),
  All: reduceKernel('all', () => 'bool'),
  Any: reduceKernel('any', () => 'bool'),
  ArgMax: ({ x }, b, { axis }) => b.output(b.native.argReduce(true, b.handle(x), util.parseAxisParam(axis, x.shape)[0]), 'int32'),
  ArgMin: ({ x }, b, { axis }) => b.output(b.native.argReduce(false, b.handle(x), util.parseAxisParam(axis, x.shape)[0]), 'int32'),
  Softmax: ({ logits }, b, { dim }) => b.output(b.native.softmax(b.handle(logits), util.parseAxisParam(dim, logits.shape)[0], false), 'float32'),
  LogSoftmax: ({ logits }, b, { axis }) => b.output(b.native.softmax(b.handle(logits), util.parseAxisParam(axis, logits.shape)[0], true), 'float32'),
  Cumsum: ({ x }, b, { axis, exclusive, reverse }) =>
    b.output(b.native.scan(false, b.handle(x), axis < 0 ? axis + x.shape.length : axis, exclusive, reverse), upcastType(x.dtype === 'bool' ? 'int32' : x.dtype, 'int32')),
  Cumprod: ({ x }, b, { axis, exclusive, reverse }) =>
    b.output(b.native.scan(true, b.handle(x), axis < 0 ? axis + x.shape.length : axis, exclusive, reverse), upcastType(x.dtype === 'bool' ? 'int32' : x.dtype, 'int32')),
  TopK: ({ x }, b, { k, sorted }) => {
    const [values, indices] = b.native.topk(b.handle(x), k, sorted);
    b.native.describe(values);
    const v = b.output(values, x.dtype);
    b.native.describe(indices);
    return [v, b.output(indices, 'int32')];
  },
  SearchSorted: ({ sortedSequence, values }, b, { side }) =>
    b.output(b.native.searchSorted(b.handle(sortedSequence), b.handle(values), side === 'right'), 'int32'),
  LowerBound: ({ sortedSequence, values }, b) => b.output(b.native.searchSorted(b.handle(sortedSequence), b.handle(values), false), 'int32'),
  UpperBound: ({ sortedSequence, values }, b) => b.output(b.native.searchSorted(b.handle(sortedSequence), b.handle(values), true), 'int32'),

  // indexing
  GatherV2: ({ x, indices }, b, { axis, batchDims }) =>
    b.output(b.native.gather(b.handle(x), b.handle(indices), util.parseAxisParam(axis, x.shape)[0], batchDims ?? 0), x.dtype),
  GatherNd: ({ params, indices }, b) => b.output(b.native.gatherNd(b.handle(params), b.handle(indices)), params.dtype),
  ScatterNd: ({ indices, updates }, b, { shape }) => b.output(b.native.scatterNd(b.handle(indices), b.handle(updates), shape), updates.dtype),
  TensorScatterUpdate: ({ tensor, indices, updates }, b) =>
    b.output(b.native.tensorScatterUpdate(b.handle(tensor), b.handle(indices), b.handle(updates)), tensor.dtype),
  UnsortedSegmentSum: ({ x, segmentIds }, b, { numSegments }) =>
    b.output(b.native.segmentSum(b.handle(x), b.handle(segmentIds), numSegments), x.dtype === 'bool' ? 'int32' : x.dtype),

  // linear algebra
  BatchMatMul: ({ a, b: bb }, b, { transposeA, transposeB }) =>
    b.output(b.native.matmul(b.handle(a), b.handle(bb), transposeA, transposeB), upcastType(a.dtype, bb.dtype)),
  _FusedMatMul: ({ a, b: bb, bias, preluActivationWeights }, b, { transposeA, transposeB, activation, leakyreluAlpha }) => {
    let h = b.native.matmul(b.handle(a), b.handle(bb), transposeA, transposeB);
    h = addBias(b, h, bias);
    h = activate(b, h, activation, preluActivationWeights, leakyreluAlpha);
    b.native.describe(h);
    return b.output(h, 'float32');
  },
  Einsum: (inputs, b, { equation }) => {
    const xs = Object.values(inputs) as TensorInfo[];
    return b.output(b.native.einsum(equation, xs.map((t) => b.handle(t))), 'float32');
  },

  // convolution
  Conv2D: ({ x, filter }, b, attrs) => b.output(conv(b, 'Conv2D', x, filter, undefined, attrs, false), 'float32'),
  FusedConv2D: ({ x, filter, bias, preluActivationWeights }, b, attrs) => {
    const h = activate(b, conv(b, 'FusedConv2D', x, filter, bias, attrs, false), attrs.activation, preluActivationWeights, attrs.leakyreluAlpha);
    b.native.describe(h);
    return b.output(h, 'float32');
  },
  DepthwiseConv2dNative: ({ x, filter }, b, attrs) => b.output(conv(b, 'DepthwiseConv2dNative', x, filter, undefined, attrs, true), 'float32'),
  FusedDepthwiseConv2D: ({ x, filter, bias, preluActivationWeights }, b, attrs) => {
    const h = activate(b, conv(b, 'FusedDepthwiseConv2D', x, filter, bias, attrs, true), attrs.activation, preluActivationWeights, attrs.leakyreluAlpha);
    b.native.describe(h);
    return b.output(h, 'float32');
  },
  Conv2DBackpropInput: ({ dy, filter }, b, attrs) => convBackpropInput(b, dy, filter, attrs, false),
  Conv2DBackpropFilter: ({ x, dy }, b, attrs) => convBackpropFilter(b, x, dy, attrs, false),
  DepthwiseConv2dNativeBackpropInput: ({ dy, filter }, b, attrs) => convBackpropInput(b, dy, filter, attrs, true),
  DepthwiseConv2dNativeBackpropFilter: ({ x, dy }, b, attrs) => convBackpropFilter(b, x, dy, attrs, true),

  // pooling
  MaxPool: ({ x }, b, attrs) => pool(b, 'MaxPool', x, attrs, true),
  AvgPool: ({ x }, b, attrs) => pool(b, 'AvgPool', x, attrs, false),
  MaxPoolGrad: ({ dy, input }, b, attrs) => {
    const info = poolInfo(input, attrs);
    return b.output(b.native.maxPoolGrad(b.handle(dy), b.handle(input), [info.filterHeight, info.filterWidth],
      [info.strideHeight, info.strideWidth], padOf(info)), 'float32');
  },
  AvgPoolGrad: ({ dy, input }, b, attrs) => {
    const info = poolInfo(input, attrs);
    return b.output(b.native.avgPoolGrad(b.handle(dy), b.handle(input), [info.filterHeight, info.filterWidth],
      [info.strideHeight, info.strideWidth], padOf(info)), 'float32');
  },

  // Distillery's fused GroupNorm (+ SiLU), contract in src/kernels/contracts.ts, as the WASM kernels:
  // forward -> [y, mean, rstd, x − μ, sigmoid(z) with SiLU]; backward -> [dx, dgamma, dbeta].
  [GROUP_NORM_KERNEL]: ({ x, gamma, beta }, b, { groups, epsilon, silu }) => {
    if (x.shape.length !== 4 || x.shape[3] % groups !== 0) {
      throw new BackendError(`libtorch kernel ${GROUP_NORM_KERNEL}: x [${x.shape}] is not NHWC with channels divisible by ${groups} groups`);
    }
    // x − μ and sigmoid(z) feed only the backward kernel; outside gradient recording (sampling,
    // evaluation) they are skipped and those outputs alias x and y.
    const forBackward = engine().state.gradientDepth > 0;
    return b.outputs(b.native.groupNorm(b.handle(x), b.handle(gamma), b.handle(beta), groups, epsilon, silu, forBackward), 'float32');
  },
  [GROUP_NORM_GRAD_KERNEL]: (inputs, b, { groups }) => {
    const { dy, xc, gamma, rstd } = inputs;
    const y = inputs.y as TensorInfo | undefined;
    const sig = inputs.sig as TensorInfo | undefined;
    return b.outputs(b.native.groupNormGrad(b.handle(dy), b.handle(xc), b.handle(gamma), b.handle(rstd),
      y && sig ? b.handle(y) : -1, y && sig ? b.handle(sig) : -1, groups), 'float32');
  },

  // Distillery's fused AdamW update (contract in src/kernels/contracts.ts): one native pass per variable.
  [ADAMW_KERNEL]: ({ param, grad, m, v }, b, { beta1, beta2, eps, stepSize, sqrtBias2, decay }) =>
    b.outputs(b.native.adamw(b.handle(param), b.handle(grad), b.handle(m), b.handle(v), beta1, beta2, eps, stepSize, sqrtBias2, decay), 'float32'),

  // Σ over tensors of Σ x² in one call (contract in src/kernels/contracts.ts), accumulated in float64.
  [SQUARED_NORM_KERNEL]: (inputs, b) =>
    b.output(b.native.sumSquares((Object.values(inputs) as TensorInfo[]).map((t) => b.handle(t))), 'float32'),

  // resize
  ResizeNearestNeighbor: ({ images }, b, { alignCorners, halfPixelCenters, size }) => {
    const [, inH, inW] = images.shape;
    const [outH, outW] = size as [number, number];
    if (images.dtype === 'float32' && isIntegerRepeat(nearestIndices(inH, outH, alignCorners, halfPixelCenters), inH) &&
      isIntegerRepeat(nearestIndices(inW, outW, alignCorners, halfPixelCenters), inW)) {
      return b.output(b.native.upsampleNearest(b.handle(images), outH, outW), 'float32');
    }
    const rows = b.native.take(b.handle(images), 1, nearestIndices(inH, outH, alignCorners, halfPixelCenters));
    const out = b.native.take(rows, 2, nearestIndices(inW, outW, alignCorners, halfPixelCenters));
    b.native.free(rows);
    return b.output(out, images.dtype);
  },
  ResizeNearestNeighborGrad: ({ images, dy }, b, { alignCorners, halfPixelCenters }) => {
    const [, inH, inW] = images.shape;
    const [, outH, outW] = dy.shape;
    if (isIntegerRepeat(nearestIndices(inH, outH, alignCorners, halfPixelCenters), inH) &&
      isIntegerRepeat(nearestIndices(inW, outW, alignCorners, halfPixelCenters), inW)) {
      return b.output(b.native.upsampleNearestGrad(b.handle(dy), inH, inW), 'float32');
    }
    const cols = b.native.takeAdjoint(b.handle(dy), 2, nearestIndices(inW, outW, alignCorners, halfPixelCenters), inW);
    const out = b.native.takeAdjoint(cols, 1, nearestIndices(inH, outH, alignCorners, halfPixelCenters), inH);
    b.native.free(cols);
    return b.output(out, 'float32');
  },
  ResizeBilinear: ({ images }, b, attrs) => {
    const [, inH, inW] = images.shape;
    const [outH, outW] = attrs.size as [number, number];
    return resizeBilinear(b, images, inH, inW, outH, outW, attrs, false);
  },
  ResizeBilinearGrad: ({ images, dy }, b, attrs) => {
    const [, inH, inW] = images.shape;
    const [, outH, outW] = dy.shape;
    return resizeBilinear(b, dy, inH, inW, outH, outW, attrs, true);
  },
};

for (const [name, [op, rule]] of Object.entries(UNARY)) {
  KERNELS[name] = ({ x }, b) => unary(b, op, x, rule === 'same' ? x.dtype : rule);
}
for (const [name, [op, rule]] of Object.entries(BINARY)) {
  KERNELS[name] = ({ a, b: bb }, b) =>
    b.output(b.native.binary(b.binaryCode(op), b.handle(a), b.handle(bb)), rule === 'upcast' ? upcastType(a.dtype, bb.dtype) : rule);
}

function describeInputs(inputs: NamedTensorInfoMap): string {
  return Object.entries(inputs)
    .filter(([, t]) => t !== undefined && t !== null)
    .map(([k, t]) => `${k}: [${(t as TensorInfo).shape.join(', ')}] ${(t as TensorInfo).dtype}`)
    .join(', ');
}

/** Names of every kernel this backend implements. */
export const LIBTORCH_KERNEL_NAMES: readonly string[] = Object.keys(KERNELS).sort();

/**
 * The kernel configs to register for the libtorch backend. Every kernel turns a failure inside libtorch
 * into a BackendError naming the kernel and its input shapes.
 */
export function libtorchKernelConfigs(): KernelConfig[] {
  return Object.entries(KERNELS).map(([kernelName, impl]) => ({
    kernelName,
    backendName: LIBTORCH_BACKEND_NAME,
    kernelFunc: ({ inputs, backend, attrs }: { inputs: NamedTensorInfoMap; backend: object; attrs?: NamedAttrMap }) => {
      try {
        return impl(inputs as Inputs, backend as LibtorchBackend, (attrs ?? {}) as Attrs);
      } catch (err) {
        if (err instanceof BackendError) throw err;
        throw new BackendError(`libtorch kernel ${kernelName} failed (${describeInputs(inputs)}): ${(err as Error).message}`, { cause: err });
      }
    },
  }));
}
