/**
 * BatchMatMul for the WASM backend. The package kernel is fast (XNNPACK, multi-threaded) only for a
 * single [M, K]·[K, N] product without transposes; with a transpose or a batch dimension it falls back
 * to a scalar loop (5–20× slower). Here transposes are materialised (a cheap O(size) copy) and a batch
 * that only one side has is folded into the rows of the product, so nearly every matMul gradient takes
 * the fast path. Products where both sides carry a batch (attention scores) stay on the package
 * kernel: one fast call per batch item costs more in operator set-up than the scalar loop.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../../../errors';
import { type BackendWasm, type TensorInfo, dispose, reshape, run, runOriginal } from './util';

/** Below this many multiply-adds per batch item, the per-call overhead of the fast path is not worth it. */
const MIN_FAST_MACS = 16 * 1024;

function transposeLast2(backend: BackendWasm, x: TensorInfo): TensorInfo {
  const r = x.shape.length;
  const perm = [...Array(r).keys()];
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return run('Transpose', backend, { x }, { perm });
}

/** The package's fast product of a [M, K] and a [K, N] matrix. */
function fast2d(backend: BackendWasm, a: TensorInfo, b: TensorInfo): TensorInfo {
  return runOriginal('BatchMatMul', backend, { a, b }, { transposeA: false, transposeB: false });
}

export function batchMatMulImpl(backend: BackendWasm, a: TensorInfo, b: TensorInfo, transposeA: boolean,
  transposeB: boolean): TensorInfo {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new BackendError(`wasm BatchMatMul: expected float32 inputs, found ${a.dtype} and ${b.dtype}`);
  }
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const ka = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (ka !== kb) {
    throw new BackendError(`wasm BatchMatMul: inner dimensions differ (${a.shape} × ${b.shape}, ` +
      `transposeA=${transposeA}, transposeB=${transposeB})`);
  }
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  const outBatchShape = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const outShape = [...outBatchShape, m, n];
  if (m * ka * n < MIN_FAST_MACS || (batchA !== 1 && batchB !== 1)) {
    return runOriginal('BatchMatMul', backend, { a, b }, { transposeA, transposeB });
  }
  const tmp: TensorInfo[] = [];
  // A as [batchA, M, K] and B as [batchB, K, N], transposes materialised.
  const a3 = transposeA ? transposeLast2(backend, a) : a;
  if (a3 !== a) tmp.push(a3);
  const b3 = transposeB ? transposeLast2(backend, b) : b;
  if (b3 !== b) tmp.push(b3);
  let out: TensorInfo;
  if (batchB === 1) {
    // Fold A's batch into its rows: [batchA·M, K]·[K, N].
    const a2 = reshape(backend, a3, [batchA * m, ka]);
    const b2 = reshape(backend, b3, [ka, n]);
    const p = fast2d(backend, a2, b2);
    dispose(backend, a2, b2);
    out = reshape(backend, p, outShape);
    dispose(backend, p);
  } else {
    // C_i = A·B_i for every i: one product A·[K, batch·N] after moving the batch next to N.
    const bt = run('Transpose', backend, { x: reshape2(backend, b3, [batchB, ka, n], tmp) }, { perm: [1, 0, 2] });
    tmp.push(bt);
    const a2 = reshape(backend, a3, [m, ka]);
    const b2 = reshape(backend, bt, [ka, batchB * n]);
    const p = fast2d(backend, a2, b2); // [M, batch·N]
    dispose(backend, a2, b2);
    const p3 = reshape(backend, p, [m, batchB, n]);
    dispose(backend, p);
    const pt = run('Transpose', backend, { x: p3 }, { perm: [1, 0, 2] });
    dispose(backend, p3);
    out = reshape(backend, pt, outShape);
    dispose(backend, pt);
  }
  dispose(backend, ...tmp);
  return out;
}

function reshape2(backend: BackendWasm, x: TensorInfo, shape: number[], tmp: TensorInfo[]): TensorInfo {
  const r = reshape(backend, x, shape);
  tmp.push(r);
  return r;
}

export const batchMatMulConfig: tf.KernelConfig = {
  kernelName: tf.BatchMatMul,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
    return batchMatMulImpl(backend as BackendWasm, a, b, transposeA, transposeB);
  },
};
