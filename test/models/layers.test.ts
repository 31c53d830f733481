import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { conv2dCpu } from '../../src/models/conv-cpu';
import { groupNormCpu, layerNormCpu } from '../../src/models/norm-cpu';
import { concatLastAxisCpu, sliceLastAxisCpu } from '../../src/models/channels-cpu';
import { upsampleNearest2x } from '../../src/models/layers';
import { conv2dWithBias } from '../../src/models/fused-conv2d';
import { groupNormComposite } from '../../src/backends/wasm/fused';
import { maxAbsDiff, seededNormal } from './helpers';

/** Max |Δ| between two ops' values and their gradients (w.r.t. every input) of Σ out·proj. */
function compare(inputs: tf.Tensor[], a: (...xs: tf.Tensor[]) => tf.Tensor, b: (...xs: tf.Tensor[]) => tf.Tensor, seed: number): number {
  return tf.tidy(() => {
    const ya = a(...inputs);
    const proj = seededNormal(ya.shape, seed);
    const ga = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(a(...xs), proj)))(inputs);
    const gb = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(b(...xs), proj)))(inputs);
    let d = maxAbsDiff(ya, b(...inputs));
    ga.forEach((g, i) => { d = Math.max(d, maxAbsDiff(g, gb[i])); });
    return d;
  });
}

describe('models/layers: cpu-loop kernels against tfjs ops', () => {
  for (const [k, stride, pad, bias] of [[3, 1, 1, true], [3, 2, 1, true], [3, 2, 1, false], [1, 1, 0, true], [3, 1, 0, false]] as const) {
    it(`conv2d k${k} stride ${stride} pad ${pad}${bias ? ' + bias' : ''}: values and gradients to 1e-4`, () => {
      const x = seededNormal([2, 6, 6, 3], 1);
      const f = seededNormal([k, k, 3, 5], 2);
      const b = seededNormal([5], 3);
      const ins = bias ? [x, f, b] : [x, f];
      const ours = (xx: tf.Tensor, ff: tf.Tensor, bb?: tf.Tensor) => conv2dCpu(xx as tf.Tensor4D, ff as tf.Tensor4D, stride, pad, bb as tf.Tensor1D | undefined);
      // Reference: tfjs-core's conv2d with explicit PyTorch-style symmetric padding.
      const ref = (xx: tf.Tensor, ff: tf.Tensor, bb?: tf.Tensor) => {
        const y = tf.conv2d(tf.pad(xx as tf.Tensor4D, [[0, 0], [pad, pad], [pad, pad], [0, 0]]), ff as tf.Tensor4D, stride, 'valid');
        return bb ? tf.add(y, bb) : y;
      };
      // Tolerance 1e-4: float32 sums of 27 products of N(0,1) values in different orders.
      assert.ok(compare(ins, ours, ref, 4) < 1e-4);
      tf.dispose([x, f, b]);
    });
  }

  for (const [k, stride, pad] of [[3, 1, 1], [3, 2, 1], [1, 1, 0], [3, 1, 'same'], [3, 2, 'valid']] as const) {
    it(`conv2dWithBias k${k} stride ${stride} pad ${pad}: values and gradients equal tf.fused.conv2d's (1e-5)`, () => {
      const x = seededNormal([2, 7, 6, 3], 21);
      const f = seededNormal([k, k, 3, 4], 22);
      const b = seededNormal([4], 23);
      const ours = (xx: tf.Tensor, ff: tf.Tensor, bb: tf.Tensor) => conv2dWithBias(xx as tf.Tensor4D, ff as tf.Tensor4D, bb as tf.Tensor1D, stride, pad);
      const ref = (xx: tf.Tensor, ff: tf.Tensor, bb: tf.Tensor) =>
        tf.fused.conv2d({ x: xx as tf.Tensor4D, filter: ff as tf.Tensor4D, bias: bb, strides: stride, pad });
      // Same kernels in the same order: equal up to the summation order of the bias gradient.
      assert.ok(compare([x, f, b], ours, ref, 24) < 1e-5);
      tf.dispose([x, f, b]);
    });
  }

  it('conv2dWithBias computes no input gradient when only the weights are differentiated (a network\'s first layer)', async () => {
    const x = seededNormal([2, 6, 6, 1], 31);
    const f = tf.variable(seededNormal([3, 3, 1, 4], 32));
    const b = tf.variable(seededNormal([4], 33));
    const profile = await tf.profile(() => {
      const { grads, value } = tf.variableGrads(() => tf.sum(conv2dWithBias(x as tf.Tensor4D, f as unknown as tf.Tensor4D, b as unknown as tf.Tensor1D, 1, 1)), [f, b]);
      tf.dispose([value, ...Object.values(grads)]);
    });
    const names = profile.kernels.map((k) => k.name);
    assert.ok(names.includes('Conv2DBackpropFilter'), names.join(' '));
    assert.ok(!names.includes('Conv2DBackpropInput'), `input gradient computed: ${names.join(' ')}`);
    tf.dispose([x, f, b]);
  });

  for (const silu of [false, true]) {
    it(`GroupNorm${silu ? ' + SiLU' : ''} (4 groups of 3 channels): values and gradients to 1e-4`, () => {
      const x = tf.tidy(() => tf.add(tf.mul(seededNormal([2, 3, 5, 12], 5), 2), 0.5));
      const g = seededNormal([12], 6);
      const b = seededNormal([12], 7);
      const ours = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => groupNormCpu(xx as tf.Tensor4D, gg as tf.Tensor1D, bb as tf.Tensor1D, 4, 1e-5, silu);
      const ref = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => groupNormComposite(xx as tf.Tensor4D, gg as tf.Tensor1D, bb as tf.Tensor1D, { groups: 4, epsilon: 1e-5, silu });
      assert.ok(compare([x, g, b], ours, ref, 8) < 1e-4);
      tf.dispose([x, g, b]);
    });
  }

  it('LayerNorm over the last axis: values and gradients to 1e-4', () => {
    const x = tf.tidy(() => tf.add(tf.mul(seededNormal([2, 5, 6], 15), 3), 1));
    const g = seededNormal([6], 16);
    const b = seededNormal([6], 17);
    const ours = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => layerNormCpu(xx, gg as tf.Tensor1D, bb as tf.Tensor1D, 1e-5);
    // Reference: the definition with tfjs ops (biased variance, as torch.nn.LayerNorm).
    const ref = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
      const { mean, variance } = tf.moments(xx, -1, true);
      return tf.add(tf.mul(tf.mul(tf.sub(xx, mean), tf.rsqrt(tf.add(variance, 1e-5))), gg), bb);
    };
    assert.ok(compare([x, g, b], ours, ref, 18) < 1e-4);
    tf.dispose([x, g, b]);
  });

  it('concat and slice along the last axis: values and gradients equal tf.concat / tf.slice exactly', () => {
    const a = seededNormal([2, 3, 2, 4], 11);
    const b = seededNormal([2, 3, 2, 6], 12);
    assert.equal(compare([a, b], (x, y) => concatLastAxisCpu(x, y), (x, y) => tf.concat([x, y], 3), 13), 0);
    assert.equal(compare([b], (x) => sliceLastAxisCpu(x, 2, 3), (x) => tf.slice(x, [0, 0, 0, 2], [2, 3, 2, 3]), 14), 0);
    tf.dispose([a, b]);
  });

  it('nearest ×2 upsampling repeats each pixel in a 2×2 block', () => {
    const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
    const y = upsampleNearest2x(x);
    assert.deepEqual(Array.from(y.dataSync()), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    tf.dispose([x, y]);
  });
});
