/**
 * WebGPU through Dawn (issue 8): TensorFlow.js's WebGPU backend (@tensorflow/tfjs-backend-webgpu) on the
 * GPU that Dawn's Node binding (the optional npm package `webgpu`, dawn.node) finds through Vulkan.
 *
 * Selection policy: `auto` takes WebGPU only when Dawn reports a hardware adapter. A software adapter
 * (Mesa's llvmpipe, SwiftShader: `GPUAdapterInfo.isFallbackAdapter`) is slower than the WASM backend
 * for training, so it is used only when asked for: `BackendOptions.allowSoftwareAdapter` or the
 * environment variable DISTILLERY_WEBGPU_ALLOW_SOFTWARE=1 (CI's conformance run uses it).
 *
 * Both packages are loaded lazily, when the provider is asked: importing this module has no effect on
 * TF.js (the WebGPU package would otherwise register itself with priority 3 as soon as `navigator.gpu`
 * exists) and needs neither package to be installed.
 *
 * Reading data back: WebGPU maps buffers asynchronously, and dawn.node completes a map only from the
 * event loop, so `tensor.data()` / `tensor.array()` work while `dataSync()` / `arraySync()` of a value
 * that lives on the GPU cannot; TF.js's own fallback for that needs a browser's OffscreenCanvas. Such a
 * read throws a BackendError that says so instead of failing inside TF.js.
 *
 * Device health: Dawn's `device.lost` and `uncapturederror` hooks are registered on the device this
 * provider creates; after a loss or an uncaptured GPU error (out of memory, validation, internal) the
 * next kernel or read throws a BackendError naming it, instead of computing on garbage.
 *
 * Set-up and docs: docs/gpu.md (Vulkan on NVIDIA, the software fallback, scripts/setup-vulkan-sw.sh).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../errors';
import type { BackendInfo, BackendOptions, BackendProvider } from './types';

/** Environment variable that allows a software adapter, like BackendOptions.allowSoftwareAdapter. */
export const WEBGPU_ALLOW_SOFTWARE_ENV = 'DISTILLERY_WEBGPU_ALLOW_SOFTWARE';

/** The TF.js backend name (the kernels of @tensorflow/tfjs-backend-webgpu are registered under it). */
export const WEBGPU_TF_BACKEND = 'webgpu';

// The subset of the WebGPU API used here, typed locally so that the build needs no WebGPU type package.
interface GpuAdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

interface GpuDeviceLostInfoLike {
  reason?: string;
  message?: string;
}

interface GpuErrorLike {
  message?: string;
  constructor?: { name?: string };
}

export interface GpuDeviceLike {
  readonly lost: Promise<GpuDeviceLostInfoLike>;
  readonly features: { has(name: string): boolean };
  addEventListener(type: 'uncapturederror', listener: (event: { error: GpuErrorLike }) => void): void;
  destroy(): void;
}

export interface GpuAdapterLike {
  readonly info?: GpuAdapterInfoLike;
  readonly isFallbackAdapter?: boolean;
  readonly features: { has(name: string): boolean };
  readonly limits: Record<string, number>;
  requestDevice(descriptor?: { requiredFeatures?: string[]; requiredLimits?: Record<string, number> }): Promise<GpuDeviceLike>;
}

export interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<GpuAdapterLike | null>;
}

/** What the `webgpu` package (dawn.node) exports. */
export interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

/** The GPU adapter Dawn offers, as this provider sees it. */
export interface WebGpuAdapterReport {
  /** e.g. "NVIDIA H100 80GB HBM3" or "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)". */
  name: string;
  vendor: string;
  architecture: string;
  /** True for a software (CPU-emulated) adapter: never selected automatically. */
  software: boolean;
  /** The limits that bound what TF.js can run (tensor size, workgroups). */
  limits: Record<string, number>;
}

/** Limits worth showing: the largest tensor is bounded by the first two. */
export const REPORTED_LIMITS = [
  'maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupsPerDimension',
] as const;

/** The constructor of TF.js's WebGPUBackend. */
export type WebGpuBackendClass = new (device: GpuDeviceLike, adapterInfo?: GpuAdapterInfoLike) => tf.KernelBackend;

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

/** The health of the device this provider created: set by Dawn's device-lost and uncaptured-error hooks. */
interface DeviceHealth {
  lost?: GpuDeviceLostInfoLike;
  error?: GpuErrorLike;
}

