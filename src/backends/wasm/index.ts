/**
 * The WASM backend provider: TensorFlow.js's WASM backend built from its threaded-SIMD binary, with
 * Distillery's training kernels registered (see kernels/register.ts) and the thread count honoured.
 *
 * `init({ threads })` (default: all cores) may be called again with another thread count; tensors that
 * live on the previous `wasm` backend instance are lost then, so dispose them first. `shutdown()`
 * terminates the worker threads so the process can exit.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as os from 'node:os';
import type { BackendInfo, BackendOptions, BackendProvider } from '../types';
import { BackendError } from '../../errors';
import { activateThreadedWasm, type WasmModule } from './threaded';
import { registerWasmKernels, type WasmKernelSet } from './kernels/register';

export { groupNorm, groupNormComposite, type GroupNormOptions } from './fused';
export { registerWasmKernels, DISTILLERY_WASM_KERNELS, type WasmKernelSet } from './kernels/register';

let current: { module: WasmModule; threads: number } | undefined;
let kernelSet: WasmKernelSet = 'distillery';

/**
 * Chooses the kernel set the next `init` registers: `distillery` (default) or `package` (the package's
 * kernels plus only the missing training kernels; a baseline for benchmarks).
 */
export function setWasmKernelSet(set: WasmKernelSet): void {
  kernelSet = set;
}

function allCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Worker threads that keep running between kernels must not keep the process alive on their own. */
function unrefWorkers(module: WasmModule): void {
  const pool = module.PThread;
  if (!pool) return;
  for (const w of [...pool.runningWorkers, ...pool.unusedWorkers] as { unref?: () => void }[]) w.unref?.();
}

/** Starts (or restarts with a new thread count) the multi-threaded `wasm` backend and makes it current. */
export async function initWasmBackend(options: BackendOptions = {}): Promise<BackendInfo> {
  const threads = options.threads ?? allCores();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new BackendError(`wasm: threads must be a positive integer, got ${threads}`);
  }
  if (current) await shutdownWasmBackend();
  registerWasmKernels(kernelSet);
  const { threads: actual, module } = await activateThreadedWasm(threads);
  if (actual !== threads) {
    tf.removeBackend('wasm');
    throw new BackendError(`wasm: asked for ${threads} threads but the backend started ${actual}`);
  }
  unrefWorkers(module);
  current = { module, threads: actual };
  return {
    name: 'wasm',
    tfBackend: 'wasm',
    threads: actual,
    description: `wasm (SIMD, ${actual} thread${actual === 1 ? '' : 's'}, ` +
      `${kernelSet === 'distillery' ? 'Distillery training kernels' : 'package kernels + missing training kernels'})`,
  };
}

/** Disposes the `wasm` backend instance and terminates its worker threads. Safe to call twice. */
export async function shutdownWasmBackend(): Promise<void> {
  if (!current) return;
  current = undefined;
  // Disposing the backend instance terminates its pthreads; removing it also drops its tensors.
  if (tf.engine().registryFactory.wasm) tf.removeBackend('wasm');
}

/** Threads of the running `wasm` backend, or undefined when it is not started. */
export function wasmThreads(): number | undefined {
  return current?.threads;
}

export const wasmProvider: BackendProvider = {
  name: 'wasm',
  async available() {
    return typeof (globalThis as { WebAssembly?: unknown }).WebAssembly === 'object' && typeof SharedArrayBuffer === 'function';
  },
  init: initWasmBackend,
  shutdown: shutdownWasmBackend,
};
