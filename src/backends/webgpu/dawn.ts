/** The subset of the WebGPU API (Dawn's dawn.node) this backend uses, typed locally, and its constants. */
import type * as tf from '@tensorflow/tfjs-core';

/** Environment variable that allows a software adapter, like BackendOptions.allowSoftwareAdapter. */
export const WEBGPU_ALLOW_SOFTWARE_ENV = 'DISTILLERY_WEBGPU_ALLOW_SOFTWARE';

/** The TF.js backend name (the kernels of @tensorflow/tfjs-backend-webgpu are registered under it). */
export const WEBGPU_TF_BACKEND = 'webgpu';

// The subset of the WebGPU API used here, typed locally so that the build needs no WebGPU type package.
export interface GpuAdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

export interface GpuDeviceLostInfoLike {
  reason?: string;
  message?: string;
}

export interface GpuErrorLike {
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

