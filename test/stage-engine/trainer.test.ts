import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { OPTIMIZATION_DEFAULTS, StageTrainer, type OptimizationConfig } from '../../src/stage-engine/trainer';
import { readCheckpoint } from '../../src/training/checkpoint';
import type { WeightModule } from '../../src/models/types';
import type { ProcessGroup, ReduceOp } from '../../src/distributed/process-group';

/** One weight w (start 0) pulled towards the targets step by step: loss_k = (w − target_k)². */
function quadratic(): WeightModule & { w: tf.Variable } {
  const w = tf.tidy(() => tf.variable(tf.scalar(0), true, 'w'));
  return { w, variables: new Map([['w', w]]), loadWeights: () => undefined } as unknown as WeightModule & { w: tf.Variable };
}

async function train(dir: string, config: Partial<OptimizationConfig>, targets: number[], evaluate?: () => number): Promise<void> {
  const m = quadratic();
  const trainer = new StageTrainer({
    student: m, checkpointDir: dir, config: { ...OPTIMIZATION_DEFAULTS, iterations: targets.length, lr: 0.1, emaDecay: 0, gradClip: 0, weightDecay: 0, checkpointEvery: 2, keepLast: 10, ...config },
    ...(evaluate ? { hooks: { evaluate } } : {}),
  });
  for (const target of targets) await trainer.update([() => tf.tidy(() => tf.square(tf.sub(m.w, target)) as tf.Scalar)]);
  trainer.dispose();
  m.w.dispose();
}

describe('stage-engine/trainer', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trainer-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('bestBy "trainLoss": the best checkpoint has the lowest mean training loss since the previous checkpoint', async () => {
    // Targets far, near, far: the mean loss of steps 3–4 (targets 0) is lowest while w is still near 0.
    const before = tf.memory().numTensors;
    await train(dir, { bestBy: 'trainLoss' }, [5, 5, 0, 0, 5, 5]);
    assert.equal(tf.memory().numTensors, before);
    const best = await readCheckpoint(path.join(dir, 'best.safetensors'));
    const all = await Promise.all([2, 4, 6].map((k) => readCheckpoint(path.join(dir, `checkpoint-00000000${k}.safetensors`))));
    const means = all.map((c) => c.metrics.trainLoss);
    assert.ok(means.every(Number.isFinite), JSON.stringify(means));
    assert.equal(best.step, [2, 4, 6][means.indexOf(Math.min(...means))]);
    assert.equal(best.step, 4);
    [best, ...all].forEach((c) => c.dispose());
  });

  it('bestBy "evalLoss" (the default) selects by the evaluation loss and records the training loss beside it', async () => {
    const values = [3, 1, 2];
    let i = 0;
    await train(dir, {}, [1, 1, 1, 1, 1, 1], () => values[i++]);
    const best = await readCheckpoint(path.join(dir, 'best.safetensors'));
    assert.equal(best.step, 4);
    assert.equal(best.metrics.evalLoss, 1);
    assert.ok(Number.isFinite(best.metrics.trainLoss));
    best.dispose();
  });

  it('without an evaluation, bestBy "evalLoss" keeps no best checkpoint (and the checkpoints record no metrics)', async () => {
    await train(dir, {}, [1, 1]);
    assert.equal(fs.existsSync(path.join(dir, 'best.safetensors')), false);
    const c = await readCheckpoint(path.join(dir, 'checkpoint-000000002.safetensors'));
    assert.deepEqual(c.metrics, {});
    c.dispose();
  });
});

/**
 * Rank 0 of a 2-rank group whose other rank holds the same parameters (gradient means and broadcasts
 * leave the buffers as they are, the checksums agree); a 'sum' all-reduce of length 2 — the trainLoss
 * sums at a checkpoint — adds the other rank's scripted [lossSum, lossCount].
 */
class MirrorRankZero implements ProcessGroup {
  readonly rank = 0;
  readonly worldSize = 2;
  readonly localRank = 0;
  readonly localWorldSize = 2;
  readonly backend = 'stand-in';
  readonly timeoutMs = 1000;
  readonly sums: number[][] = [];
  constructor(private readonly otherSums: number[]) {}
  async allReduce(buffer: Float32Array, op: ReduceOp): Promise<void> {
    if (op === 'sum' && buffer.length === 2) {
      this.sums.push([...buffer]);
      buffer[0] += this.otherSums[0];
      buffer[1] += this.otherSums[1];
    }
  }
  async broadcast(): Promise<void> {}
  async allGather(buffer: Float32Array): Promise<Float32Array> {
    const out = new Float32Array(2 * buffer.length);
    out.set(buffer, 0);
    out.set(buffer, buffer.length);
    return out;
  }
  async barrier(): Promise<void> {}
  close(): void {}
}

describe('stage-engine/trainer (data-parallel)', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trainer-dist-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('bestBy "trainLoss" under 2 ranks: the checkpoint records the mean over both ranks\' losses since the previous checkpoint (float32, relative 1e-6)', async () => {
    const before = tf.memory().numTensors;
    const m = quadratic();
    const group = new MirrorRankZero([100, 2]);
    const trainer = new StageTrainer({
      student: m, checkpointDir: dir, distributed: { group, checksumEvery: 0 },
      config: { ...OPTIMIZATION_DEFAULTS, iterations: 2, lr: 0.1, emaDecay: 0, gradClip: 0, weightDecay: 0, checkpointEvery: 2, keepLast: 10, bestBy: 'trainLoss' },
    });
    const losses: number[] = [];
    for (const target of [5, 3]) losses.push((await trainer.update([() => tf.tidy(() => tf.square(tf.sub(m.w, target)) as tf.Scalar)])).loss);
    trainer.dispose();
    m.w.dispose();
    assert.equal(tf.memory().numTensors, before);
    // The losses by hand: w = 0 at step 1 (loss 25); Adam's first step moves w by lr = 0.1 towards 5 → (0.1 − 3)² = 8.41.
    assert.ok(Math.abs(losses[0] - 25) < 1e-5 && Math.abs(losses[1] - 8.41) < 1e-4, JSON.stringify(losses));
    assert.equal(group.sums.length, 1);
    const checkpoint = await readCheckpoint(path.join(dir, 'checkpoint-000000002.safetensors'));
    const expected = (losses[0] + losses[1] + 100) / 4;
    assert.ok(Math.abs(checkpoint.metrics.trainLoss - expected) <= 1e-6 * expected, `${checkpoint.metrics.trainLoss} vs ${expected}`);
  });

  it('writes: rank 0 (or a single process) writes the stage\'s outputs, another rank does not', () => {
    const m = quadratic();
    const config = { ...OPTIMIZATION_DEFAULTS, iterations: 1 };
    const one = new StageTrainer({ student: m, checkpointDir: dir, config });
    const zero = new StageTrainer({ student: m, checkpointDir: dir, config, distributed: { group: new MirrorRankZero([0, 0]), checksumEvery: 0 } });
    const rankOne = new StageTrainer({ student: m, checkpointDir: dir, config, distributed: { group: Object.assign(new MirrorRankZero([0, 0]), { rank: 1 }) as unknown as ProcessGroup, checksumEvery: 0 } });
    assert.deepEqual([one.writes, zero.writes, rankOne.writes], [true, true, false]);
    [one, zero, rankOne].forEach((t) => t.dispose());
    m.w.dispose();
  });
});
