// Distillery's wasm kernels beyond the shared conformance suite: the convolution-gradient
// implementations with dilations (tfjs-core's kernels carry no dilation attribute, the implementations
// support it), the fused GroupNorm against the op composition, and a whole UNet training step's
// gradients against the pure-JS CPU backend.
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import '../../../src/util/tf-gradients';
import { selectBackend, shutdownBackend } from '../../../src/backends';
import { groupNorm, groupNormComposite } from '../../../src/backends/wasm';
import { conv2dBackpropFilterImpl, conv2dBackpropInputImpl, convGeometry } from '../../../src/backends/wasm/kernels/conv';
import type { BackendWasm } from '../../../src/backends/wasm/kernels/util';
import { reduceTranspose } from '../../../src/backends/wasm/kernels/transpose';
import { UNet } from '../../../src/models/unet';
import * as ref from '../../kernels/reference';
import { expectClose } from '../../kernels/conformance';

const toTensor = (a: ref.NdArray): tf.Tensor => tf.tensor(Float32Array.from(a.data), a.shape, 'float32');

describe('backends/wasm kernels', function () {
  before(async function () {
    await selectBackend('wasm', { threads: 2 });
  });
  after(async function () {
    await shutdownBackend();
    await tf.setBackend('cpu');
  });

  const dilated: Array<{ x: number[]; w: number[]; strides: [number, number]; dilations: [number, number]; pad: 'same' | 'valid' | [number, number, number, number] }> = [
    { x: [2, 9, 8, 3], w: [3, 3, 3, 2], strides: [1, 1], dilations: [2, 2], pad: 'same' },
    { x: [2, 9, 8, 2], w: [3, 2, 2, 3], strides: [1, 1], dilations: [2, 3], pad: 'valid' },
    { x: [1, 11, 10, 2], w: [3, 3, 2, 2], strides: [2, 2], dilations: [2, 2], pad: [2, 1, 1, 2] },
  ];
  dilated.forEach((c, i) => {
    it(`conv gradients with dilations ${c.dilations}, strides ${c.strides}, pad ${JSON.stringify(c.pad)}`, function () {
      const r = ref.resolvePadding(c.x[1], c.x[2], c.w[0], c.w[1], c.strides, c.dilations, c.pad);
      const p: ref.ConvParams = { strides: c.strides, dilations: c.dilations, pad: r.pad };
      const x = ref.randomArray(c.x, 40 + i);
      const w = ref.randomArray(c.w, 50 + i);
      const dy = ref.randomArray([c.x[0], r.outH, r.outW, c.w[3]], 60 + i);
      const tfPad = typeof c.pad === 'string' ? c.pad : [[0, 0], [c.pad[0], c.pad[1]], [c.pad[2], c.pad[3]], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]];
      const g = convGeometry(c.x, c.w, c.strides, c.dilations, tfPad);
      assert.deepEqual([g.outH, g.outW], [r.outH, r.outW]);
      const before = tf.memory().numTensors;
      const backend = tf.backend() as unknown as BackendWasm;
      const [xt, wt, dyt] = [toTensor(x), toTensor(w), toTensor(dy)];
      const dxInfo = conv2dBackpropInputImpl(backend, dyt, wt, g);
      const dwInfo = conv2dBackpropFilterImpl(backend, xt, dyt, g);
      const dx = tf.engine().makeTensorFromTensorInfo(dxInfo);
      const dw = tf.engine().makeTensorFromTensorInfo(dwInfo);
      expectClose(dx, ref.conv2dBackpropInput(dy, w, c.x, p), 'dx');
      expectClose(dw, ref.conv2dBackpropFilter(x, dy, c.w, p), 'dw');
      tf.dispose([xt, wt, dyt, dx, dw]);
      assert.equal(tf.memory().numTensors, before);
    });
  });

  for (const silu of [false, true]) {
    it(`fused groupNorm${silu ? ' + SiLU' : ''} equals the op composition within 1e-5 (values and gradients)`, function () {
      const x = toTensor(ref.randomArray([3, 4, 4, 16], 70, -2, 3)) as tf.Tensor4D;
      const gamma = toTensor(ref.randomArray([16], 71, 0.5, 1.5)) as tf.Tensor1D;
      const beta = toTensor(ref.randomArray([16], 72)) as tf.Tensor1D;
      const g = toTensor(ref.randomArray([3, 4, 4, 16], 73));
      const opts = { groups: 4, epsilon: 1e-5, silu };
      const run = (f: typeof groupNorm): tf.Tensor[] => tf.tidy(() => [f(x, gamma, beta, opts),
        ...tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor1D, c as tf.Tensor1D, opts), g)))([x, gamma, beta])]);
      const fused = run(groupNorm);
      const composite = run(groupNormComposite);
      ['y', 'dx', 'dgamma', 'dbeta'].forEach((name, k) => {
        expectClose(fused[k], { shape: composite[k].shape, data: Float64Array.from(composite[k].dataSync()) }, name, 1e-5, 1e-6);
      });
      tf.dispose([...fused, ...composite, x, gamma, beta, g]);
    });
  }

  it('reduceTranspose drops size-1 axes and merges axes that stay adjacent (what decides Distillery\'s or the package\'s loop)', function () {
    // The UNet attention transpose stays rank 5: it runs on Distillery's loop, not the package's slow rank-5 path.
    assert.deepEqual(reduceTranspose([1000, 16, 4, 3, 12], [3, 0, 2, 1, 4]), { shape: [1000, 16, 4, 3, 12], perm: [3, 0, 2, 1, 4] });
    // [B, L, 3, h, d] → [3, B, h, L, d] likewise.
    assert.deepEqual(reduceTranspose([8, 16, 3, 4, 12], [2, 0, 3, 1, 4]), { shape: [8, 16, 3, 4, 12], perm: [2, 0, 3, 1, 4] });
    // Axes 1, 2 stay together and 3, 4 too: [2, 12, 30] by [0, 2, 1].
    assert.deepEqual(reduceTranspose([2, 3, 4, 5, 6], [0, 3, 4, 1, 2]), { shape: [2, 12, 30], perm: [0, 2, 1] });
    // Size-1 axes vanish; what is left is a matrix transpose.
    assert.deepEqual(reduceTranspose([1, 4, 1, 5], [3, 2, 0, 1]), { shape: [4, 5], perm: [1, 0] });
    assert.deepEqual(reduceTranspose([2, 3, 4], [0, 1, 2]), { shape: [24], perm: [0] });
    assert.deepEqual(reduceTranspose([1, 1], [1, 0]), { shape: [], perm: [] });
  });

  it('ClipByValue keeps int32 values (the package kernel clamps their bits as floats: -1 became -1082130432)', async function () {
    const before = tf.memory().numTensors;
    const x = tf.tensor1d([-5, -1, 0, 7, 999, 1000, 2 ** 30], 'int32');
    const c = tf.clipByValue(x, -1, 999);
    assert.equal(c.dtype, 'int32');
    assert.deepEqual(Array.from(await c.data()), [-1, -1, 0, 7, 999, 999, 999]);
    const y = tf.tensor1d([-2.5, 0.25, 3.5]);
    const f = tf.clipByValue(y, -1, 1);
    assert.deepEqual(Array.from(await f.data()), [-1, 0.25, 1]);
    tf.dispose([x, c, y, f]);
    assert.equal(tf.memory().numTensors, before);
  });

  it('UNet training-step gradients match the CPU backend (every weight, rtol 1e-4)', async function () {
    const config = {
      image_size: 8, in_channels: 1, out_channels: 1, model_channels: 8, num_res_blocks: 1,
      attention_resolutions: [2], channel_mult: [1, 2], num_heads: 1, num_groups: 4, num_classes: 3,
    };
    const z = ref.randomArray([3, 8, 8, 1], 80);
    const target = ref.randomArray([3, 8, 8, 1], 81);
    const gradients = async (): Promise<Map<string, ref.NdArray>> => {
      const model = new UNet(config, { seed: 5 });
      const vars = [...model.variables.entries()];
      const { grads, value } = tf.variableGrads(() => tf.mean(tf.squaredDifference(
        model.forward(toTensor(z) as tf.Tensor4D, tf.tensor1d([10, 500, 990]), tf.tensor1d([0, 2, 1], 'int32')), toTensor(target))) as tf.Scalar,
      vars.map(([, v]) => v));
      const out = new Map<string, ref.NdArray>();
      out.set('loss', { shape: [], data: Float64Array.from(await value.data()) });
      for (const [name, v] of vars) {
        const gt = grads[v.name];
        out.set(name, { shape: gt.shape, data: Float64Array.from(await gt.data()) });
      }
      tf.dispose([value, ...Object.values(grads)]);
      model.dispose();
      return out;
    };
    const onWasm = await gradients();
    await tf.setBackend('cpu');
    const onCpu = await gradients();
    await selectBackend('wasm', { threads: 2 });
    assert.equal(onWasm.size, onCpu.size);
    for (const [name, expected] of onCpu) {
      const got = onWasm.get(name)!;
      const t = tf.tensor(Float32Array.from(got.data), got.shape);
      expectClose(t, expected, name, 1e-4, 1e-7);
      t.dispose();
    }
  });
});
