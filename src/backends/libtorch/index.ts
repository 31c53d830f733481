/**
 * The native libtorch backend provider (issue 5): a TF.js backend named `libtorch` whose kernels are
 * ATen's (oneDNN convolutions, OpenBLAS matmuls), loaded from the addon that `npm ci` builds when
 * libtorch is installed (Debian/Ubuntu: `apt-get install libtorch-dev libopenblas0-openmp`).
 *
 * When the addon is missing, `available()` throws a BackendError whose message says why; selectBackend
 * records that reason and, in `auto` mode, falls through to the next backend (WASM).
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../../errors';
import type { BackendInfo, BackendOptions, BackendProvider } from '../types';
import { LIBTORCH_BACKEND_NAME, LibtorchBackend } from './backend';
import { libtorchKernelConfigs, LIBTORCH_KERNEL_NAMES } from './kernels';
import { loadAddon, ompWaitPolicy } from './native';
import { checkNativeBf16, type Precision } from '../precision';
import * as os from 'node:os';

export { LibtorchBackend, LIBTORCH_BACKEND_NAME } from './backend';
export { LIBTORCH_KERNEL_NAMES } from './kernels';

let registered = false;
let instance: LibtorchBackend | undefined;
let requestedThreads = 1;

function allCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Why the libtorch backend cannot run here, or undefined when it can. */
export function libtorchUnavailableReason(): string | undefined {
  return loadAddon().reason;
}

/**
 * Registers the `libtorch` TF.js backend and its kernels (once per process) without activating it.
 * Returns false (with nothing registered) when the addon cannot be loaded.
 */
export function registerLibtorchBackend(threads: number = allCores()): boolean {
  const { addon } = loadAddon();
  if (!addon) return false;
  requestedThreads = threads;
  if (instance) instance.setThreads(threads);
  if (registered) return true;
  for (const config of libtorchKernelConfigs()) tf.registerKernel(config);
  // Priority 0: TF.js never picks it on its own; Distillery's selectBackend does.
  tf.registerBackend(LIBTORCH_BACKEND_NAME, () => {
    instance = new LibtorchBackend(addon, requestedThreads);
    return instance;
  }, 0);
  registered = true;
  return true;
}

export const libtorchProvider: BackendProvider = {
  name: 'libtorch',
  async available() {
    const reason = libtorchUnavailableReason();
    // selectBackend prefixes the backend name when it reports this reason.
    if (reason) throw new BackendError(reason);
    return true;
  },
  async init(options: BackendOptions): Promise<BackendInfo> {
    const threads = options.threads ?? allCores();
    const precision = options.precision ?? 'fp32';
    if (precision === 'bf16') checkNativeBf16();
    if (!registerLibtorchBackend(threads)) throw new BackendError(`libtorch: ${libtorchUnavailableReason()}`);
    const ok = await tf.setBackend(LIBTORCH_BACKEND_NAME);
    if (!ok || !instance) throw new BackendError('libtorch: the TF.js backend failed to initialise');
    await tf.ready();
    const actual = instance.threads();
    instance.setPrecision(precision);
    return {
      name: 'libtorch',
      tfBackend: LIBTORCH_BACKEND_NAME,
      threads: actual,
      description: `libtorch (ATen native, ${actual} thread${actual === 1 ? '' : 's'}${waitNote()}, ${LIBTORCH_KERNEL_NAMES.length} kernels${precision === 'bf16' ? ', bf16 autocast' : ''})`,
    };
  },
  setPrecision(precision: Precision) {
    if (!instance) throw new BackendError('libtorch: the backend is not initialised');
    if (precision === 'bf16') checkNativeBf16();
    instance.setPrecision(precision);
  },
};

/** How the OpenMP threads wait, for the backend description. */
function waitNote(): string {
  switch (ompWaitPolicy()) {
    case 'spin': return ', spin-waiting';
    case 'passive': return ', passive waiting (cores busy at start)';
    case 'user': return ', OMP wait policy from the environment';
    default: return '';
  }
}
