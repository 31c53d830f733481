/**
 * The tensor side of data-parallel training against an in-process stand-in for rank 0 of a 2-rank group:
 * the other rank's contribution is given by the test, so the expected values are exact by hand.
 */
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { allReduceMeanGradients, broadcastVariables, buckets, checkParametersAgree, newCommStats, parameterDigest } from '../../src/distributed/gradients';
import { broadcastString } from '../../src/distributed/collectives';
import type { ProcessGroup, ReduceOp } from '../../src/distributed/process-group';
import { DistributedError } from '../../src/errors';

/** Rank `rank` of 2; `other` plays the other rank: its buffer for each call, in call order. */
class TwoRankStandIn implements ProcessGroup {
  readonly worldSize = 2;
  readonly localRank = 0;
  readonly localWorldSize = 2;
  readonly backend = 'stand-in';
  readonly timeoutMs = 1000;
  readonly calls: string[] = [];
  constructor(readonly rank: number, private readonly other: (call: string, length: number) => Float32Array) {}
  async allReduce(buffer: Float32Array, op: ReduceOp): Promise<void> {
    this.calls.push(`allReduce(${buffer.length})`);
    const o = this.other('allReduce', buffer.length);
    for (let i = 0; i < buffer.length; i++) buffer[i] = op === 'mean' ? (buffer[i] + o[i]) / 2 : buffer[i] + o[i];
  }
  async broadcast(buffer: Float32Array, root: number): Promise<void> {
    this.calls.push(`broadcast(${buffer.length})`);
    if (root !== this.rank) buffer.set(this.other('broadcast', buffer.length));
  }
  async allGather(buffer: Float32Array): Promise<Float32Array> {
    const o = this.other('allGather', buffer.length);
    const out = new Float32Array(2 * buffer.length);
    out.set(this.rank === 0 ? buffer : o, 0);
    out.set(this.rank === 0 ? o : buffer, buffer.length);
    return out;
  }
  async barrier(): Promise<void> {}
  close(): void {}
}

describe('distributed/gradients', () => {
  it('buckets: consecutive groups up to the byte cap; a tensor larger than the cap is a bucket alone', () => {
    const sizes = [10, 10, 30, 5, 5, 5].map((size) => ({ size }));
    assert.deepEqual(buckets(sizes, 4 * 20).map((b) => b.map((t) => t.size)), [[10, 10], [30], [5, 5, 5]]);
  });

  it('allReduceMeanGradients: one collective per bucket, the mean written back under the same names and shapes; inputs disposed, nothing leaked', async () => {
    const before = tf.memory().numTensors;
    const grads = new Map<string, tf.Tensor>([['a', tf.tensor2d([[1, 2], [3, 4]])], ['b', tf.tensor1d([10, 20, 30])], ['c', tf.scalar(-1)]]);
    // The other rank's gradients are all 1: the mean is (x + 1) / 2.
    const group = new TwoRankStandIn(0, (_call, n) => new Float32Array(n).fill(1));
    const stats = newCommStats();
    const out = await allReduceMeanGradients(group, grads, stats, 4 * 5);
    assert.deepEqual(group.calls, ['allReduce(4)', 'allReduce(4)']);
    assert.deepEqual(out.get('a')!.shape, [2, 2]);
    assert.deepEqual([...out.get('a')!.dataSync()], [1, 1.5, 2, 2.5]);
    assert.deepEqual([...out.get('b')!.dataSync()], [5.5, 10.5, 15.5]);
    assert.deepEqual([...out.get('c')!.dataSync()], [0]);
    assert.deepEqual({ calls: stats.calls, bytes: stats.bytes }, { calls: 2, bytes: 32 });
    tf.dispose([...out.values()]);
    assert.equal(tf.memory().numTensors, before);
  });

  it('broadcastVariables: a non-root rank takes the root\'s values', async () => {
    const v = tf.variable(tf.tensor1d([0, 0, 0]));
    await broadcastVariables(new TwoRankStandIn(1, () => Float32Array.from([7, 8, 9])), [v]);
    assert.deepEqual([...v.dataSync()], [7, 8, 9]);
    v.dispose();
  });

  it('checkParametersAgree: silent when equal, names the step and the rank when the digests differ', async () => {
    const params = new Map<string, tf.Tensor>([['w', tf.tensor1d([1, 2, 3])]]);
    const digest = await parameterDigest(params);
    const mine = Float32Array.from([0, 1, 2, 3].map((i) => digest.readUInt16BE(2 * i)));
    await checkParametersAgree(new TwoRankStandIn(0, () => mine.slice()), params, 10);
    const other = mine.slice();
    other[3] += 1;
    await assert.rejects(checkParametersAgree(new TwoRankStandIn(0, () => other), params, 200), (err: Error) => {
      assert.ok(err instanceof DistributedError);
      assert.equal(err.message, 'the parameters differ across ranks at step 200: rank 1 disagrees with rank 0');
      return true;
    });
    tf.dispose([...params.values()]);
  });

  it('broadcastString: the root\'s UTF-8 string reaches the other rank exactly', async () => {
    const sent: Float32Array[] = [];
    const root = new TwoRankStandIn(0, () => new Float32Array(0));
    const spy: ProcessGroup = { ...root, rank: 0, worldSize: 2, broadcast: async (b) => void sent.push(b.slice()), allReduce: root.allReduce, allGather: root.allGather, barrier: root.barrier, close: root.close } as ProcessGroup;
    assert.equal(await broadcastString(spy, 'runs/δ-1'), 'runs/δ-1');
    let i = 0;
    const receiver = new TwoRankStandIn(1, () => sent[i++]);
    assert.equal(await broadcastString(receiver, ''), 'runs/δ-1');
  });
});
