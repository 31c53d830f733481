import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../../src/errors';
import {
  Rng, bernoulliMask, dropLabels, randomInt, randomNormal, randomUniform, type RngState,
} from '../../src/training/rng';

function draws(r: Rng, n: number): number[] {
  return Array.from({ length: n }, () => r.nextUint32());
}

describe('training/rng', () => {
  it('implements xoshiro128** (outputs from state [1, 2, 3, 4] derived by hand)', () => {
    // out = rotl(s1·5, 7)·9, then the state update t = s1<<9; s2^=s0; s3^=s1; s1^=s2; s0^=s3; s2^=t; s3=rotl(s3,11).
    // 1st: s1 = 2 → rotl(10, 7) = 1280 → 11520. State becomes s0=7, s1=0, s2=1026, s3=12288.
    // 2nd: s1 = 0 → 0. State becomes s0=12295, s1=1029, s2=1029, s3=25165824.
    // 3rd: s1 = 1029 → 5145 → rotl(5145, 7) = 658560 → 5927040.
    const r = Rng.fromState({ algorithm: 'xoshiro128**', key: 'test', s: [1, 2, 3, 4] });
    assert.deepEqual(draws(r, 2), [11520, 0]);
    assert.deepEqual(r.getState().s, [12295, 1029, 1029, 25165824]);
    assert.equal(r.nextUint32(), 5927040);
  });

  it('is deterministic per seed and differs between seeds', () => {
    assert.deepEqual(draws(Rng.fromSeed(42), 8), draws(Rng.fromSeed(42), 8));
    assert.deepEqual(draws(Rng.fromSeed('run-a'), 8), draws(Rng.fromSeed('run-a'), 8));
    assert.notDeepEqual(draws(Rng.fromSeed(42), 8), draws(Rng.fromSeed(43), 8));
    // A numeric seed and its decimal string name the same stream.
    assert.deepEqual(draws(Rng.fromSeed(7), 4), draws(Rng.fromSeed('7'), 4));
  });

  it('state round trip (through JSON) resumes the stream exactly', () => {
    const r = Rng.fromSeed(1234);
    r.normalArray(5);
    r.int(10);
    const saved: RngState = JSON.parse(JSON.stringify(r.getState()));
    const expected = [r.uniform(), r.normal(), r.int(1000), ...r.normalArray(3)];
    const resumed = Rng.fromState(saved);
    assert.equal(resumed.key, '1234');
    assert.deepEqual([resumed.uniform(), resumed.normal(), resumed.int(1000), ...resumed.normalArray(3)], expected);
    // setState on an existing generator also restores its key.
    const other = Rng.fromSeed(1);
    other.setState(saved);
    assert.equal(other.key, '1234');
    assert.equal(other.uniform(), expected[0]);
  });

  it('rejects invalid states, listing every problem', () => {
    assert.throws(() => Rng.fromState({ algorithm: 'pcg' as 'xoshiro128**', key: '', s: [0, 0, 0, 0], extra: 1 } as RngState),
      (e: unknown) => e instanceof ConfigError &&
        e.message.includes('invalid random generator state') && e.message.includes('algorithm: unsupported generator') &&
        e.message.includes('key: key must be a non-empty string') && e.message.includes('s: the all-zero state is invalid') &&
        e.message.includes('extra: unknown key'));
    assert.throws(() => Rng.fromState({ algorithm: 'xoshiro128**', key: 'k', s: [1, 2, 3] } as unknown as RngState),
      /s: state must be four unsigned 32-bit integers/);
    assert.throws(() => Rng.fromSeed(1.5), /seed: seed must be an integer \(found 1.5\)/);
  });

  it('forks are independent of the parent position and of each other', () => {
    const a = Rng.fromSeed(9);
    const noise1 = draws(a.fork('noise'), 4);
    a.normalArray(100);
    assert.deepEqual(draws(a.fork('noise'), 4), noise1, 'forking after draws gives the same child stream');
    assert.notDeepEqual(draws(a.fork('timesteps'), 4), noise1);
    assert.equal(a.fork('noise').fork('x').key, '9/noise/x');
    assert.notDeepEqual(draws(Rng.fromSeed(10).fork('noise'), 4), noise1);
  });

  it('normals have mean 0 and std 1 (20000 draws, tolerance 0.03 = ~4 standard errors)', () => {
    const x = Rng.fromSeed(3).normalArray(20000);
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    const std = Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length);
    assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
    assert.ok(Math.abs(std - 1) < 0.03, `std ${std}`);
    const scaled = Rng.fromSeed(3).normalArray(20000, 2, 0.5);
    assert.ok(Math.abs(scaled[17] - (2 + 0.5 * x[17])) < 1e-6, 'mean and std are an affine map of the same draws');
    assert.ok(Math.abs(Rng.fromSeed(5).normal()) < 10);
  });

  it('uniforms lie in [lo, hi) and integers are uniform over [0, n)', () => {
    const r = Rng.fromSeed(11);
    const u = r.uniformArray(5000, -1, 3);
    assert.ok(u.every((v) => v >= -1 && v < 3));
    const counts = new Array(10).fill(0);
    for (const v of r.intArray(10000, 10)) counts[v]++;
    // Expected 1000 each; binomial std ≈ 30: allow ±150 (5 std).
    for (const c of counts) assert.ok(Math.abs(c - 1000) < 150, `counts ${counts}`);
    for (let i = 0; i < 200; i++) {
      const v = r.int(3);
      assert.ok(v === 0 || v === 1 || v === 2);
    }
    assert.equal(r.int(1), 0);
    assert.throws(() => r.int(0), /n must be an integer in \[1, 2\^32\]/);
    assert.throws(() => r.bernoulli(1.5), /probability must be in \[0, 1\]/);
  });

  it('bernoulli frequency matches p (10000 draws, p = 0.1, tolerance 0.015 = 5 standard errors)', () => {
    const b = Rng.fromSeed(8).bernoulliArray(10000, 0.1);
    const freq = b.reduce((s, v) => s + v, 0) / b.length;
    assert.ok(Math.abs(freq - 0.1) < 0.015, `freq ${freq}`);
    assert.ok(Rng.fromSeed(8).bernoulliArray(50, 0).every((v) => v === 0));
    assert.ok(Rng.fromSeed(8).bernoulliArray(50, 1).every((v) => v === 1));
  });

  it('shuffle and permutation give permutations, deterministically', () => {
    const p = Rng.fromSeed(5).permutation(50);
    assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
    assert.notDeepEqual([...p], Array.from({ length: 50 }, (_, i) => i));
    assert.deepEqual(Rng.fromSeed(5).permutation(50), p);
    const arr = ['a', 'b', 'c', 'd'];
    Rng.fromSeed(1).shuffle(arr);
    assert.deepEqual([...arr].sort(), ['a', 'b', 'c', 'd']);
  });

  describe('tensor helpers', () => {
    it('return tensors of the shape with the generator values, and leak nothing', () => {
      const before = tf.memory().numTensors;
      const n = randomNormal(Rng.fromSeed(2), [2, 3, 1, 2]);
      assert.deepEqual(n.shape, [2, 3, 1, 2]);
      assert.equal(n.dtype, 'float32');
      assert.deepEqual(Array.from(n.dataSync()), Array.from(Rng.fromSeed(2).normalArray(12)));
      const u = randomUniform(Rng.fromSeed(2), [4], 5, 6);
      assert.ok(Array.from(u.dataSync()).every((v) => v >= 5 && v < 6));
      const t = randomInt(Rng.fromSeed(2), [6], 1000);
      assert.equal(t.dtype, 'int32');
      assert.deepEqual(Array.from(t.dataSync()), Array.from(Rng.fromSeed(2).intArray(6, 1000)));
      const m = bernoulliMask(Rng.fromSeed(2), [3, 2], 0.5);
      assert.ok(Array.from(m.dataSync()).every((v) => v === 0 || v === 1));
      tf.dispose([n, u, t, m]);
      assert.equal(tf.memory().numTensors, before);
    });

    it('dropLabels replaces labels by the null class where the Bernoulli draw says so', () => {
      const before = tf.memory().numTensors;
      const labels = tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8], 'int32');
      const dropped = dropLabels(Rng.fromSeed(4), labels, 0.5, 1000);
      const mask = Rng.fromSeed(4).bernoulliArray(8, 0.5);
      assert.ok(mask.some((v) => v === 1) && mask.some((v) => v === 0), 'seed exercises both branches');
      assert.deepEqual(Array.from(dropped.dataSync()), [1, 2, 3, 4, 5, 6, 7, 8].map((l, i) => (mask[i] ? 1000 : l)));
      assert.equal(dropped.dtype, 'int32');
      tf.dispose([labels, dropped]);
      assert.equal(tf.memory().numTensors, before);
    });
  });
});

