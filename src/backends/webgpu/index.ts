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
 * Files: provider.ts (the provider and selection policy), dawn.ts (the WebGPU API subset, constants),
 * device-health.ts (device-lost / GPU-error guard), tfjs-patches.ts (fixes to TF.js 4.22's WebGPU kernels).
 *
 * Set-up and docs: docs/gpu.md (Vulkan on NVIDIA, the software fallback, scripts/setup-vulkan-sw.sh).
 */
export {
  WEBGPU_ALLOW_SOFTWARE_ENV, WEBGPU_TF_BACKEND, REPORTED_LIMITS,
  type GpuDeviceLike, type GpuAdapterLike, type GpuLike, type DawnModule, type WebGpuAdapterReport, type WebGpuBackendClass,
} from './dawn';
export {
  WebGpuProvider, webgpuProvider, findVulkanLoader, describeAdapter, formatAdapterLine, softwareAdapterAllowed,
  type WebGpuLoaders,
} from './provider';
