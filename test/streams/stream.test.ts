import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { filter, map, take } from 'rxjs';
import { consume, pullStream } from '../../src/streams/stream';
import { CancelledError, DistilleryError } from '../../src/errors';
import type { Batch } from '../../src/data/batch';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A producer that never waits: only the stream's demand can hold it back. */
function fastBatches(count: number, counters: { produced: number; finallyRan: boolean }) {
  return async function* (): AsyncGenerator<Batch> {
    try {
      for (let i = 0; i < count; i++) {
        counters.produced += 1;
        yield { x: tf.fill([1, 2, 2, 1], i) as tf.Tensor4D, labels: tf.tensor1d([i], 'int32'), index: i, epoch: 0 };
      }
    } finally {
      counters.finallyRan = true;
    }
  };
}

describe('streams/stream', () => {
  it('a fast producer stays at most highWaterMark + 1 items ahead of a slow consumer; memory stays flat', async () => {
    for (const hwm of [1, 2, 4]) {
      const before = tf.memory().numTensors;
      const counters = { produced: 0, finallyRan: false };
      let consumed = 0;
      let maxAhead = 0;
      let maxTensors = 0;
      const seen: number[] = [];
      await consume(pullStream(fastBatches(20, counters), { highWaterMark: hwm }), async (batch) => {
        maxAhead = Math.max(maxAhead, counters.produced - consumed);
        maxTensors = Math.max(maxTensors, tf.memory().numTensors - before);
        seen.push(batch.labels.dataSync()[0]);
        await sleep(2);
        consumed += 1;
      });
      assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => i));
      // Bound: hwm items waiting + the one being handled; never more (the producer is faster by far).
      assert.ok(maxAhead <= hwm + 1, `hwm ${hwm}: producer got ${maxAhead} items ahead`);
      assert.equal(maxAhead, hwm + 1, `hwm ${hwm}: a fast producer fills the buffer`);
      // Each batch holds 2 tensors; at most hwm + 1 batches exist at once.
      assert.ok(maxTensors <= 2 * (hwm + 1), `hwm ${hwm}: ${maxTensors} tensors alive`);
      assert.equal(tf.memory().numTensors, before, 'every batch disposed after its handler');
      assert.ok(counters.finallyRan);
    }
  });

  it('fans out to two consumers in lock-step with the slowest; each sees every item', async () => {
    const before = tf.memory().numTensors;
    const counters = { produced: 0, finallyRan: false };
    const stream = pullStream(fastBatches(12, counters), { highWaterMark: 2 });
    const fast: number[] = [];
    const slow: number[] = [];
    let slowDone = 0;
    let maxAheadOfSlow = 0;
    await Promise.all([
      consume(stream, (b) => {
        fast.push(b.index);
        maxAheadOfSlow = Math.max(maxAheadOfSlow, counters.produced - slowDone);
      }),
      consume(stream, async (b) => {
        slow.push(b.index);
        await sleep(3);
        slowDone += 1;
      }),
    ]);
    const all = Array.from({ length: 12 }, (_, i) => i);
    assert.deepEqual(fast, all);
    assert.deepEqual(slow, all);
    assert.ok(maxAheadOfSlow <= 3, `producer ran ${maxAheadOfSlow} items ahead of the slow consumer`);
    assert.equal(tf.memory().numTensors, before);
  });

  it('plain RxJS operators keep working, and take() stops the producer', async () => {
    const before = tf.memory().numTensors;
    const counters = { produced: 0, finallyRan: false };
    const got: number[] = [];
    const stream = pullStream(fastBatches(100, counters));
    await consume(
      stream.pipe(filter((b) => b.index % 2 === 0), map((b) => b.x.dataSync()[0]), take(3)),
      async (v) => {
        got.push(v);
        await sleep(1);
      },
    );
    assert.deepEqual(got, [0, 2, 4]);
    await sleep(5);
    assert.ok(counters.finallyRan, 'generator returned after take(3) unsubscribed');
    assert.ok(counters.produced <= 5 + 3, `produced ${counters.produced} items for 3 taken`);
    assert.equal(tf.memory().numTensors, before);
  });

  it('a producer error rejects consume with that error, and buffered items are disposed', async () => {
    const before = tf.memory().numTensors;
    const stream = pullStream<Batch>(async function* () {
      yield { x: tf.zeros([1, 1, 1, 1]) as tf.Tensor4D, labels: tf.tensor1d([0], 'int32'), index: 0, epoch: 0 };
      throw new Error('disk on fire');
    });
    await assert.rejects(consume(stream, () => sleep(2)), /disk on fire/);
    await sleep(5);
    assert.equal(tf.memory().numTensors, before);
  });

  it('a handler error rejects consume and stops the producer', async () => {
    const before = tf.memory().numTensors;
    const counters = { produced: 0, finallyRan: false };
    await assert.rejects(
      consume(pullStream(fastBatches(50, counters)), (b) => {
        if (b.index === 3) throw new Error('bad batch 3');
      }),
      /^Error: bad batch 3$/,
    );
    await sleep(5);
    assert.ok(counters.finallyRan);
    assert.ok(counters.produced <= 3 + 1 + 2);
    assert.equal(tf.memory().numTensors, before);
  });

  it('aborting the signal rejects with CancelledError, returns the generator, and frees memory', async () => {
    const before = tf.memory().numTensors;
    const counters = { produced: 0, finallyRan: false };
    const controller = new AbortController();
    let handled = 0;
    const p = consume(pullStream(fastBatches(1000, counters)), async () => {
      handled += 1;
      if (handled === 4) controller.abort();
      await sleep(1);
    }, controller.signal);
    await assert.rejects(p, (err: unknown) => err instanceof CancelledError && err.message === 'run cancelled');
    await sleep(10);
    assert.ok(counters.finallyRan);
    assert.equal(tf.memory().numTensors, before);
  });

  it('the producer signal aborts the stream with a CancelledError', async () => {
    const controller = new AbortController();
    const stream = pullStream(async function* (signal) {
      for (let i = 0; ; i++) {
        await sleep(1);
        if (signal.aborted) return;
        yield i;
      }
    }, { signal: controller.signal, dispose: false });
    const seen: number[] = [];
    const p = consume(stream, (i) => {
      seen.push(i);
      if (i === 2) controller.abort();
    });
    await assert.rejects(p, (err: unknown) => err instanceof CancelledError && err.message === 'stream cancelled');
    assert.deepEqual(seen.slice(0, 3), [0, 1, 2]);
  });

  it('rejects a bad highWaterMark', () => {
    assert.throws(() => pullStream(async function* () {}, { highWaterMark: 0 }),
      (err: unknown) => err instanceof DistilleryError && err.message === 'pullStream: highWaterMark must be an integer >= 1 (found 0)');
  });
});