function healthError(health: DeviceHealth): BackendError | undefined {
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

/**
 * Makes the TF.js WebGPU backend fail clearly: every kernel dispatch and read first checks the device's
 * health, and a synchronous read of GPU data throws a BackendError instead of TF.js's canvas fallback.
 */
function guardBackend(backend: tf.KernelBackend, health: DeviceHealth): void {
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

let padPatched = false;

/**
 * TF.js 4.22's WebGPU PadV2 shader is invalid WGSL for rank 5 and 6 (it indexes its `vec5` struct like
 * a vector), and the gradient of a rank-5 slice is such a pad. Above rank 4 the pad is done one padded
 * axis at a time on a [before, axis, after] view, which the rank-3 shader handles.
 */
function patchHighRankPad(): void {
  if (padPatched) return;
  const original = tf.getKernel('PadV2', WEBGPU_TF_BACKEND);
  const reshape = tf.getKernel('Reshape', WEBGPU_TF_BACKEND);
  if (!original || !reshape) throw new BackendError('webgpu: @tensorflow/tfjs-backend-webgpu registered no PadV2/Reshape kernel');
  const padFn = original.kernelFunc;
  const reshapeFn = reshape.kernelFunc;
  tf.unregisterKernel('PadV2', WEBGPU_TF_BACKEND);
  tf.registerKernel({
    kernelName: 'PadV2',
    backendName: WEBGPU_TF_BACKEND,
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      const { paddings, constantValue } = args.attrs as { paddings: Array<[number, number]>; constantValue: number };
      if (x.shape.length <= 4) return padFn(args);
      const backend = args.backend as tf.KernelBackend;
      const run = (fn: tf.KernelFunc, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo =>
        fn({ inputs, backend, attrs }) as tf.TensorInfo;
      let current = x;
      let shape = x.shape.slice();
      paddings.forEach(([before, after], axis) => {
        if (before === 0 && after === 0) return;
        const outer = shape.slice(0, axis).reduce((p, q) => p * q, 1);
        const inner = shape.slice(axis + 1).reduce((p, q) => p * q, 1);
        const view = run(reshapeFn, { x: current }, { shape: [outer, shape[axis], inner] });
        const padded = run(padFn, { x: view }, { paddings: [[0, 0], [before, after], [0, 0]], constantValue });
        backend.disposeData(view.dataId);
        if (current !== x) backend.disposeData(current.dataId);
        shape = shape.slice();
        shape[axis] += before + after;
        current = padded;
      });
      const out = run(reshapeFn, { x: current }, { shape });
      if (current !== x) backend.disposeData(current.dataId);
      return out;
    },
  });
  padPatched = true;
}

let segmentSumPatched = false;

/**
 * TF.js 4.22's WebGPU UnsortedSegmentSum adds a row whose id is ≥ numSegments to segment
 * `id % numSegments`; every other backend (and TF) drops it, as it drops negative ids. Ids at or above
 * numSegments are mapped to −1 first, so the kernel drops them too (the shared kernel conformance suite
 * checks this case).
 */
function patchSegmentSumRange(): void {
  if (segmentSumPatched) return;
  const kernel = (name: string): tf.KernelFunc => {
    const k = tf.getKernel(name, WEBGPU_TF_BACKEND);
    if (!k) throw new BackendError(`webgpu: @tensorflow/tfjs-backend-webgpu registered no ${name} kernel`);
    return k.kernelFunc;
  };
  const segmentSum = kernel('UnsortedSegmentSum');
  const fill = kernel('Fill');
  const less = kernel('Less');
  const select = kernel('Select');
  tf.unregisterKernel('UnsortedSegmentSum', WEBGPU_TF_BACKEND);
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: WEBGPU_TF_BACKEND,
    kernelFunc: (args) => {
      const backend = args.backend as tf.KernelBackend;
      const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const { numSegments } = args.attrs as { numSegments: number };
      const run = (fn: tf.KernelFunc, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): tf.TensorInfo =>
        fn({ inputs, backend, attrs }) as tf.TensorInfo;
      const shape = segmentIds.shape;
      const limit = run(fill, {}, { shape, value: numSegments, dtype: segmentIds.dtype });
      const dropped = run(fill, {}, { shape, value: -1, dtype: segmentIds.dtype });
      const inRange = run(less, { a: segmentIds, b: limit });
      const ids = run(select, { condition: inRange, t: segmentIds, e: dropped });
      try {
        return segmentSum({ inputs: { x, segmentIds: ids }, backend, attrs: args.attrs });
      } finally {
        for (const t of [limit, dropped, inRange, ids]) backend.disposeData(t.dataId);
      }
    },
  });
  segmentSumPatched = true;
}

/** Distillery's WebGPU provider (Dawn's dawn.node from the `webgpu` package + TF.js's WebGPU backend). */
export const webgpuProvider = new WebGpuProvider();
