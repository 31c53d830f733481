// The wasm provider: thread count honoured (the build's hidden cap at half the cpu count worked around),
// errors for bad thread counts, kernels registered, and threads that do not keep the process alive.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '../../../src/util/tf-gradients';
import { selectBackend, shutdownBackend } from '../../../src/backends';
import { DISTILLERY_WASM_KERNELS, setWasmKernelSet, wasmProvider, wasmThreads } from '../../../src/backends/wasm';

const ROOT = path.resolve(__dirname, '..', '..', '..');

describe('backends/wasm provider', function () {
  after(async function () {
    await shutdownBackend();
    await tf.setBackend('cpu');
  });

  for (const threads of [1, 2, 3]) {
    it(`starts with exactly ${threads} thread${threads === 1 ? '' : 's'} when asked`, async function () {
      const info = await selectBackend('wasm', { threads });
      assert.equal(info.name, 'wasm');
      assert.equal(info.threads, threads);
      assert.equal(wasmThreads(), threads);
      assert.equal(tf.getBackend(), 'wasm');
      assert.match(info.description, new RegExp(`^wasm \\(SIMD, ${threads} threads?, Distillery training kernels\\)$`));
      const y = tf.tidy(() => tf.matMul(tf.ones([64, 64]), tf.ones([64, 64])));
      assert.equal(y.dataSync()[0], 64);
      y.dispose();
    });
  }

  it('refuses a thread count that is not a positive integer', async function () {
    await assert.rejects(wasmProvider.init({ threads: 0 }), /wasm: threads must be a positive integer, got 0/);
    await assert.rejects(wasmProvider.init({ threads: 1.5 }), /wasm: threads must be a positive integer, got 1\.5/);
  });

  it('registers every Distillery kernel for the wasm backend', async function () {
    await selectBackend('wasm', { threads: 1 });
    for (const name of DISTILLERY_WASM_KERNELS) assert.ok(tf.getKernel(name, 'wasm'), `kernel ${name} missing`);
    assert.ok(DISTILLERY_WASM_KERNELS.includes('Conv2DBackpropFilter'));
    assert.ok(DISTILLERY_WASM_KERNELS.includes('UnsortedSegmentSum'));
  });

  it('the package kernel set keeps only the added training kernels; switching back restores the rest', async function () {
    try {
      setWasmKernelSet('package');
      const info = await selectBackend('wasm', { threads: 1 });
      assert.equal(info.description, 'wasm (SIMD, 1 thread, package kernels + missing training kernels)');
      assert.equal(tf.getKernel('DistilleryGroupNorm', 'wasm'), undefined);
      assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'));
      const g = tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(tf.conv2d(x as tf.Tensor4D, tf.ones([3, 3, 1, 1]) as tf.Tensor4D, 1, 'same')))(tf.ones([1, 4, 4, 1])));
      assert.equal(g.dataSync()[5], 9);
      g.dispose();
    } finally {
      setWasmKernelSet('distillery');
    }
    await selectBackend('wasm', { threads: 1 });
    assert.ok(tf.getKernel('DistilleryGroupNorm', 'wasm'));
  });

  it('shutdown leaves no live wasm backend and a second shutdown is harmless', async function () {
    await selectBackend('wasm', { threads: 2 });
    await shutdownBackend();
    assert.equal(wasmThreads(), undefined);
    assert.equal(tf.engine().registryFactory.wasm, undefined);
    await shutdownBackend();
  });

  it('a process that trained on 2 threads exits by itself, with and without shutdown()', function () {
    const script = (callShutdown: boolean): string => `
      const tf = require('@tensorflow/tfjs-core');
      require('@tensorflow/tfjs-core/dist/register_all_gradients');
      const { selectBackend, shutdownBackend } = require('./src/backends');
      (async () => {
        const info = await selectBackend('wasm', { threads: 2 });
        const w = tf.variable(tf.ones([3, 3, 2, 4]));
        const g = tf.grad((x) => tf.sum(tf.conv2d(x, w, 1, 'same')))(tf.ones([2, 5, 5, 2]));
        process.stdout.write(info.threads + ' ' + g.dataSync()[12] + '\\n');
        ${callShutdown ? 'await shutdownBackend();' : ''}
      })();`;
    for (const callShutdown of [true, false]) {
      const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script(callShutdown)],
        { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.error, undefined, `child did not exit in time (shutdown: ${callShutdown})`);
      assert.equal(r.status, 0, r.stderr);
      // Centre pixel of a 3x3 all-ones conv over a 5x5x2 all-ones input: each input pixel gets 3·3·4 = 36.
      assert.equal(r.stdout.trim(), '2 36');
    }
  });
});
