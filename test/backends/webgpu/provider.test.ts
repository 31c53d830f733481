/**
 * The WebGPU provider's selection policy and reporting, over fake Dawn modules (so that it runs the same
 * on every machine, with or without a GPU or a Vulkan driver). The real adapter, kernels and device
 * hooks are exercised by the *.webgpu.ts suites (`npm run test:webgpu`, run by CI on Mesa's llvmpipe).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../../../src/errors';
import {
  WEBGPU_ALLOW_SOFTWARE_ENV, WebGpuProvider, describeAdapter, findVulkanLoader, formatAdapterLine, softwareAdapterAllowed,
  type DawnModule, type GpuAdapterLike, type WebGpuLoaders,
} from '../../../src/backends/webgpu';

const H100_LIMITS = {
  maxBufferSize: 2 ** 40, maxStorageBufferBindingSize: 2 ** 32 - 4, maxComputeWorkgroupStorageSize: 32768,
  maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 1024, maxComputeWorkgroupsPerDimension: 65535,
  maxBindGroups: 4,
};

function fakeAdapter(info: GpuAdapterLike['info'], limits: Record<string, number> = H100_LIMITS): GpuAdapterLike {
  return {
    info, limits, features: { has: () => false },
    requestDevice: async () => { throw new Error('fake adapters make no device'); },
  };
}

const hardware = fakeAdapter({ vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H100 80GB HBM3', isFallbackAdapter: false });
const software = fakeAdapter({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)', isFallbackAdapter: true });

function loaders(adapter: GpuAdapterLike | null | 'missing', env: NodeJS.ProcessEnv = {}, vulkan: boolean | undefined = true): WebGpuLoaders & { tfjsLoads: number; dawnLoads: number } {
  const l = {
    tfjsLoads: 0,
    dawnLoads: 0,
    env,
    vulkanLoaderFound: () => vulkan,
    loadDawn(): DawnModule {
      l.dawnLoads++;
      if (adapter === 'missing') throw new Error("Cannot find module 'webgpu'\nRequire stack: …");
      return { globals: {}, create: () => ({ requestAdapter: async () => adapter }) };
    },
    loadTfjsWebGpu(): never {
      l.tfjsLoads++;
      throw new Error('not loaded in these tests');
    },
  };
  return l;
}

async function rejectsWith(p: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof BackendError, `a BackendError, found ${String(err)}`);
    assert.equal(err.message, message);
    return true;
  });
}

describe('backends/webgpu provider', () => {
  it('importing the module registers nothing with TF.js', () => {
    assert.equal(tf.findBackend('webgpu'), null);
    assert.equal(tf.getKernel('PadV2', 'webgpu'), undefined);
  });

  it('a hardware adapter is available without options', async () => {
    assert.equal(await new WebGpuProvider(loaders(hardware)).available({}), true);
  });

  it('a software adapter is refused unless allowed, and says how to allow it', async () => {
    const message = 'the only WebGPU adapter is a software one ("llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)"), which is never ' +
      'chosen automatically (slower than the wasm backend); set DISTILLERY_WEBGPU_ALLOW_SOFTWARE=1 or ' +
      'BackendOptions.allowSoftwareAdapter to use it anyway';
    await rejectsWith(new WebGpuProvider(loaders(software)).available({}), message);
    // init refuses before loading TF.js's WebGPU package or touching the active backend.
    const l = loaders(software);
    const active = tf.getBackend();
    await rejectsWith(new WebGpuProvider(l).init({}), message);
    assert.equal(l.tfjsLoads, 0);
    assert.equal(tf.getBackend(), active);
    assert.equal(await new WebGpuProvider(loaders(software)).available({ allowSoftwareAdapter: true }), true);
    assert.equal(await new WebGpuProvider(loaders(software, { [WEBGPU_ALLOW_SOFTWARE_ENV]: '1' })).available({}), true);
    // An explicit option wins over the environment.
    await rejectsWith(new WebGpuProvider(loaders(software, { [WEBGPU_ALLOW_SOFTWARE_ENV]: '1' })).available({ allowSoftwareAdapter: false }), message);
  });

  it('the environment variable takes 1 or 0 only', () => {
    assert.equal(softwareAdapterAllowed({}, {}), false);
    assert.equal(softwareAdapterAllowed({}, { [WEBGPU_ALLOW_SOFTWARE_ENV]: '0' }), false);
    assert.equal(softwareAdapterAllowed({}, { [WEBGPU_ALLOW_SOFTWARE_ENV]: '1' }), true);
    assert.throws(() => softwareAdapterAllowed({}, { [WEBGPU_ALLOW_SOFTWARE_ENV]: 'yes' }),
      { name: 'BackendError', message: 'DISTILLERY_WEBGPU_ALLOW_SOFTWARE must be 1 or 0, found "yes"' });
  });

  it('no adapter, or no Dawn package: unavailable with the reason', async () => {
    await rejectsWith(new WebGpuProvider(loaders(null)).available({}),
      'Dawn (WebGPU) found no GPU adapter (it needs the Vulkan loader libvulkan.so.1 and a Vulkan driver; see docs/gpu.md)');
    await rejectsWith(new WebGpuProvider(loaders('missing')).available({}),
      'the optional package "webgpu" (Dawn\'s Node binding for WebGPU) is not installed or cannot be loaded: ' +
      "Cannot find module 'webgpu'");
  });

  it('without the Vulkan loader, Dawn is not even loaded (it would print a warning on every start)', async () => {
    const l = loaders(hardware, {}, false);
    await rejectsWith(new WebGpuProvider(l).available({}),
      'Dawn (WebGPU) needs the Vulkan loader libvulkan.so.1, which the dynamic loader cannot find (Debian/Ubuntu: ' +
      "apt-get install libvulkan1, plus the GPU driver's Vulkan ICD; see docs/gpu.md)");
    assert.equal(l.dawnLoads, 0);
    // Where the loader is not checked (not Linux), Dawn decides.
    assert.equal(await new WebGpuProvider(loaders(hardware, {}, undefined)).available({}), true);
  });

  it('findVulkanLoader looks in LD_LIBRARY_PATH and in the loader cache', function () {
    if (process.platform !== 'linux') {
      assert.equal(findVulkanLoader({}), undefined);
      return;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vk-'));
    try {
      const cache = path.join(dir, 'ld.so.cache');
      fs.writeFileSync(cache, Buffer.from('glibc-ld.so.cache1.1\0libm.so.6\0/lib/libm.so.6\0'));
      assert.equal(findVulkanLoader({}, cache), false);
      assert.equal(findVulkanLoader({}, path.join(dir, 'absent')), undefined);
      fs.writeFileSync(cache, Buffer.from('glibc-ld.so.cache1.1\0libvulkan.so.1\0/usr/lib/x86_64-linux-gnu/libvulkan.so.1\0'));
      assert.equal(findVulkanLoader({}, cache), true);
      const libs = path.join(dir, 'lib');
      fs.mkdirSync(libs);
      fs.writeFileSync(path.join(libs, 'libvulkan.so.1'), '');
      assert.equal(findVulkanLoader({ LD_LIBRARY_PATH: `/nonexistent:${libs}` }, path.join(dir, 'absent')), true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('describes the adapter: name, software or not, the limits that bound tensor sizes', () => {
    const report = describeAdapter(hardware);
    assert.deepEqual(report, {
      name: 'NVIDIA H100 80GB HBM3', vendor: 'nvidia', architecture: 'hopper', software: false,
      limits: {
        maxBufferSize: 2 ** 40, maxStorageBufferBindingSize: 2 ** 32 - 4, maxComputeWorkgroupStorageSize: 32768,
        maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 1024, maxComputeWorkgroupsPerDimension: 65535,
      },
    });
    assert.equal(formatAdapterLine(report),
      'webgpu (Dawn; hardware adapter "NVIDIA H100 80GB HBM3", vendor nvidia; maxBufferSize 1024 GiB, ' +
      'maxStorageBufferBindingSize 4.0 GiB, maxComputeWorkgroupStorageSize 32 KiB, maxComputeInvocationsPerWorkgroup 1024, ' +
      'maxComputeWorkgroupSizeX 1024, maxComputeWorkgroupsPerDimension 65535)');
    assert.equal(describeAdapter(software).software, true);
    // Older Dawn builds put isFallbackAdapter on the adapter rather than on its info.
    assert.equal(describeAdapter({ ...fakeAdapter({ description: 'SwiftShader' }), isFallbackAdapter: true }).software, true);
    assert.equal(describeAdapter(fakeAdapter({ vendor: 'intel' }, {})).name, 'intel');
  });
});
