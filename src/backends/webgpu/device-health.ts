/**
 * Device health and the guard on TF.js's WebGPU backend: after Dawn reports a lost device or an uncaptured
 * GPU error, the next kernel or read throws a BackendError naming it; a synchronous read of GPU data throws
 * a BackendError that says why instead of failing inside TF.js.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../../errors';
import type { GpuDeviceLostInfoLike, GpuErrorLike } from './dawn';

/** The health of the device this provider created: set by Dawn's device-lost and uncaptured-error hooks. */
export interface DeviceHealth {
  lost?: GpuDeviceLostInfoLike;
  error?: GpuErrorLike;
}

export function healthError(health: DeviceHealth): BackendError | undefined {
  if (health.lost) {
    return new BackendError(`webgpu: the GPU device was lost (${health.lost.reason ?? 'unknown'}: ` +
      `${(health.lost.message ?? '').trim() || 'no message'}); its tensors are gone — select a backend again ` +
      'and restart from the last checkpoint');
  }
  if (health.error) {
    const kind = health.error.constructor?.name ?? 'GPUError';
    const message = (health.error.message ?? '').trim().split('\n')[0];
    if (kind === 'GPUOutOfMemoryError') {
      return new BackendError(`webgpu: the GPU ran out of memory (${message}); use a smaller batch size ` +
        'or model, or another backend');
    }
    return new BackendError(`webgpu: uncaptured GPU error (${kind}): ${message}`);
  }
  return undefined;
}

/**
 * Makes the TF.js WebGPU backend fail clearly: every kernel dispatch and read first checks the device's
 * health, and a synchronous read of GPU data throws a BackendError instead of TF.js's canvas fallback.
 */
export function guardBackend(backend: tf.KernelBackend, health: DeviceHealth): void {
  const b = backend as unknown as Record<string, unknown> & {
    tensorMap: { get(id: object): { values?: unknown; dtype?: string } | undefined };
  };
  const check = (): void => {
    const err = healthError(health);
    if (err) throw err;
  };
  for (const method of ['runWebGPUProgram', 'read', 'write', 'uploadToGPU']) {
    const original = b[method];
    if (typeof original !== 'function') {
      throw new BackendError(`webgpu: this @tensorflow/tfjs-backend-webgpu has no ${method}(); use version 4.22.0`);
    }
    b[method] = function guarded(this: unknown, ...args: unknown[]) {
      check();
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    };
  }
  const readSync = b.readSync as (dataId: object) => unknown;
  b.readSync = function guardedReadSync(this: unknown, dataId: object) {
    check();
    const data = b.tensorMap.get(dataId);
    if (data && data.values == null && data.dtype !== 'complex64') {
      throw new BackendError('webgpu: a synchronous read (dataSync/arraySync/bufferSync) of a tensor that lives on ' +
        'the GPU is not possible under Node (WebGPU maps buffers asynchronously); read it with ' +
        '`await tensor.data()` or use another backend for this code');
    }
    return readSync.call(this, dataId);
  };
}
