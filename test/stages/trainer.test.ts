import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { OPTIMIZATION_DEFAULTS, StageTrainer, type OptimizationConfig } from '../../src/stages/trainer';
import { readCheckpoint } from '../../src/training/checkpoint';
import type { WeightModule } from '../../src/models/types';

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

describe('stages/trainer', () => {
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
