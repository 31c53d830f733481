import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { batchStream } from '../../src/streams/batch-stream';
import { OPTIMIZATION_DEFAULTS } from '../../src/stage-engine/trainer';
import { denoisingStageLoss, LossParts, partsIfLogged, runDenoisingStage, scaledLrFactor, stepLogged } from '../../src/stage-engine/denoising';
import type { ProcessGroup, ReduceOp } from '../../src/distributed/process-group';
import { denoisingLoss } from '../../src/stage-engine/common';
import { tinyLatents, tinySchedule, tinyUNet } from '../helpers/tiny';

describe('stage-engine/denoising', () => {
  it('names a batch stream that ends before the stage has its iterations', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'den-'));
    const before = tf.memory().numTensors;
    const student = tinyUNet('epsilon');
    await assert.rejects(runDenoisingStage({
      name: 'teacher', student, batches: batchStream(tinyLatents(8), { batchSize: 4, seed: 1, maxBatches: 2 }),
      optimization: { ...OPTIMIZATION_DEFAULTS, iterations: 5, lr: 1e-3 }, lossFor: denoisingStageLoss(student, tinySchedule(), { weighting: 'target' }),
      seed: 1, checkpointDir: dir, resume: false,
    }), /invalid teacher stage:\n  batches: the batch stream ended after 2 of 5 optimizer steps .*raise the data node's epochs \/ maxBatches, or lower iterations/);
    student.dispose();
    assert.equal(tf.memory().numTensors, before);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('scaleLr multiplies the learning rate by batch × accumulation, as the seed\'s --scale_lr', async () => {
    // The seed: learning_rate × gradient_accumulation_steps × train_batch_size × num_processes = 1e-4 × 2 × 4 × 1.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'den-'));
    const before = tf.memory().numTensors;
    const lrs: Record<string, number[]> = { off: [], on: [] };
    for (const scaleLr of [false, true]) {
      const student = tinyUNet('epsilon');
      const result = await runDenoisingStage({
        name: 'teacher', student, batches: batchStream(tinyLatents(16), { batchSize: 4, seed: 1 }),
        optimization: { ...OPTIMIZATION_DEFAULTS, iterations: 2, accumulation: 2, lr: 1e-4, lrSchedule: 'linear', scaleLr },
        lossFor: denoisingStageLoss(student, tinySchedule(), { weighting: 'target' }), seed: 1,
        checkpointDir: path.join(dir, String(scaleLr)), resume: false,
        progress: (_step, _total, m) => lrs[scaleLr ? 'on' : 'off'].push(m.lr),
      });
      result.dispose();
      student.dispose();
    }
    // linear over 2 steps: lr, lr/2. Float64 arithmetic: tolerance 1e-15.
    assert.deepEqual(lrs.off, [1e-4, 5e-5]);
    lrs.on.forEach((v, i) => assert.ok(Math.abs(v - 8 * lrs.off[i]) < 1e-15, `step ${i}: ${v}`));
    assert.equal(tf.memory().numTensors, before);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('weights the x-space loss by the SNR: (1 + SNR)·‖x̂ − x‖² equals the v-MSE (tolerance 1e-5 relative)', () => {
    // From spec section 2: x̂ − x = −s·(v̂ − v), so (1 + SNR)·s²‖v̂ − v‖² = ‖v̂ − v‖² since (1 + SNR)·s² = 1.
    const schedule = tinySchedule();
    const [a, b] = tf.tidy(() => {
      const x = tf.randomNormal([3, 2, 2, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
      const eps = tf.randomNormal([3, 2, 2, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
      const t = tf.tensor1d([10, 400, 900]);
      const ab = tf.tensor1d([10, 400, 900].map((k) => schedule.alphasCumprod[k]));
      const z = tf.add(tf.mul(tf.reshape(tf.sqrt(ab), [-1, 1, 1, 1]), x), tf.mul(tf.reshape(tf.sqrt(tf.sub(1, ab)), [-1, 1, 1, 1]), eps)) as tf.Tensor4D;
      const vHat = tf.randomNormal([3, 2, 2, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
      return [denoisingLoss(schedule, vHat, 'v_prediction', x, eps, z, t, { weighting: 'snr_plus_one' }), denoisingLoss(schedule, vHat, 'v_prediction', x, eps, z, t, { weighting: 'target' })];
    });
    const va = a.dataSync()[0];
    const vb = b.dataSync()[0];
    assert.ok(Math.abs(va - vb) <= 1e-5 * vb, `${va} vs ${vb}`);
    tf.dispose([a, b]);
  });

  it('target_* weightings weigh the MSE of the model\'s own target (v here) per example (hand-built expectation, tolerance 1e-5 relative)', () => {
    const schedule = tinySchedule();
    const ts = [10, 400, 900];
    const snr = ts.map((k) => schedule.alphasCumprod[k] / (1 - schedule.alphasCumprod[k]));
    const before = tf.memory().numTensors;
    const out = tf.tidy(() => {
      const x = tf.randomNormal([3, 2, 2, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
      const eps = tf.randomNormal([3, 2, 2, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
      const t = tf.tensor1d(ts);
      const ab = tf.tensor1d(ts.map((k) => schedule.alphasCumprod[k]));
      const a4 = tf.reshape(tf.sqrt(ab), [-1, 1, 1, 1]);
      const s4 = tf.reshape(tf.sqrt(tf.sub(1, ab)), [-1, 1, 1, 1]);
      const z = tf.add(tf.mul(a4, x), tf.mul(s4, eps)) as tf.Tensor4D;
      const v = tf.sub(tf.mul(a4, eps), tf.mul(s4, x));
      const vHat = tf.randomNormal([3, 2, 2, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
      const perExample = Array.from(tf.mean(tf.squaredDifference(vHat, v), [1, 2, 3]).dataSync());
      const loss = (weighting: 'target_min_snr' | 'target_truncated_snr' | 'target_snr_plus_one') =>
        denoisingLoss(schedule, vHat, 'v_prediction', x, eps, z, t, { weighting, minSnrGamma: 5 }).dataSync()[0];
      return { perExample, min: loss('target_min_snr'), trunc: loss('target_truncated_snr'), plus: loss('target_snr_plus_one') };
    });
    const mean = (w: number[]) => w.reduce((acc, wi, i) => acc + wi * out.perExample[i], 0) / w.length;
    const expect = {
      min: mean(snr.map((q) => Math.min(q, 5) / q)), trunc: mean(snr.map((q) => Math.max(q, 1))), plus: mean(snr.map((q) => 1 + q)),
    };
    for (const k of ['min', 'trunc', 'plus'] as const) assert.ok(Math.abs(out[k] - expect[k]) <= 1e-5 * expect[k], `${k}: ${out[k]} vs ${expect[k]}`);
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('stage-engine/denoising (data-parallel hooks)', () => {
  /** Rank 0 of 2; a 'mean' all-reduce averages with the other rank's scripted values (in call order). */
  function rankZero(other: number[][]): { group: ProcessGroup; calls: number[][] } {
    const calls: number[][] = [];
    const group: ProcessGroup = {
      rank: 0, worldSize: 2, localRank: 0, localWorldSize: 2, backend: 'stand-in', timeoutMs: 1000,
      async allReduce(buffer: Float32Array, op: ReduceOp) {
        calls.push([...buffer]);
        const o = other.shift()!;
        for (let i = 0; i < buffer.length; i++) buffer[i] = op === 'mean' ? (buffer[i] + o[i]) / 2 : buffer[i] + o[i];
      },
      async broadcast() {}, async allGather(b: Float32Array) { return b; }, async barrier() {}, close() {},
    };
    return { group, calls };
  }

  it('scaledLrFactor is the global batch: examples per micro-batch × accumulation × processes', () => {
    const micro = [{ x: tf.zeros([4, 2, 2, 1]) }];
    assert.equal(scaledLrFactor(micro, 2), 8);
    assert.equal(scaledLrFactor(micro, 2, 3), 24);
    tf.dispose(micro.map((m) => m.x));
  });

  it('partsIfLogged averages the logged loss parts across ranks (exact halves here) and joins no collective at an unlogged step; nothing leaked', async () => {
    const before = tf.memory().numTensors;
    const { group, calls } = rankZero([[3, 5]]);
    const parts = new LossParts();
    const progress = Object.assign(() => undefined, { logs: (step: number) => step % 2 === 0 });
    tf.tidy(() => {
      parts.record('distillLoss', tf.scalar(1));
      parts.record('targetLoss', tf.scalar(7));
    });
    assert.deepEqual(await partsIfLogged(parts, progress, 1, 4, { group, checksumEvery: 0 }), {});
    assert.equal(calls.length, 0);
    tf.tidy(() => {
      parts.record('distillLoss', tf.scalar(1));
      parts.record('targetLoss', tf.scalar(7));
    });
    assert.deepEqual(await partsIfLogged(parts, progress, 2, 4, { group, checksumEvery: 0 }), { distillLoss: 2, targetLoss: 6 });
    assert.deepEqual(calls, [[1, 7]]);
    assert.equal(tf.memory().numTensors, before);
  });

  it('stepLogged: the progress\'s rule when it has one, else every logEvery steps and the last', () => {
    const progress = Object.assign(() => undefined, { logs: (step: number) => step === 3 });
    assert.deepEqual([1, 2, 3].map((s) => stepLogged(progress, 1, s, 5)), [false, false, true]);
    assert.deepEqual([1, 2, 3, 4, 5].map((s) => stepLogged(undefined, 2, s, 5)), [false, true, false, true, true]);
    assert.equal(stepLogged(undefined, 0, 5, 5), false);
  });
});
