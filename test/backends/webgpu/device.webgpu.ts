/**
 * The WebGPU provider on a real Dawn adapter: what it reports, the software-adapter policy, reads, and
 * the BackendErrors raised after Dawn's uncaptured-error and device-lost hooks fire. Needs a WebGPU
 * adapter (`npm run test:webgpu` runs it on Mesa's llvmpipe, see docs/gpu.md).
 */
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../../src/backends';
import { webgpuProvider } from '../../../src/backends/webgpu';
import { BackendError } from '../../../src/errors';
import { leaveWebGpu, useWebGpu } from './compare';

/** The parts of GPUDevice these tests use beyond the provider's own view of it. */
interface DeviceForTests {
  createBuffer(descriptor: { size: number; usage: number }): unknown;
  dispatchEvent(event: unknown): boolean;
  destroy(): void;
}

const device = (): DeviceForTests => webgpuProvider.device as unknown as DeviceForTests;

/** Lets Dawn deliver its callbacks (errors and device loss arrive through the event loop). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 20));
}

function assertBackendError(f: () => unknown, pattern: RegExp): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof BackendError, `a BackendError, found ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('backends/webgpu on a Dawn adapter', function () {
  this.timeout(120_000);
  afterEach(leaveWebGpu);

  it('reports the adapter name, its kind and limits', async () => {
    const info = await useWebGpu();
    const report = webgpuProvider.adapter!;
    assert.equal(info.name, 'webgpu');
    assert.equal(info.tfBackend, 'webgpu');
    assert.equal(tf.getBackend(), 'webgpu');
    assert.ok(report.name.length > 0);
    assert.ok(report.limits.maxBufferSize >= 256 * 2 ** 20, `maxBufferSize ${report.limits.maxBufferSize}`);
    assert.ok(info.description.startsWith(`webgpu (Dawn; ${report.software ? 'software' : 'hardware'} adapter "${report.name}"`), info.description);
    assert.match(info.description, /maxBufferSize \d+(\.\d)? [GM]iB, maxStorageBufferBindingSize \d+(\.\d)? [GM]iB/);
  });

  it('a software adapter is refused without the option, and auto never picks it', async () => {
    const report = (await webgpuProvider.probe()).report;
    if (!report.software) {
      // On a GPU machine the hardware adapter is selected without options.
      assert.equal(await webgpuProvider.available({ allowSoftwareAdapter: false }), true);
      return;
    }
    await assert.rejects(selectBackend('webgpu', { allowSoftwareAdapter: false }),
      /backend "webgpu" is not available on this machine \(webgpu: the only WebGPU adapter is a software one \("llvmpipe/);
    // auto never lands on it.
    const auto = await selectBackend('auto', { allowSoftwareAdapter: false, threads: 1 });
    assert.notEqual(auto.name, 'webgpu');
  });

  it('reads: data() works; dataSync() of GPU data throws a BackendError; CPU-resident values read synchronously', async () => {
    await useWebGpu();
    const a = tf.tensor1d([1, 2, 3]);
    assert.deepEqual(Array.from(a.dataSync()), [1, 2, 3]);
    // 2000 elements: above TF.js's CPU hand-off size (1000), so the product is computed on the GPU.
    const b = tf.mul(tf.range(0, 2000), tf.scalar(2));
    assertBackendError(() => b.dataSync(), /^webgpu: a synchronous read \(dataSync\/arraySync\/bufferSync\) of a tensor that lives on the GPU is not possible under Node .* `await tensor\.data\(\)`/);
    const values = await b.data();
    assert.deepEqual([values[0], values[1], values[1999]], [0, 2, 3998]);
    // Once read, the values are cached on the CPU and a synchronous read is fine.
    assert.equal(b.dataSync()[1999], 3998);
    tf.dispose([a, b]);
  });

  it('an uncaptured GPU (validation) error makes the next kernel throw a BackendError naming it', async () => {
    await useWebGpu();
    const x = tf.tensor1d([1, 2]);
    device().createBuffer({ size: 16, usage: 0xffff });
    await settle();
    assertBackendError(() => tf.add(x, x), /^webgpu: uncaptured GPU error \(GPUValidationError\): Value 65535 is invalid for WGPUBufferUsage\./);
    assert.throws(() => webgpuProvider.checkDevice(), BackendError);
    // Selecting the backend again starts a fresh device.
    await useWebGpu();
    const y = tf.add(tf.tensor1d([1, 2]), 1);
    assert.deepEqual(Array.from(await y.data()), [2, 3]);
    tf.dispose([x, y]);
  });

  it('an out-of-memory error is reported as such, with what to do', async () => {
    await useWebGpu();
    // Dawn delivers GPUOutOfMemoryError through the same uncapturederror event; allocating GPU memory
    // until it runs out is not something to do on a shared machine, so the event is dispatched here.
    const { globals } = require('webgpu') as { globals: Record<string, new (...args: unknown[]) => unknown> };
    const error = new globals.GPUOutOfMemoryError('Out of memory allocating a 2147483648-byte buffer');
    device().dispatchEvent(new globals.GPUUncapturedErrorEvent('uncapturederror', { error }));
    assertBackendError(() => tf.square(tf.tensor1d([3])),
      /^webgpu: the GPU ran out of memory \(Out of memory allocating a 2147483648-byte buffer\); use a smaller batch size or model, or another backend$/);
  });

  it('a lost device makes the next kernel and read throw a BackendError', async () => {
    await useWebGpu();
    const x = tf.add(tf.tensor1d([1, 2]), 1);
    await x.data();
    const y = tf.mul(x, 3);
    device().destroy();
    await settle();
    const lost = /^webgpu: the GPU device was lost \(destroyed: .+\); its tensors are gone — select a backend again and restart from the last checkpoint$/;
    assertBackendError(() => tf.add(x, 1), lost);
    await assert.rejects(y.data(), (err: unknown) => err instanceof BackendError && lost.test(err.message));
    tf.dispose([x, y]);
  });
});
