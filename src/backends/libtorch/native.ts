/**
 * Loading the native addon (native/libtorch, built by scripts/build-native.js during `npm ci` when
 * libtorch is installed) and its typed surface. Handles are integers naming ATen tensors held by the
 * addon; every call that makes a tensor writes [dtype code, rank, dims...] into the shared `meta` array.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BackendError } from '../../errors';

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
  /** Milliseconds spent inside the addon's functions since it loaded (all calls, on the JS thread). */
  nativeMs(): number;
  /** Bytes of freed tensor memory the addon keeps for reuse (DISTILLERY_TENSOR_CACHE_MB caps it). */
  cachedBytes(): number;
  /** Returns the cached blocks to the C allocator. */
  emptyCache(): void;
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
  /** Nearest upsampling of NHWC x to [outH, outW] by integer factors (ATen's upsample_nearest2d). */
  upsampleNearest(x: H, outH: number, outW: number): H;
  /** Its adjoint: dy NHWC summed back onto [h, w]. */
  upsampleNearestGrad(dy: H, h: number, w: number): H;
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
  /** bf16 autocast of convolutions and matmuls on (true) or off; returns the new state. */
  setAutocast(on: boolean): boolean;
  getAutocast(): boolean;
  /**
   * How bf16 convolutions run: `onednn`, float32 results straight from oneDNN (the addon was built with
   * oneDNN's headers), or `aten`, ATen's bf16 results widened to float32; and the oneDNN implementation
   * chosen for each convolution geometry so far, one per line.
   */
  bf16Convolutions(): { path: 'onednn' | 'aten'; implementations: string };
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

/** How libgomp's worker threads wait between parallel regions, as chosen when the addon loaded. */
export type OmpWait = 'spin' | 'passive' | 'user';
let ompWait: OmpWait | undefined;

/** The wait policy in effect (undefined before the addon is loaded). */
export function ompWaitPolicy(): OmpWait | undefined {
  return ompWait;
}

/** Cores kept busy by other processes, from two /proc/stat samples 100 ms apart (os.loadavg elsewhere). */
function otherBusyCores(): number {
  const read = (): [number, number] | undefined => {
    try {
      const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
      const idle = f[3] + (f[4] || 0);
      return [f.reduce((a, b) => a + b, 0), idle];
    } catch {
      return undefined;
    }
  };
  const a = read();
  if (!a) return os.loadavg()[0];
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  const b = read()!;
  const total = b[0] - a[0];
  return total > 0 ? (os.cpus().length * (total - (b[1] - a[1]))) / total : 0;
}

/**
 * Sets libgomp's wait policy before the addon (and with it libgomp) loads; libgomp reads it once.
 * Spinning (libgomp's default) keeps worker threads awake between ATen's parallel regions, which TF.js's
 * JavaScript between kernels makes frequent: on an idle 2-core machine the reference training step took
 * 195 ms spinning against 235–244 ms waiting passively (docs/benchmarks.md). On cores other processes
 * already keep busy, spinning threads take the cores the work needs (a 1M-element multiply took 20 ms
 * instead of 0.7 ms under load 11), so `auto` waits passively when other processes keep at least half a
 * core busy at load time. DISTILLERY_OMP_WAIT=spin|passive|auto chooses; OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT set by the user are left alone.
 */
function chooseOmpWait(): OmpWait {
  if (process.env.OMP_WAIT_POLICY !== undefined || process.env.GOMP_SPINCOUNT !== undefined) return 'user';
  const asked = (process.env.DISTILLERY_OMP_WAIT ?? 'auto').toLowerCase();
  if (asked !== 'spin' && asked !== 'passive' && asked !== 'auto') {
    throw new BackendError(`DISTILLERY_OMP_WAIT must be spin, passive or auto, found "${process.env.DISTILLERY_OMP_WAIT}"`);
  }
  const wait: OmpWait = asked === 'auto' ? (otherBusyCores() >= 0.5 ? 'passive' : 'spin') : asked;
  if (wait === 'passive') process.env.OMP_WAIT_POLICY = 'PASSIVE';
  return wait;
}

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
  ompWait = chooseOmpWait();
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const addon = require(file) as LibtorchAddon;
    cached = { addon };
  } catch (err) {
    cached = { reason: `the native addon ${file} could not be loaded: ${(err as Error).message.split('\n')[0]}` };
  }
  return cached;
}
