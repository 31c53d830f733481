/**
 * Compute backends. Each provider knows whether it can run here and how to initialise itself; the
 * selection order lives in one place (select.ts).
 */
import type { Precision } from './precision';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'webgpu' | 'libtorch' | 'wasm' | 'cpu';

export interface BackendOptions {
  /** Worker / intra-op threads; default: all cores (os.availableParallelism()). */
  threads?: number;
  /** Allow a software (non-hardware) GPU adapter (WebGPU); never chosen automatically. */
  allowSoftwareAdapter?: boolean;
  /** Compute precision (default fp32); bf16 autocast only on libtorch with native bf16 (precision.ts). */
  precision?: Precision;
}

export interface BackendInfo {
  name: BackendName;
  /** The tfjs backend name registered with tf.setBackend. */
  tfBackend: string;
  threads: number;
  /** One line for the user, e.g. "wasm (SIMD, 2 threads)". */
  description: string;
  /** The compute precision in effect (selectBackend fills it in; fp32 when absent). */
  precision?: Precision;
}

export interface BackendProvider {
  readonly name: BackendName;
  /** True when this backend can be used on this machine (package present, library loadable, device found). */
  available(options: BackendOptions): Promise<boolean>;
  /** Registers and activates the backend (tf.setBackend) and returns what runs. */
  init(options: BackendOptions): Promise<BackendInfo>;
  /** Switches the precision of the running backend (only providers with bf16 autocast have it). */
  setPrecision?(precision: Precision): void;
  /** Releases threads/devices so the process can exit. */
  shutdown?(): Promise<void>;
}
