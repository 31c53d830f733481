/**
 * The libtorch TF.js backend as a tensor store and as a provider: data round trips, reference counting
 * and disposal (TF.js tensor count and native handle count), errors naming the kernel and shapes,
 * thread configuration, and what selection sees when the addon is missing (run in a child process
 * with DISTILLERY_LIBTORCH_ADDON pointing at a file that does not exist).
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../../../src/errors';
import { LibtorchBackend, libtorchProvider, libtorchUnavailableReason, registerLibtorchBackend } from '../../../src/backends/libtorch';

const root = path.resolve(__dirname, '..', '..', '..');

function nativeCount(): number {
  return (tf.backend() as unknown as LibtorchBackend).memory().numNativeTensors;
}

describe('libtorch provider without the addon', () => {
  it('is unavailable with the reason, and auto selection falls through to the next backend', () => {
    const script = [
      "const { selectBackend } = require('./src/backends');",
      "const { libtorchProvider } = require('./src/backends/libtorch');",
      '(async () => {',
      '  let reason = "";',
      '  try { await libtorchProvider.available({}); } catch (e) { reason = e.message; }',
      "  const info = await selectBackend('auto', { threads: 1 });",
      "  let named = '';",
      "  try { await selectBackend('libtorch'); } catch (e) { named = e.message; }",
      '  console.log(JSON.stringify({ reason, picked: info.name, named }));',
      '  process.exit(0);',
      '})();',
    ].join('\n');
    const out = execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
      cwd: root, encoding: 'utf8', env: { ...process.env, DISTILLERY_LIBTORCH_ADDON: path.join(root, 'no-such-dir', 'addon.node') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { reason: string; picked: string; named: string };
    assert.match(r.reason, /^the native addon .*no-such-dir.*could not be loaded/);
    assert.notEqual(r.picked, 'libtorch');
    assert.match(r.named, /backend "libtorch" is not available on this machine \(libtorch: the native addon/);
  });
});

/** Runs selectBackend('libtorch') in a child process with `env` and returns its description or error. */
function childDescription(env: Record<string, string>): { description?: string; error?: string } {
  const script = [
    "const { selectBackend } = require('./src/backends');",
    "selectBackend('libtorch', { threads: 1 }).then((i) => { console.log(JSON.stringify({ description: i.description })); process.exit(0); },",
    "  (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(0); });",
  ].join('\n');
  const clean = { ...process.env };
  for (const k of ['OMP_WAIT_POLICY', 'GOMP_SPINCOUNT', 'DISTILLERY_OMP_WAIT']) delete clean[k];
  const out = execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
    cwd: root, encoding: 'utf8', env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out.trim().split('\n').pop()!) as { description?: string; error?: string };
}

if (libtorchUnavailableReason() === undefined) {
  describe('libtorch OpenMP wait policy', function () {
    this.timeout(60_000);
    it('DISTILLERY_OMP_WAIT=spin|passive is applied and named in the backend description; a user OMP_WAIT_POLICY is left alone', () => {
      assert.match(childDescription({ DISTILLERY_OMP_WAIT: 'spin' }).description ?? '', /^libtorch \(ATen native, 1 thread, spin-waiting, /);
      assert.match(childDescription({ DISTILLERY_OMP_WAIT: 'passive' }).description ?? '', /, passive waiting \(cores busy at start\), /);
      assert.match(childDescription({ OMP_WAIT_POLICY: 'ACTIVE', DISTILLERY_OMP_WAIT: 'passive' }).description ?? '', /, OMP wait policy from the environment, /);
    });
    it('DISTILLERY_TENSOR_CACHE_MB caps the tensor-memory cache (0: freed blocks go straight back to malloc)', () => {
      const cached = (mb: string): number => {
        const script = [
          "const tf = require('@tensorflow/tfjs-core');",
          "const { selectBackend } = require('./src/backends');",
          "selectBackend('libtorch', { threads: 1 }).then(() => {",
          '  tf.fill([512, 1024], 1).dispose();',  // a 2 MiB block
          '  console.log(JSON.stringify({ cached: tf.memory().cachedBytes })); process.exit(0);',
          '});',
        ].join('\n');
        const out = execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
          cwd: root, encoding: 'utf8', env: { ...process.env, DISTILLERY_TENSOR_CACHE_MB: mb }, stdio: ['ignore', 'pipe', 'pipe'],
        });
        return (JSON.parse(out.trim().split('\n').pop()!) as { cached: number }).cached;
      };
      assert.equal(cached('0'), 0);
      assert.equal(cached('1'), 0, 'a 2 MiB block does not fit a 1 MiB cache');
      assert.equal(cached('4'), 2 * 1024 * 1024);
    });
    it('an unknown DISTILLERY_OMP_WAIT value is an error naming the choices', () => {
      assert.match(childDescription({ DISTILLERY_OMP_WAIT: 'sometimes' }).error ?? '', /DISTILLERY_OMP_WAIT must be spin, passive or auto, found "sometimes"/);
    });
  });
}

const reason = libtorchUnavailableReason();

