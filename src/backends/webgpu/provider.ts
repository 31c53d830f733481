/** The WebGPU provider: finds Dawn's adapter, applies the selection policy, creates and guards the TF.js backend. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../../errors';
import type { BackendInfo, BackendOptions, BackendProvider } from '../types';
import {
  REPORTED_LIMITS, WEBGPU_ALLOW_SOFTWARE_ENV, WEBGPU_TF_BACKEND, type DawnModule, type GpuAdapterLike,
  type GpuDeviceLike, type GpuLike, type WebGpuAdapterReport, type WebGpuBackendClass,
} from './dawn';
import { guardBackend, healthError, type DeviceHealth } from './device-health';
import { patchHighRankPad, patchSegmentSumRange } from './tfjs-patches';

/** How the provider reaches Dawn and TF.js's WebGPU package; tests replace them. */
export interface WebGpuLoaders {
  loadDawn(): DawnModule;
  /** Loads @tensorflow/tfjs-backend-webgpu (registering its kernels) and returns its WebGPUBackend class. */
  loadTfjsWebGpu(): WebGpuBackendClass;
  /** Whether the dynamic loader can find libvulkan.so.1 (Linux), or undefined where that is not checked. */
  vulkanLoaderFound(): boolean | undefined;
  env: NodeJS.ProcessEnv;
}

/**
 * Whether `libvulkan.so.1` is in LD_LIBRARY_PATH or in the dynamic loader's cache (/etc/ld.so.cache
 * names every library ldconfig knows). Checked before Dawn is loaded: without the loader Dawn finds no
 * adapter and prints a warning to stderr on every start, which `auto` should not cause on a CPU machine.
 */
export function findVulkanLoader(env: NodeJS.ProcessEnv = process.env, ldCache = '/etc/ld.so.cache'): boolean | undefined {
  if (process.platform !== 'linux') return undefined;
  for (const dir of (env.LD_LIBRARY_PATH ?? '').split(':')) {
    if (dir && fs.existsSync(path.join(dir, 'libvulkan.so.1'))) return true;
  }
  try {
    return fs.readFileSync(ldCache).includes('libvulkan.so.1');
  } catch {
    return undefined;
  }
}

const defaultLoaders: WebGpuLoaders = {
  loadDawn() {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('webgpu') as DawnModule;
  },
  loadTfjsWebGpu() {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('@tensorflow/tfjs-backend-webgpu') as { WebGPUBackend: WebGpuBackendClass };
    return mod.WebGPUBackend;
  },
  vulkanLoaderFound: () => findVulkanLoader(process.env),
  env: process.env,
};

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function formatBytes(n: number): string {
  const units: Array<[number, string]> = [[2 ** 30, 'GiB'], [2 ** 20, 'MiB'], [2 ** 10, 'KiB']];
  for (const [size, unit] of units) {
    if (n >= size) {
      const v = n / size;
      return `${Number.isInteger(v) ? v : v.toFixed(1)} ${unit}`;
    }
  }
  return `${n} B`;
}

/** Describes an adapter: name, vendor, software or not, and REPORTED_LIMITS. */
export function describeAdapter(adapter: GpuAdapterLike): WebGpuAdapterReport {
  const info = adapter.info ?? {};
  const name = (info.description || info.device || info.vendor || 'unnamed adapter').trim();
  const limits: Record<string, number> = {};
  for (const key of REPORTED_LIMITS) {
    const v = adapter.limits[key];
    if (typeof v === 'number') limits[key] = v;
  }
  return {
    name,
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    software: info.isFallbackAdapter === true || adapter.isFallbackAdapter === true,
    limits,
  };
}

/** One line for BackendInfo.description: adapter name, kind, and the limits. */
export function formatAdapterLine(report: WebGpuAdapterReport): string {
  const limits = Object.entries(report.limits)
    .map(([k, v]) => `${k} ${/Size$/.test(k) && k !== 'maxComputeWorkgroupSizeX' ? formatBytes(v) : v}`)
    .join(', ');
  return `webgpu (Dawn; ${report.software ? 'software' : 'hardware'} adapter "${report.name}"` +
    `${report.vendor ? `, vendor ${report.vendor}` : ''}; ${limits})`;
}

