/**
 * Loading the native addon (native/libtorch, built by scripts/build-native.js during `npm ci` when
 * libtorch is installed) and its typed surface. Handles are integers naming ATen tensors held by the
 * addon; every call that makes a tensor writes [dtype code, rank, dims...] into the shared `meta` array.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Dtype codes shared with native/libtorch/src/addon.cc. */
export const DTYPE_CODE = { float32: 0, int32: 1, bool: 2 } as const;
export type NativeDType = keyof typeof DTYPE_CODE;
export const DTYPE_OF_CODE: readonly NativeDType[] = ['float32', 'int32', 'bool'];

type H = number;

/** The functions exported by distillery_libtorch.node (see addon.cc for each one's contract). */
export interface LibtorchAddon {
  readonly unaryOps: string[];
  readonly binaryOps: string[];
  readonly reduceOps: string[];
  init(meta: Int32Array): void;
  setThreads(n: number): number;
  getThreads(): number;
  parallelInfo(): string;
  config(): string;
  live(): number;
  free(h: H): void;
  freeAll(): void;
  describe(h: H): H;
  strides(h: H): number[];
  fromData(values: ArrayBufferView, shape: number[], dtype: number): H;
  toData(h: H): Float32Array | Int32Array | Uint8Array;
  unary(code: number, x: H, a?: number, b?: number): H;
  binary(code: number, a: H, b: H): H;
  cast(x: H, dtype: number): H;
  where(c: H, a: H, b: H): H;
  reshape(x: H, shape: number[]): H;
  permute(x: H, perm: number[]): H;
  expand(x: H, shape: number[]): H;
  flip(x: H, dims: number[]): H;
  repeat(x: H, reps: number[]): H;
  stridedSlice(x: H, begin: number[], stride: number[], size: number[]): H;
  concat(xs: H[], axis: number): H;
  stack(xs: H[], axis: number): H;
  unbind(x: H, axis: number): H[];
  split(x: H, sizes: number[], axis: number): H[];
  pad(x: H, pads: number[], value: number): H;
  full(shape: number[], value: number, dtype: number): H;
  take(x: H, axis: number, indices: Int32Array): H;
  takeAdjoint(g: H, axis: number, indices: Int32Array, size: number): H;
  gather(x: H, indices: H, axis: number, batchDims: number): H;
  gatherNd(x: H, indices: H): H;
  scatterNd(indices: H, updates: H, shape: number[]): H;
  tensorScatterUpdate(x: H, indices: H, updates: H): H;
  segmentSum(x: H, ids: H, numSegments: number): H;
  oneHot(indices: H, depth: number, on: number, off: number, dtype: number): H;
  reduce(code: number, x: H, axes: number[], keepDims: boolean): H;
  argReduce(isMax: boolean, x: H, axis: number): H;
  softmax(x: H, dim: number, log: boolean): H;
  scan(isProd: boolean, x: H, axis: number, exclusive: boolean, reverse: boolean): H;
  topk(x: H, k: number, sorted: boolean): [H, H];
  searchSorted(sorted: H, values: H, right: boolean): H;
  matmul(a: H, b: H, transposeA: boolean, transposeB: boolean): H;
  einsum(equation: string, xs: H[]): H;
  conv2d(x: H, filter: H, bias: H, stride: number[], pad: number[], dilation: number[], depthwise: boolean, channelsLast: boolean): H;
  conv2dBackpropInput(dy: H, filter: H, inputShape: number[], stride: number[], pad: number[], dilation: number[], depthwise: boolean, channelsLast: boolean): H;
  conv2dBackpropFilter(x: H, dy: H, filterShape: number[], stride: number[], pad: number[], dilation: number[], depthwise: boolean, channelsLast: boolean): H;
  pool2d(isMax: boolean, x: H, kernel: number[], stride: number[], pad: number[]): H;
  maxPoolGrad(dy: H, x: H, kernel: number[], stride: number[], pad: number[]): H;
  avgPoolGrad(dy: H, x: H, kernel: number[], stride: number[], pad: number[]): H;
  interpolate(x: H, axis: number, matrix: Float32Array): H;
  groupNorm(x: H, gamma: H, beta: H, groups: number, epsilon: number, silu: boolean, forBackward: boolean): H[];
  groupNormGrad(dy: H, xc: H, gamma: H, rstd: H, y: H, sig: H, groups: number): H[];
  adamw(p: H, g: H, m: H, v: H, beta1: number, beta2: number, eps: number, stepSize: number, sqrtBias2: number, decay: number): H[];
  sumSquares(xs: H[]): H;
}

export const ADDON_FILE = 'distillery_libtorch.node';

/** Where the built addon lives: native/libtorch/build/Release under the package root (src/ or dist/src/). */
export function addonPath(): string | undefined {
  if (process.env.DISTILLERY_LIBTORCH_ADDON) return process.env.DISTILLERY_LIBTORCH_ADDON;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'native', 'libtorch', 'build', 'Release', ADDON_FILE);
    if (fs.existsSync(candidate)) return candidate;
    if (fs.existsSync(path.join(dir, 'package.json'))) return undefined;
    dir = path.dirname(dir);
  }
  return undefined;
}

let cached: { addon?: LibtorchAddon; reason?: string } | undefined;

/**
 * Loads the addon once per process. Returns the reason when it cannot be loaded (not built because
 * libtorch was absent at install time, or libtorch's shared libraries missing now).
 */
export function loadAddon(): { addon?: LibtorchAddon; reason?: string } {
  if (cached) return cached;
  const file = addonPath();
  if (!file) {
    cached = { reason: 'the native addon is not built (libtorch was not found when `npm ci` ran; install libtorch-dev and libopenblas0-openmp, then run `npm run build:native`)' };
    return cached;
  }
  // libgomp reads its wait policy once, when it is loaded with the addon. Its default (spin up to
  // ~300k iterations before sleeping) made element-wise ops 10–30× slower on a shared 2-core machine
  // (docs/backends.md has the measurement); passive waiting costs little on these op sizes.
  if (process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined) {
    process.env.OMP_WAIT_POLICY = 'PASSIVE';
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const addon = require(file) as LibtorchAddon;
    cached = { addon };
  } catch (err) {
    cached = { reason: `the native addon ${file} could not be loaded: ${(err as Error).message.split('\n')[0]}` };
  }
  return cached;
}
