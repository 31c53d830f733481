/**
 * Helpers for writing WASM-backend kernels in TypeScript: heap views of tensors, calling other
 * registered kernels from inside a kernel, and releasing intermediates.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from '../../../errors';

export type { BackendWasm };
export type TensorInfo = tf.TensorInfo;
type Attrs = tf.NamedAttrMap;

/** Kernels as the package registered them, captured before Distillery replaces them. */
const original = new Map<string, tf.KernelConfig>();

/** Remembers the package's kernel `name` for `wasm` (once) so a replacement can delegate to it. */
export function captureOriginal(name: string): tf.KernelConfig | undefined {
  if (!original.has(name)) {
    const k = tf.getKernel(name, 'wasm');
    if (k) original.set(name, k);
  }
  return original.get(name);
}

export function originalKernel(name: string): tf.KernelConfig {
  const k = original.get(name);
  if (!k) throw new BackendError(`wasm: the package kernel ${name} was not captured before replacement`);
  return k;
}

/** Runs the kernel registered now for `wasm` under `name` (Distillery's replacement if there is one). */
export function run(name: string, backend: BackendWasm, inputs: Record<string, TensorInfo>, attrs: Attrs = {}): TensorInfo {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new BackendError(`wasm: kernel ${name} is not registered`);
  const out = k.kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, backend, attrs });
  return (Array.isArray(out) ? out[0] : out) as TensorInfo;
}

/** Runs the package's own kernel `name` (captured before replacement). */
export function runOriginal(name: string, backend: BackendWasm, inputs: Record<string, TensorInfo>, attrs: Attrs = {}): TensorInfo {
  const out = originalKernel(name).kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, backend, attrs });
  return (Array.isArray(out) ? out[0] : out) as TensorInfo;
}

/** The heap's current buffer (the threaded build's shared memory can grow; always read it fresh). */
export function heap(backend: BackendWasm): ArrayBufferLike {
  const m = backend.wasm as unknown as { wasmMemory?: { buffer: ArrayBufferLike }; HEAPU8: Uint8Array };
  return m.wasmMemory ? m.wasmMemory.buffer : m.HEAPU8.buffer;
}

/** A Float32Array view on the WASM heap for a float32 tensor (no copy). */
export function f32(backend: BackendWasm, t: TensorInfo): Float32Array {
  const { memoryOffset } = backend.dataIdMap.get(t.dataId)!;
  return new Float32Array(heap(backend), memoryOffset, tf.util.sizeFromShape(t.shape));
}

/** An Int32Array view on the WASM heap for an int32 tensor (no copy). */
export function i32(backend: BackendWasm, t: TensorInfo): Int32Array {
  const { memoryOffset } = backend.dataIdMap.get(t.dataId)!;
  return new Int32Array(heap(backend), memoryOffset, tf.util.sizeFromShape(t.shape));
}

/** A typed view matching the tensor's dtype (float32, int32 or bool). */
export function view(backend: BackendWasm, t: TensorInfo): Float32Array | Int32Array | Uint8Array {
  const { memoryOffset } = backend.dataIdMap.get(t.dataId)!;
  const n = tf.util.sizeFromShape(t.shape);
  const buf = heap(backend);
  switch (t.dtype) {
    case 'float32': return new Float32Array(buf, memoryOffset, n);
    case 'int32': return new Int32Array(buf, memoryOffset, n);
    case 'bool': return new Uint8Array(buf, memoryOffset, n);
    default: throw new BackendError(`wasm: dtype ${t.dtype} is not supported by this kernel`);
  }
}

/** Same data, new shape (shares memory; the caller disposes the result like any output). */
export function reshape(backend: BackendWasm, x: TensorInfo, shape: number[]): TensorInfo {
  return run('Reshape', backend, { x }, { shape });
}

export function dispose(backend: BackendWasm, ...ts: TensorInfo[]): void {
  for (const t of ts) backend.disposeData(t.dataId);
}

export function assertFloat32(kernel: string, ...ts: TensorInfo[]): void {
  for (const t of ts) {
    if (t.dtype !== 'float32') throw new BackendError(`wasm ${kernel}: expected float32 inputs, found ${t.dtype}`);
  }
}

export function assertChannelsLast(kernel: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new BackendError(`wasm ${kernel}: only NHWC (channels-last) data is supported, found ${String(dataFormat)}`);
  }
}
