import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { NoiseSchedule } from '../../src/diffusion/schedule';
import { batchStream } from '../../src/streams/batch-stream';
import type { ArrayDataset } from '../../src/data/dataset';
import { uniformGenerator } from '../../src/data/random';
import { Rng } from '../../src/training/rng';
import { OPTIMIZATION_DEFAULTS } from '../../src/stage-engine/trainer';
import { checkRounds, computeReplayItem, runProgressiveDistillation, type ProgressiveOptions } from './stage';
import { replayPassOrder } from '../../src/stage-engine/replay';
import { ScalarDenoiser } from '../../test/helpers/toy-denoiser';

// Linear betas 1e-4…0.02 over 1000 steps, leading spacing, final alpha-bar = 1.
const schedule = NoiseSchedule.fromConfig({
  numTrainTimesteps: 1000, betaSchedule: 'linear', betaStart: 1e-4, betaEnd: 0.02, predictionType: 'v_prediction',
  timestepSpacing: 'leading', stepsOffset: 0, setAlphaToOne: true,
});
const a = (t: number) => Math.sqrt(t < 0 ? 1 : schedule.alphasCumprod[t]);
const s = (t: number) => Math.sqrt(1 - (t < 0 ? 1 : schedule.alphasCumprod[t]));

/** One DDIM step of the toy teacher v̂ = c·z multiplies z by a'(a − s·c) + s'(s + a·c). */
const ddimFactor = (c: number, t: number, tp: number) => a(tp) * (a(t) - s(t) * c) + s(tp) * (s(t) + a(t) * c);

function toyData(n: number, seed: number): ArrayDataset {
  const next = uniformGenerator(seed);
  return { x: Float32Array.from({ length: n * 4 }, () => 2 * next() - 1), shape: [n, 2, 2, 1], labels: Int32Array.from({ length: n }, (_, i) => i % 2) };
}

function options(teacher: ScalarDenoiser, outDir: string, extra: Partial<ProgressiveOptions> = {}): ProgressiveOptions {
  return {
    teacher, schedule, baseSteps: 2, rounds: [{ steps: 1, iterations: 40 }],
    batches: batchStream(toyData(16, 1), { batchSize: 4, seed: 3 }),
    optimization: { ...OPTIMIZATION_DEFAULTS, lr: 0.05, lrSchedule: 'linear', weightDecay: 0, gradClip: 0, emaDecay: 0, keepLast: 2 },
    teacherGuidanceScale: 1, lossWeighting: 'truncated_snr', distillWeight: 1, targetWeight: 0, targetLoss: 'target',
    replay: { blockBatches: 2, times: 2 }, seed: 11, outDir, resume: false, ...extra,
  };
}

