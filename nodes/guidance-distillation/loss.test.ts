/**
 * guidance-distillation's loss (stage one) on its own and through the stage engine's loop with the seed's
 * replay blocks (teacher targets computed per block, spilled, trained on `times` times).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { batchStream } from '../../src/streams/batch-stream';
import { OPTIMIZATION_DEFAULTS } from '../../src/stage-engine/trainer';
import { runDenoisingStage, type StageReplay, type StageValidation } from '../../src/stage-engine/denoising';
import type { TrainableDenoiser } from '../../src/stage-engine/types';
import { perturbWeights, tinyLatents, tinySchedule, tinyUNet } from '../../test/helpers/tiny';
import { guidanceDistillationLoss, guidanceDistillationParts } from './loss';

describe('nodes/guidance-distillation/loss', () => {
  it('refuses the w-range variant for a student without a guidance-weight embedding', () => {
    const m = tinyUNet('v_prediction');
    assert.throws(() => guidanceDistillationLoss(m, m, tinySchedule(), { weightRange: [0, 4], distillWeight: 1, targetWeight: 0, loss: { weighting: 'target' } }),
      /variant: the paper variant needs a student with a guidance-weight embedding \(guidance_embed: true\)/);
    m.dispose();
  });

  describe('stage-one replay (the seed\'s teacher-target blocks)', () => {
    const schedule = tinySchedule('v_prediction');
    const lossOptions = { guidanceScale: 3, distillWeight: 1, targetWeight: 0, loss: { weighting: 'target' as const } };
    /** Trains a copy of a fixed student; returns its final weights (flattened), the step losses and the stage's replay folder. */
    async function train(dir: string, extra: { replay?: Omit<StageReplay, 'dir' | 'compute' | 'loss'>; accumulation?: number; resume?: boolean; abortAt?: number;
      validation?: StageValidation<TrainableDenoiser> }) {
      const teacher = perturbWeights(tinyUNet('v_prediction'));
      const student = teacher.clone();
      const controller = new AbortController();
      const losses: number[] = [];
      const replayDir = path.join(dir, 'replay');
      try {
        const result = await runDenoisingStage({
          name: 'stage-one', student, batches: batchStream(tinyLatents(32), { batchSize: 4, seed: 1 }),
          optimization: { ...OPTIMIZATION_DEFAULTS, iterations: 8, accumulation: extra.accumulation ?? 1, lr: 1e-3, emaDecay: 0.5, checkpointEvery: 3 },
          lossFor: guidanceDistillationLoss(student, teacher, schedule, lossOptions), seed: 5, checkpointDir: path.join(dir, 'checkpoints'),
          resume: extra.resume ?? false, signal: controller.signal,
          progress: (step, _total, m) => { losses.push(m.loss); if (step === extra.abortAt) controller.abort(); },
          ...(extra.replay ? { replay: { ...extra.replay, dir: replayDir, ...guidanceDistillationParts(student, teacher, schedule, lossOptions) } } : {}),
          ...(extra.validation ? { validation: extra.validation } : {}),
        });
        const weights = Object.values(result.getWeights());
        const flat = weights.flatMap((t) => Array.from(t.dataSync()));
        tf.dispose(weights);
        result.dispose();
        return { flat, losses, replayDir };
      } finally {
        student.dispose();
        teacher.dispose();
      }
    }

    it('one in-order pass (times 1) is exactly lock-step training; more passes and reshuffling train on the stored targets', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'den-'));
      const before = tf.memory().numTensors;
      const lockStep = await train(path.join(dir, 'a'), { accumulation: 2 });
      const onePass = await train(path.join(dir, 'b'), { accumulation: 2, replay: { blockBatches: 3, times: 1, shuffle: false } });
      assert.deepEqual(onePass.losses, lockStep.losses);
      assert.deepEqual(onePass.flat, lockStep.flat);
      const shuffled = await train(path.join(dir, 'c'), { accumulation: 2, replay: { blockBatches: 3, times: 2, shuffle: true } });
      assert.notDeepEqual(shuffled.flat, lockStep.flat);
      assert.equal(fs.existsSync(shuffled.replayDir), false, 'the spill folder is removed at the end');
      assert.equal(tf.memory().numTensors, before);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('draws validation grids when due under replay too, with the training unchanged', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'den-'));
      const before = tf.memory().numTensors;
      const replay = { blockBatches: 3, times: 2, shuffle: true };
      const plain = await train(path.join(dir, 'a'), { replay });
      const calls: [number, number[]][] = [];
      // The hook runs with the result (EMA) weights swapped in; a forward pass there must not touch training.
      const validation: StageValidation<TrainableDenoiser> = {
        every: 3,
        run: async (model, step, shape) => {
          calls.push([step, shape]);
          tf.tidy(() => { model.predict(tf.zeros([1, ...shape]) as tf.Tensor4D, tf.tensor1d([1], 'int32'), tf.tensor1d([0], 'int32')); });
        },
      };
      const validated = await train(path.join(dir, 'b'), { replay, validation });
      assert.deepEqual(calls, [[3, [4, 4, 2]], [6, [4, 4, 2]], [8, [4, 4, 2]]]);
      assert.deepEqual(validated.losses, plain.losses);
      assert.deepEqual(validated.flat, plain.flat);
      assert.equal(tf.memory().numTensors, before);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('a cancelled run resumed mid-block replays the same batches (exact)', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'den-'));
      const before = tf.memory().numTensors;
      const replay = { blockBatches: 2, times: 2, shuffle: true };
      const reference = await train(path.join(dir, 'ref'), { replay });
      // Cancelled after step 5: the cancel checkpoints step 5, inside block 1's first pass; block 1's spilled file is reused.
      await assert.rejects(train(path.join(dir, 'run'), { replay, abortAt: 5 }), /cancelled/);
      const resumed = await train(path.join(dir, 'run'), { replay, resume: true });
      assert.deepEqual(resumed.flat, reference.flat);
      assert.equal(tf.memory().numTensors, before);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  });
});