describe('Rng.sharded: data-parallel draws', () => {
  it('the ranks\' draws, concatenated, are exactly the draw of the whole global batch (normal, uniform, int, bernoulli, through forks)', () => {
    const world = 3;
    const base = Rng.fromSeed(11).fork('stage').fork('4.0');
    const whole = {
      normal: base.fork('eps').normalArray(3 * 7),
      uniform: base.fork('w').uniformArray(3 * 5, -1, 2),
      int: base.fork('t').intArray(3 * 4, 1000),
      drop: base.fork('d').bernoulliArray(3 * 6, 0.3),
    };
    const parts = Array.from({ length: world }, (_, r) => {
      const rng = Rng.fromSeed(11).fork('stage').fork('4.0').sharded(r, world);
      return { normal: rng.fork('eps').normalArray(7), uniform: rng.fork('w').uniformArray(5, -1, 2), int: rng.fork('t').intArray(4, 1000), drop: rng.fork('d').bernoulliArray(6, 0.3) };
    });
    for (const key of ['normal', 'uniform', 'int', 'drop'] as const) {
      const joined = parts.flatMap((p) => [...p[key]]);
      assert.deepEqual(joined, [...whole[key]], key);
    }
  });

  it('a world of one is the plain stream; a rank outside the world is an error', () => {
    assert.deepEqual([...Rng.fromSeed(5).sharded(0, 1).normalArray(4)], [...Rng.fromSeed(5).normalArray(4)]);
    assert.throws(() => Rng.fromSeed(5).sharded(2, 2), /shard must have 0 ≤ rank < worldSize/);
  });
});