/** True when the options or the environment allow a software adapter. */
export function softwareAdapterAllowed(options: BackendOptions, env: NodeJS.ProcessEnv = process.env): boolean {
  if (options.allowSoftwareAdapter !== undefined) return options.allowSoftwareAdapter;
  const v = env[WEBGPU_ALLOW_SOFTWARE_ENV];
  if (v === undefined || v === '' || v === '0') return false;
  if (v === '1') return true;
  throw new BackendError(`${WEBGPU_ALLOW_SOFTWARE_ENV} must be 1 or 0, found "${v}"`);
}


interface ActiveDevice {
  device: GpuDeviceLike;
  backend: tf.KernelBackend;
  health: DeviceHealth;
  report: WebGpuAdapterReport;
}

/**
 * A WebGPU provider over the given loaders. `webgpuProvider` is the one Distillery uses; tests build
 * others over fake adapters to check the selection policy.
 */
export class WebGpuProvider implements BackendProvider {
  readonly name = 'webgpu' as const;
  private dawn: DawnModule | undefined;
  private gpu: GpuLike | undefined;
  private active: ActiveDevice | undefined;

  constructor(private readonly loaders: WebGpuLoaders = defaultLoaders) {}

  /** The adapter Dawn offers (high-performance preference), or a BackendError saying why there is none. */
  async probe(): Promise<{ adapter: GpuAdapterLike; report: WebGpuAdapterReport }> {
    if (!this.gpu) {
      if (this.loaders.vulkanLoaderFound() === false) {
        throw new BackendError('Dawn (WebGPU) needs the Vulkan loader libvulkan.so.1, which the dynamic loader cannot ' +
          'find (Debian/Ubuntu: apt-get install libvulkan1, plus the GPU driver\'s Vulkan ICD; see docs/gpu.md)');
      }
      try {
        this.dawn = this.loaders.loadDawn();
      } catch (err) {
        throw new BackendError('the optional package "webgpu" (Dawn\'s Node binding for WebGPU) is not installed or ' +
          `cannot be loaded: ${errorText(err).split('\n')[0]}`, { cause: err });
      }
      this.gpu = this.dawn.create([]);
    }
    let adapter: GpuAdapterLike | null;
    try {
      adapter = await this.gpu.requestAdapter({ powerPreference: 'high-performance' });
    } catch (err) {
      throw new BackendError(`Dawn (WebGPU) could not enumerate adapters: ${errorText(err)}`, { cause: err });
    }
    if (!adapter) {
      throw new BackendError('Dawn (WebGPU) found no GPU adapter (it needs the Vulkan loader libvulkan.so.1 and a ' +
        'Vulkan driver; see docs/gpu.md)');
    }
    return { adapter, report: describeAdapter(adapter) };
  }

  async available(options: BackendOptions): Promise<boolean> {
    const { report } = await this.probe();
    this.refuseSoftware(report, options);
    return true;
  }

  async init(options: BackendOptions): Promise<BackendInfo> {
    const { adapter, report } = await this.probe();
    this.refuseSoftware(report, options);
    await this.shutdown();
    const WebGPUBackend = this.loadTfjs();
    const device = await this.requestDevice(adapter);
    const health: DeviceHealth = {};
    device.lost.then((info) => { health.lost = info; }, () => undefined);
    device.addEventListener('uncapturederror', (event) => { health.error ??= event.error; });
    let backend: tf.KernelBackend;
    try {
      backend = new WebGPUBackend(device, adapter.info);
    } catch (err) {
      device.destroy();
      throw new BackendError(`webgpu: the TF.js WebGPU backend failed to start: ${errorText(err)}`, { cause: err });
    }
    guardBackend(backend, health);
    if (tf.findBackend(WEBGPU_TF_BACKEND)) tf.removeBackend(WEBGPU_TF_BACKEND);
    // Priority 0: TF.js never picks it by itself; selectBackend does.
    tf.registerBackend(WEBGPU_TF_BACKEND, () => backend, 0);
    this.active = { device, backend, health, report };
    const ok = await tf.setBackend(WEBGPU_TF_BACKEND);
    if (!ok) {
      await this.shutdown();
      throw new BackendError('webgpu: tf.setBackend("webgpu") failed');
    }
    await tf.ready();
    return { name: 'webgpu', tfBackend: WEBGPU_TF_BACKEND, threads: 1, description: formatAdapterLine(report) };
  }