describe('nodes/progressive-distillation/stage', () => {
  let dir: string;
  let before: number;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prog-'));
    before = tf.memory().numTensors;
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a baseSteps other than the schedule\'s DistillDDIMScheduler teacherMaxTrainSteps', async () => {
    const teacher = new ScalarDenoiser(0.3);
    const distillSchedule = NoiseSchedule.fromConfig({ ...schedule.toConfig(), teacherMaxTrainSteps: 4 });
    await assert.rejects(runProgressiveDistillation(options(teacher, dir, { schedule: distillSchedule })),
      /baseSteps: must equal the schedule's teacherMaxTrainSteps \(its DistillDDIMScheduler sub-sequence base\) \(expected 4, found 2\)/);
    teacher.dispose();
  });

  it('checks that rounds halve from baseSteps/2', () => {
    assert.deepEqual(checkRounds(64, [{ steps: 32, iterations: 1 }, { steps: 16, iterations: 1 }]), []);
    const p = checkRounds(64, [{ steps: 32, iterations: 1 }, { steps: 8, iterations: 1 }]);
    assert.equal(p.length, 1);
    assert.equal(p[0].path, 'rounds.1.steps');
    assert.equal(p[0].expected, '16');
  });

  it('computes the 2-step toy teacher\'s target x̃ as the hand formula does (tolerance 1e-5 relative)', () => {
    // 2-step leading schedule: timesteps [500, 0]; the 1-step student goes 500 → final.
    const triples = schedule.distillationTriples(2, 1);
    assert.deepEqual(triples.map((x) => [x.t, x.tMid, x.tNext]), [[500, 0, -1]]);
    const c = 0.3;
    const teacher = new ScalarDenoiser(c);
    const x = tf.tensor4d([0.5, -0.25, 1, 0], [1, 2, 2, 1]);
    const labels = tf.tensor1d([1], 'int32');
    const item = computeReplayItem({ schedule, teacher, triples }, x, labels, Rng.fromSeed(5));
    const z = item.z.dataSync();
    const target = item.target.dataSync();
    // z_t' = k1·z_t, z_t'' = k2·z_t'; x̃ = (z_t'' − (s''/s)·z_t) / (a'' − (s''/s)·a).
    const k1 = ddimFactor(c, 500, 0);
    const k2 = ddimFactor(c, 0, -1);
    const ratio = s(-1) / s(500);
    const kappa = (k2 * k1 - ratio) / (a(-1) - ratio * a(500));
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(target[i] - kappa * z[i]) <= 1e-5 * Math.max(1, Math.abs(kappa * z[i])), `element ${i}: ${target[i]} vs ${kappa * z[i]}`);
    // With t' and t'' swapped in the target formula the number differs by far more than the tolerance.
    const swapped = (k2 * k1 - s(0) / s(500)) / (a(0) - (s(0) / s(500)) * a(500));
    assert.ok(Math.abs(swapped - kappa) > 1e-3, `swapped ${swapped} vs ${kappa}`);
    assert.deepEqual(Array.from(item.t.dataSync()), [500]);
    tf.dispose([x, labels, item.x, item.eps, item.t, item.z, item.labels, item.target]);
    teacher.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('trains a 1-step student to the hand-derived optimum c* = (a_t − κ)/s_t, spilling and deleting replay blocks', async () => {
    const c = 0.3;
    const teacher = new ScalarDenoiser(c);
    const k = ddimFactor(c, 0, -1) * ddimFactor(c, 500, 0);
    const ratio = s(-1) / s(500);
    const kappa = (k - ratio) / (a(-1) - ratio * a(500));
    const cStar = (a(500) - kappa) / s(500);
    const replayDir = path.join(dir, 'replay', 'round-0');
    const seenBlocks = new Set<string>();
    const students = await runProgressiveDistillation(options(teacher, dir, {
      rounds: [{ steps: 1, iterations: 200 }],
      progress: () => {
        if (fs.existsSync(replayDir)) for (const f of fs.readdirSync(replayDir)) seenBlocks.add(f);
      },
    }));
    assert.equal(students.length, 1);
    const learned = (students[0].model as ScalarDenoiser).c;
    assert.ok(Math.abs(learned - cStar) < 1e-3, `learned ${learned}, hand optimum ${cStar}`);
    // 200 steps, blocks of 2 batches replayed twice → 50 blocks, each spilled, then deleted with the folder.
    assert.equal(seenBlocks.size, 50);
    assert.ok(seenBlocks.has('block-000000.safetensors'));
    assert.equal(fs.existsSync(path.join(dir, 'replay', 'round-0')), false);
    assert.ok(fs.existsSync(students[0].file));
    students.forEach((x) => x.model.dispose());
    teacher.dispose();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(tf.memory().numTensors, before);
  });

  it('resumes mid-round from the last checkpoint and ends with the same student as an uninterrupted run (exact)', async () => {
    const rounds = [{ steps: 2, iterations: 12 }, { steps: 1, iterations: 12 }];
    const run = async (out: string, extra: Partial<ProgressiveOptions>) => {
      const teacher = new ScalarDenoiser(0.3);
      try {
        return await runProgressiveDistillation(options(teacher, out, { baseSteps: 4, rounds, ...extra }));
      } finally {
        teacher.dispose();
      }
    };
    const opt = { ...OPTIMIZATION_DEFAULTS, lr: 0.05, lrSchedule: 'linear' as const, weightDecay: 0, gradClip: 0, emaDecay: 0.5, keepLast: 2, checkpointEvery: 4 };
    const reference = await run(path.join(dir, 'ref'), { optimization: opt });
    const refValues = reference.map((x) => (x.model as ScalarDenoiser).c);
    reference.forEach((x) => x.model.dispose());

    const controller = new AbortController();
    await assert.rejects(run(path.join(dir, 'resumed'), {
      optimization: opt, signal: controller.signal,
      // Cancel in round 1 (the 1-step round) after its step 6: the last checkpoint is its step 4.
      progress: (step) => { if (step === 12 + 6) controller.abort(); },
    }), /cancelled/);
    assert.ok(fs.existsSync(path.join(dir, 'resumed', 'round-1-1steps', 'checkpoints', 'checkpoint-000000004.safetensors')));
    const resumed = await run(path.join(dir, 'resumed'), { optimization: opt, resume: true });
    const values = resumed.map((x) => (x.model as ScalarDenoiser).c);
    resumed.forEach((x) => x.model.dispose());
    assert.deepEqual(values, refValues);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(tf.memory().numTensors, before);
  });

  it('replay.shuffle reshuffles a block\'s examples into new batches every pass (seeded) and still resumes exactly mid-pass', async () => {
    // The order: each pass is a permutation of all the block's examples, cut into the stored batch sizes.
    const order = replayPassOrder(11, 'round-0', 3, 1, [4, 4]);
    assert.deepEqual([...order[0], ...order[1]].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(replayPassOrder(11, 'round-0', 3, 1, [4, 4]), order);
    assert.notDeepEqual(replayPassOrder(11, 'round-0', 3, 0, [4, 4]), order);

    const rounds = [{ steps: 2, iterations: 12 }, { steps: 1, iterations: 12 }];
    const run = async (out: string, extra: Partial<ProgressiveOptions>) => {
      const teacher = new ScalarDenoiser(0.3);
      try {
        return await runProgressiveDistillation(options(teacher, out, { baseSteps: 4, rounds, replay: { blockBatches: 2, times: 2, shuffle: true }, ...extra }));
      } finally {
        teacher.dispose();
      }
    };
    const opt = { ...OPTIMIZATION_DEFAULTS, lr: 0.05, lrSchedule: 'linear' as const, weightDecay: 0, gradClip: 0, emaDecay: 0.5, keepLast: 2, checkpointEvery: 5 };
    const reference = await run(path.join(dir, 'ref'), { optimization: opt });
    const refValues = reference.map((x) => (x.model as ScalarDenoiser).c);
    reference.forEach((x) => x.model.dispose());
    const inOrder = await run(path.join(dir, 'ordered'), { optimization: opt, replay: { blockBatches: 2, times: 2 } });
    const orderedValues = inOrder.map((x) => (x.model as ScalarDenoiser).c);
    inOrder.forEach((x) => x.model.dispose());
    assert.notDeepEqual(refValues, orderedValues, 'the shuffled passes train on other batches');

    const controller = new AbortController();
    await assert.rejects(run(path.join(dir, 'resumed'), {
      optimization: opt, signal: controller.signal,
      // Cancel in round 1 after its step 6: the last checkpoint is step 5, inside the first pass of block 1.
      progress: (step) => { if (step === 12 + 6) controller.abort(); },
    }), /cancelled/);
    const resumed = await run(path.join(dir, 'resumed'), { optimization: opt, resume: true });
    const values = resumed.map((x) => (x.model as ScalarDenoiser).c);
    resumed.forEach((x) => x.model.dispose());
    assert.deepEqual(values, refValues);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(tf.memory().numTensors, before);
  });
});
