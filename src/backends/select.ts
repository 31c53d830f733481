/**
 * Backend selection: the one place that decides what computes.
 *
 * Order for `auto`: GPU first (tfjs-node-gpu; WebGPU on a hardware adapter), then the fastest CPU backend
 * present (tfjs-node, the native libtorch addon), then WASM, and the pure-JS CPU backend last.
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError, PrecisionError } from '../errors';
import type { Precision } from './precision';
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
  const precision: Precision = opts.precision ?? 'fp32';
  // bf16 autocast lives in the libtorch backend's kernels only: `auto` then means libtorch, and any
  // other backend named is refused before it starts.
  if (precision !== 'fp32' && name !== 'auto' && !providers[name as BackendName].setPrecision) {
    throw new PrecisionError(`precision ${precision} is not available on the ${name} backend (it computes in float32 only); ` +
      'bf16 autocast runs on --backend libtorch, or use --precision fp32');
  }
  const candidates = name === 'auto' ? (precision === 'fp32' ? AUTO_ORDER : AUTO_ORDER.filter((n) => providers[n].setPrecision)) : [name as BackendName];
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
    info.precision = precision;
    active = { info, provider };
    return info;
  }
  if (precision !== 'fp32') {
    throw new PrecisionError(`precision ${precision} needs the libtorch backend (the only one with bf16 autocast), which is not available here` +
      (reasons.length ? ` (${reasons.join('; ')})` : '') + '; use --precision fp32');
  }
  throw new BackendError(`no compute backend available (${reasons.join('; ')})`);
}

/** The backend that runs now, if one was selected through selectBackend. */
export function activeBackend(): BackendInfo | undefined {
  return active?.info;
}

/**
 * Sets the compute precision of the backend selected through selectBackend (for a run whose backend
 * was chosen before its precision was known). fp32 on a backend without autocast is a no-op.
 */
export function setActivePrecision(precision: Precision): void {
  if (!active) {
    if (precision === 'fp32') return;
    throw new PrecisionError(`precision ${precision} needs a backend selected through Distillery (--backend libtorch); none is`);
  }
  if (!active.provider.setPrecision) {
    if (precision === 'fp32') return;
    throw new PrecisionError(`precision ${precision} is not available on the ${active.info.name} backend (it computes in float32 only); ` +
      'bf16 autocast runs on --backend libtorch, or use --precision fp32');
  }
  active.provider.setPrecision(precision);
  active.info.precision = precision;
  const base = active.info.description.replace(/, bf16 autocast\)$/, ')');
  active.info.description = precision === 'bf16' ? base.replace(/\)$/, ', bf16 autocast)') : base;
}

/** Stops worker threads / native pools so the process can exit. Safe to call twice. */
export async function shutdownBackend(): Promise<void> {
  const current = active;
  active = undefined;
  if (current?.provider.shutdown) await current.provider.shutdown();
}