  /** The adapter in use, while this provider's backend is initialised. */
  get adapter(): WebGpuAdapterReport | undefined {
    return this.active?.report;
  }

  /** The device in use (to inspect limits or, in tests, to provoke a loss). */
  get device(): GpuDeviceLike | undefined {
    return this.active?.device;
  }

  /** Throws the BackendError of a lost or failed device, if any. */
  checkDevice(): void {
    const err = this.active && healthError(this.active.health);
    if (err) throw err;
  }

  /** Removes the TF.js backend (freeing its buffers), destroys the device, and lets the process exit. */
  async shutdown(): Promise<void> {
    const current = this.active;
    this.active = undefined;
    if (!current) return;
    if (tf.findBackend(WEBGPU_TF_BACKEND)) tf.removeBackend(WEBGPU_TF_BACKEND);
    current.device.destroy();
    // dawn.node keeps the process alive while navigator.gpu holds its GPU object.
    const nav = (globalThis as Record<string, unknown>).navigator as Record<string, unknown> | undefined;
    if (nav && nav.gpu === this.gpu) delete nav.gpu;
  }

  private refuseSoftware(report: WebGpuAdapterReport, options: BackendOptions): void {
    if (report.software && !softwareAdapterAllowed(options, this.loaders.env)) {
      throw new BackendError(`the only WebGPU adapter is a software one ("${report.name}"), which is never chosen ` +
        `automatically (slower than the wasm backend); set ${WEBGPU_ALLOW_SOFTWARE_ENV}=1 or ` +
        'BackendOptions.allowSoftwareAdapter to use it anyway');
    }
  }

  private loadTfjs(): WebGpuBackendClass {
    // The package registers its own backend factory only where `navigator.gpu` exists when it is loaded;
    // it is loaded before navigator.gpu is set, so only its kernels register and the factory is ours.
    let cls: WebGpuBackendClass;
    try {
      cls = this.loaders.loadTfjsWebGpu();
    } catch (err) {
      throw new BackendError('webgpu: @tensorflow/tfjs-backend-webgpu cannot be loaded: ' +
        errorText(err).split('\n')[0], { cause: err });
    }
    patchHighRankPad();
    patchSegmentSumRange();
    // TF.js's WebGPU code reads navigator.gpu and the GPU* constants (GPUBufferUsage, …) as globals.
    const g = globalThis as Record<string, unknown>;
    for (const [k, v] of Object.entries(this.dawn!.globals)) if (!(k in g)) g[k] = v;
    const nav = (g.navigator ??= {}) as Record<string, unknown>;
    if (nav.gpu !== this.gpu) Object.defineProperty(nav, 'gpu', { value: this.gpu, configurable: true, writable: true });
    return cls;
  }

  private async requestDevice(adapter: GpuAdapterLike): Promise<GpuDeviceLike> {
    // The adapter's own maxima, as TF.js's WebGPU package asks for them (the defaults are far lower:
    // 128 MiB storage bindings would cap a tensor at 32M floats).
    const requiredLimits: Record<string, number> = {};
    for (const key of ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize',
      'maxBufferSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup']) {
      if (typeof adapter.limits[key] === 'number') requiredLimits[key] = adapter.limits[key];
    }
    const requiredFeatures = adapter.features.has('timestamp-query') ? ['timestamp-query'] : [];
    try {
      return await adapter.requestDevice({ requiredFeatures, requiredLimits });
    } catch (err) {
      throw new BackendError(`webgpu: the adapter refused a device: ${errorText(err)}`, { cause: err });
    }
  }
}

/** Distillery's WebGPU provider (Dawn's dawn.node from the `webgpu` package + TF.js's WebGPU backend). */
export const webgpuProvider = new WebGpuProvider();

