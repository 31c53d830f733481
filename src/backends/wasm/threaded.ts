/**
 * Builds TensorFlow.js's WASM backend from the threaded-SIMD build that ships inside
 * @tensorflow/tfjs-backend-wasm (`wasm-out/`), so that it runs multi-threaded under Node.
 *
 * Why not `tf.setBackend('wasm')` with the package defaults: its feature probe reports no thread support
 * whenever it runs under Node, and even when forced it hands the pthread worker script to
 * worker_threads as a blob: URL, which Node cannot load. Here the worker source is written to a real
 * file and the Emscripten `locateFile` hook points at it. The build sizes its thread pool from
 * `os.cpus().length / 2` while the module initialises (it assumes hyper-threading), so the cpu count it
 * sees is raised for that moment to honour the requested thread count.
 */
import * as fs from 'node:fs';
// The real module object (not an import namespace), so that `cpus` can be swapped for a moment.
import os = require('node:os');
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from '../../errors';

/** The Emscripten module object of the threaded build, as much of it as Distillery touches. */
export interface WasmModule {
  cwrap(name: string, ret: string | null, args: string[]): (...args: number[]) => unknown;
  PThread?: { terminateAllThreads(): void; unusedWorkers: unknown[]; runningWorkers: unknown[] };
  wasmMemory: { buffer: ArrayBufferLike };
  HEAPU8: Uint8Array;
  tfjs: {
    init(): void;
    initWithThreadsCount(n: number): void;
    getThreadsCount(): number;
    registerTensor(id: number, size: number, memoryOffset: number): void;
    disposeData(id: number): void;
    dispose(): void;
  };
}

type WasmFactory = (config: Record<string, unknown>) => Promise<WasmModule>;

function wasmOutDir(): string {
  const pkgJson = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  return path.join(path.dirname(pkgJson), 'wasm-out');
}

let workerFile: string | undefined;

/** Writes the pthread worker script to a real file once per process (worker_threads cannot load blob: URLs). */
function ensureWorkerFile(dir: string): string {
  if (workerFile && fs.existsSync(workerFile)) return workerFile;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { wasmWorkerContents } = require(path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  // The exported text is a template literal: its "\n" escapes became real newlines inside string
  // literals of the worker source; escape them back so the file parses.
  const source = wasmWorkerContents.replace(/\n/g, '\\n');
  const file = path.join(os.tmpdir(), `distillery-tfjs-wasm-worker-${tfwasm.version_wasm}-${process.pid}.js`);
  fs.writeFileSync(file, source);
  workerFile = file;
  return file;
}

/** Instantiates the threaded-SIMD Emscripten module with a thread pool of `threads` workers. */
export async function loadThreadedModule(threads: number): Promise<WasmModule> {
  const dir = wasmOutDir();
  const factoryPath = path.join(dir, 'tfjs-backend-wasm-threaded-simd.js');
  const wasmPath = path.join(dir, 'tfjs-backend-wasm-threaded-simd.wasm');
  if (!fs.existsSync(factoryPath) || !fs.existsSync(wasmPath)) {
    throw new BackendError(`the threaded-SIMD WASM build is missing from ${dir} (expected ` +
      `tfjs-backend-wasm-threaded-simd.js and .wasm; reinstall @tensorflow/tfjs-backend-wasm)`);
  }
  const worker = ensureWorkerFile(dir);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const factory = require(factoryPath) as WasmFactory;
  const realCpus = os.cpus;
  const cpus = realCpus.call(os);
  const wanted = Math.max(cpus.length, 2 * threads);
  // The module reads the cpu count while it initialises; it caps its pool at half of it.
  os.cpus = () => Array.from({ length: wanted }, (_, i) => cpus[i % cpus.length]);
  const listenersBefore = {
    uncaughtException: process.listeners('uncaughtException'),
    unhandledRejection: process.listeners('unhandledRejection'),
  };
  let module: WasmModule;
  try {
    module = await factory({
      locateFile(file: string, prefix: string): string {
        if (file.endsWith('.worker.js')) return worker;
        if (file.endsWith('.wasm')) return wasmPath;
        return prefix + file;
      },
      mainScriptUrlOrBlob: factoryPath,
    });
  } catch (err) {
    throw new BackendError(`could not instantiate the threaded WASM build: ${(err as Error)?.message ?? String(err)}`,
      { cause: err });
  } finally {
    os.cpus = realCpus;
    // The Emscripten glue installs process-wide handlers that rethrow every uncaught error (printing
    // the whole minified glue source with it); Distillery reports its own errors, so drop them.
    for (const l of process.listeners('uncaughtException')) {
      if (!listenersBefore.uncaughtException.includes(l)) process.removeListener('uncaughtException', l);
    }
    for (const l of process.listeners('unhandledRejection')) {
      if (!listenersBefore.unhandledRejection.includes(l)) process.removeListener('unhandledRejection', l);
    }
  }
  module.tfjs = {
    init: module.cwrap('init', null, []) as () => void,
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']) as (n: number) => void,
    getThreadsCount: module.cwrap('get_threads_count', 'number', []) as () => number,
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']) as
      (id: number, size: number, offset: number) => void,
    disposeData: module.cwrap('dispose_data', null, ['number']) as (id: number) => void,
    dispose: module.cwrap('dispose', null, []) as () => void,
  };
  return module;
}

/** Terminates the module's pthread workers (the backend's own dispose does this too). */
export function terminateThreads(module: WasmModule): void {
  module.PThread?.terminateAllThreads();
}

/**
 * Registers (or re-registers) the tfjs backend named `wasm` so that it is built from the threaded module.
 * Kernels registered for `wasm` (the package's and Distillery's) apply to it unchanged.
 */
export async function activateThreadedWasm(threads: number): Promise<{ backend: tfwasm.BackendWasm; threads: number; module: WasmModule }> {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new BackendError(`wasm: threads must be a positive integer, got ${threads}`);
  }
  const module = await loadThreadedModule(threads);
  tfwasm.setThreadsCount(threads);
  if (tf.engine().registryFactory.wasm) tf.removeBackend('wasm');
  let backend: tfwasm.BackendWasm | undefined;
  // The factory is synchronous: the module is already instantiated.
  tf.registerBackend('wasm', () => {
    backend = new tfwasm.BackendWasm(module as unknown as ConstructorParameters<typeof tfwasm.BackendWasm>[0]);
    return backend;
  }, 3);
  const ok = await tf.setBackend('wasm');
  if (!ok || !backend) {
    terminateThreads(module);
    throw new BackendError('wasm: the threaded backend failed to initialise');
  }
  return { backend, threads: tfwasm.getThreadsCount(), module };
}