if (reason === undefined) {
  describe('libtorch backend storage and errors', () => {
    before(async () => {
      assert.ok(registerLibtorchBackend(2));
      await tf.setBackend('libtorch');
    });
    after(async () => {
      await tf.setBackend('cpu');
    });

    it('round-trips float32, int32 and bool data exactly, through read and readSync', async () => {
      const f = tf.tensor([1.5, -2.25, 3e-8, 1e30], [2, 2]);
      const i = tf.tensor([2147483647, -2147483648, 0, 7], [4], 'int32');
      const b = tf.tensor([true, false, true], [3], 'bool');
      assert.deepEqual(Array.from(await f.data()), Array.from(new Float32Array([1.5, -2.25, 3e-8, 1e30])));
      assert.deepEqual(Array.from(i.dataSync()), [2147483647, -2147483648, 0, 7]);
      const bv = b.dataSync();
      assert.ok(bv instanceof Uint8Array);
      assert.deepEqual(Array.from(bv), [1, 0, 1]);
      assert.deepEqual(await f.array(), [[1.5, -2.25], [Math.fround(3e-8), Math.fround(1e30)]]);
      tf.dispose([f, i, b]);
    });

    it('reads a transposed (strided) result in logical order', () => {
      const x = tf.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
      const y = tf.transpose(x);
      assert.deepEqual(Array.from(y.dataSync()), [1, 4, 2, 5, 3, 6]);
      tf.dispose([x, y]);
    });

    it('keeps string tensors (no kernel computes on them)', () => {
      const s = tf.tensor(['a', 'bc']);
      assert.deepEqual(s.dataSync(), ['a', 'bc']);
      assert.throws(() => tf.reshape(s, [2, 1]), /libtorch backend: kernels do not compute on string tensors/);
      s.dispose();
    });

    it('frees native memory when tensors are disposed, also for shared data (reshape, clone, variables)', () => {
      const tensors0 = tf.memory().numTensors;
      const native0 = nativeCount();
      const ids0 = tf.engine().backend.numDataIds();
      const x = tf.randomNormal([4, 5]);
      const y = tf.reshape(x, [20]);
      const z = tf.clone(y);
      const v = tf.variable(x);
      const doubled = tf.mul(x, 2);
      v.assign(doubled);
      tf.dispose(tf.tidy(() => tf.sum(tf.matMul(x, x, false, true))));
      tf.dispose([x, y, z, v, doubled]);
      assert.equal(tf.memory().numTensors, tensors0, 'TF.js tensors');
      assert.equal(nativeCount(), native0, 'native handles');
      assert.equal(tf.engine().backend.numDataIds(), ids0);
    });

    it('keeps freed blocks of 64 KiB and more for reuse by size (the tensor-memory cache), and empties it on request', () => {
      const native = (tf.backend() as unknown as LibtorchBackend).native;
      native.emptyCache();
      assert.equal(native.cachedBytes(), 0);
      const bytes = 256 * 1024 * 4;
      const a = tf.fill([256, 1024], 1.5);
      a.dispose();
      assert.equal(native.cachedBytes(), bytes, 'the freed 1 MiB block is cached');
      const b = tf.fill([1024, 256], 2.5);  // same size: the cached block is reused
      assert.equal(native.cachedBytes(), 0);
      assert.deepEqual(Array.from(b.dataSync().slice(0, 3)), [2.5, 2.5, 2.5]);
      const small = tf.fill([100], 1);  // below 64 KiB: plain malloc, never cached
      tf.dispose([b, small]);
      assert.equal(native.cachedBytes(), bytes);
      native.emptyCache();
      assert.equal(native.cachedBytes(), 0);
    });

    it('moves tensors between the CPU backend and libtorch', async () => {
      await tf.setBackend('cpu');
      const a = tf.tensor([1, 2, 3]);
      await tf.setBackend('libtorch');
      const b = tf.add(a, 1);
      assert.deepEqual(Array.from(b.dataSync()), [2, 3, 4]);
      tf.dispose([a, b]);
    });

    it('turns a libtorch error into a BackendError naming the kernel and the input shapes', () => {
      const x = tf.zeros([1, 4, 4, 3]);
      const w = tf.zeros([3, 3, 2, 4]);  // 2 input channels for a 3-channel image: TF.js's op would refuse it first
      let err: unknown;
      try {
        tf.engine().runKernel('Conv2D', { x, filter: w }, { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1 } as unknown as tf.NamedAttrMap);
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof BackendError, `expected a BackendError, got ${String(err)}`);
      assert.match((err as Error).message, /^libtorch kernel Conv2D failed \(x: \[1, 4, 4, 3\] float32, filter: \[3, 3, 2, 4\] float32\): .*channels/);
      tf.dispose([x, w]);
    });

    it('sets the thread count, and refuses a non-positive one', () => {
      const backend = tf.backend() as unknown as LibtorchBackend;
      assert.equal(backend.setThreads(1), 1);
      assert.equal(backend.threads(), 1);
      assert.equal(backend.setThreads(2), 2);
      assert.throws(() => backend.setThreads(0), /libtorch: threads must be a positive integer, found 0/);
    });

    it('the provider reports the threads it runs with', async () => {
      const info = await libtorchProvider.init({ threads: 1 });
      assert.equal(info.name, 'libtorch');
      assert.equal(info.tfBackend, 'libtorch');
      assert.equal(info.threads, 1);
      assert.match(info.description, /^libtorch \(ATen native, 1 thread(, [^,]+)?, \d+ kernels\)$/);
      await libtorchProvider.init({ threads: 2 });
    });
  });
}
