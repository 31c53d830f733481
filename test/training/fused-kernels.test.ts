// The fused training kernels. DistilleryAdamW (registered by the libtorch and wasm backends) against the
// composed update on the pure-JS CPU backend: both compute the same float32 operations in the same
// order, so the variables and moments must be equal bit for bit after several steps (with and without
// weight decay, and with a variable that gets no gradient in one step). DistillerySumOfSquares
// (libtorch) against a float64 sum.
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, shutdownBackend } from '../../src/backends';
import { libtorchUnavailableReason } from '../../src/backends/libtorch';
import { ADAMW_KERNEL, AdamW } from '../../src/training/adamw';
import { SQUARED_NORM_KERNEL, squaredGlobalNorm } from '../../src/training/grads';
import { Rng } from '../../src/training/rng';

interface Trace {
  params: Record<string, Float32Array>;
  m: Record<string, Float32Array>;
  v: Record<string, Float32Array>;
  kernels: string[];
}

const SHAPES: Record<string, number[]> = { 'w.conv': [3, 3, 4, 8], 'w.bias': [8], big: [70001] };

function randn(rng: Rng, n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

/** Five AdamW steps from seeded values on the current backend; returns the final state. */
async function trace(weightDecay: number): Promise<Trace> {
  const rng = Rng.fromSeed(11);
  const vars = new Map<string, tf.Variable>();
  for (const [name, shape] of Object.entries(SHAPES)) {
    const init = tf.tensor(randn(rng, tf.util.sizeFromShape(shape), 1), shape);
    vars.set(name, tf.variable(init));
    init.dispose();
  }
  const opt = new AdamW(vars, { lr: 3e-3, weightDecay });
  const kernels = new Set<string>();
  for (let step = 0; step < 5; step++) {
    const grads: Record<string, tf.Tensor> = {};
    for (const [name, shape] of Object.entries(SHAPES)) {
      // Gradients spanning magnitudes (tiny ones make √v and eps matter); 'w.bias' skips step 2.
      if (name === 'w.bias' && step === 2) continue;
      grads[name] = tf.tensor(randn(rng, tf.util.sizeFromShape(shape), 10 ** (step - 3)), shape);
    }
    const info = await tf.profile(() => opt.step(grads));
    info.kernelNames.forEach((k) => kernels.add(k));
    tf.dispose(Object.values(grads));
  }
  const state = opt.getState();
  const read = async (src: Map<string, tf.Tensor>): Promise<Record<string, Float32Array>> =>
    Object.fromEntries(await Promise.all([...src].map(async ([k, t]) => [k, (await t.data()) as Float32Array] as const)));
  const out: Trace = { params: await read(vars), m: await read(state.m), v: await read(state.v), kernels: [...kernels] };
  tf.dispose([...state.m.values(), ...state.v.values()]);
  opt.dispose();
  tf.dispose([...vars.values()]);
  return out;
}

function assertSameBits(actual: Record<string, Float32Array>, expected: Record<string, Float32Array>, what: string): void {
  for (const name of Object.keys(expected)) {
    const a = actual[name], e = expected[name];
    assert.equal(a.length, e.length, `${what}.${name} length`);
    let differ = 0, first = -1;
    for (let i = 0; i < e.length; i++) {
      if (!Object.is(a[i], e[i])) {
        differ++;
        if (first < 0) first = i;
      }
    }
    assert.equal(differ, 0, `${what}.${name}: ${differ} of ${e.length} values differ, first [${first}] ${a[first]} vs ${e[first]}`);
  }
}

const backends = ['wasm', ...(libtorchUnavailableReason() === undefined ? ['libtorch'] : [])];

describe('training/adamw fused kernel', function () {
  this.timeout(60_000);
  after(async () => {
    await shutdownBackend();
    await tf.setBackend('cpu');
  });

  for (const weightDecay of [1e-2, 0]) {
    for (const backend of backends) {
      it(`${backend}: ${ADAMW_KERNEL} equals the composed update on the CPU backend bit for bit (weight decay ${weightDecay}), no leaks`, async () => {
        await shutdownBackend();
        await tf.setBackend('cpu');
        const expected = await trace(weightDecay);
        assert.ok(!expected.kernels.includes(ADAMW_KERNEL), 'the CPU backend composes the update');
        await selectBackend(backend, { threads: 2 });
        const before = tf.memory().numTensors;
        const actual = await trace(weightDecay);
        assert.equal(tf.memory().numTensors, before, 'tensors leaked');
        assert.ok(actual.kernels.includes(ADAMW_KERNEL), `${backend} ran ${actual.kernels.join(', ')}`);
        assert.ok(!actual.kernels.includes('Sqrt'), 'no composed ops alongside the fused kernel');
        assertSameBits(actual.params, expected.params, 'param');
        assertSameBits(actual.m, expected.m, 'm');
        assertSameBits(actual.v, expected.v, 'v');
      });
    }
  }
});

describe('training/grads squared-norm kernel', function () {
  after(async () => {
    await shutdownBackend();
    await tf.setBackend('cpu');
  });
  for (const backend of backends.filter((b) => b === 'libtorch')) {
    it(`${backend}: ${SQUARED_NORM_KERNEL} equals the float64 sum of squares (rtol 1e-7) in one kernel, no leaks`, async () => {
      await selectBackend(backend, { threads: 2 });
      const rng = Rng.fromSeed(5);
      const arrays = Object.values(SHAPES).map((s) => randn(rng, tf.util.sizeFromShape(s), 0.1));
      let expected = 0;
      for (const a of arrays) for (const x of a) expected += x * x;
      const grads = new Map(Object.entries(SHAPES).map(([name, s], i) => [name, tf.tensor(arrays[i], s)] as const));
      const before = tf.memory().numTensors;
      let norm: tf.Scalar | undefined;
      const info = await tf.profile(() => {
        norm = squaredGlobalNorm(grads);
        return norm;
      });
      const got = (await norm!.data())[0];
      norm!.dispose();
      assert.equal(tf.memory().numTensors, before);
      tf.dispose([...grads.values()]);
      assert.deepEqual(info.kernelNames, [SQUARED_NORM_KERNEL]);
      assert.ok(Math.abs(got - expected) <= 1e-7 * expected, `${got} vs ${expected}`);
    });
  }
});
