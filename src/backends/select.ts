/**
 * Backend selection: the one place that decides what computes.
 *
 * Order for `auto`: GPU first (tfjs-node-gpu; WebGPU on a hardware adapter), then the fastest CPU backend
 * present (tfjs-node, the native libtorch addon), then WASM, and the pure-JS CPU backend last.
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../errors';
import type { BackendInfo, BackendName, BackendOptions, BackendProvider } from './types';
import { tensorflowGpuProvider, tensorflowProvider } from './tfjs-node';
import { cpuProvider, silenceCpuBackendGreeting } from './cpu';
import { wasmProvider } from './wasm';
import { libtorchProvider } from './libtorch';
import { webgpuProvider } from './webgpu';

export const AUTO_ORDER: readonly BackendName[] = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'libtorch', 'wasm', 'cpu'];

const providers: Record<BackendName, BackendProvider> = {
  'tensorflow-gpu': tensorflowGpuProvider,
  tensorflow: tensorflowProvider,
  webgpu: webgpuProvider,
  libtorch: libtorchProvider,
  wasm: wasmProvider,
  cpu: cpuProvider,
};

export const BACKEND_CHOICES: readonly string[] = ['auto', ...AUTO_ORDER];

let active: { info: BackendInfo; provider: BackendProvider } | undefined;

export function defaultThreads(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/**
 * Selects and initialises a backend. `auto` walks AUTO_ORDER and takes the first available one; a named
 * backend that is not available is an error (never a silent fallback).
 */
export async function selectBackend(name: string = 'auto', options: BackendOptions = {}): Promise<BackendInfo> {
  const opts: BackendOptions = { ...options, threads: options.threads ?? defaultThreads() };
  // Before any backend computes: the CPU backend also holds tensors created before a selection.
  silenceCpuBackendGreeting();
  if (name !== 'auto' && !(name in providers)) {
    throw new BackendError(`unknown backend "${name}"; choose one of: ${BACKEND_CHOICES.join(', ')}`);
  }
  const candidates = name === 'auto' ? AUTO_ORDER : [name as BackendName];
  const reasons: string[] = [];
  for (const candidate of candidates) {
    const provider = providers[candidate];
    let ok = false;
    try {
      ok = await provider.available(opts);
    } catch (err) {
      reasons.push(`${candidate}: ${(err as Error).message}`);
    }
    if (!ok) {
      if (name !== 'auto') {
        throw new BackendError(`backend "${candidate}" is not available on this machine` +
          (reasons.length ? ` (${reasons.join('; ')})` : '') + '; use --backend auto to pick the best available one');
      }
      continue;
    }
    if (active && active.info.name !== candidate) await shutdownBackend();
    const info = await provider.init(opts);
    if (tf.getBackend() !== info.tfBackend) {
      throw new BackendError(`backend "${candidate}" initialised but tf.getBackend() is "${tf.getBackend()}"`);
    }
    active = { info, provider };
    return info;
  }
  throw new BackendError(`no compute backend available (${reasons.join('; ')})`);
}

/** The backend that runs now, if one was selected through selectBackend. */
export function activeBackend(): BackendInfo | undefined {
  return active?.info;
}

/** Stops worker threads / native pools so the process can exit. Safe to call twice. */
export async function shutdownBackend(): Promise<void> {
  const current = active;
  active = undefined;
  if (current?.provider.shutdown) await current.provider.shutdown();
}
