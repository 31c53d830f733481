/**
 * Distillery's model, sampler and optimizer on WebGPU, compared with the CPU backend and with
 * latent-diffusion's golden outputs: the UNet forward pass, its gradients with AdamW steps, DDIM
 * sampling with guidance, GPU memory over a training run, `trainStep` (which reads asynchronously) and
 * a short training stage (src/stage-engine: accumulation, EMA, evaluation loss, checkpoint). Tiny shapes;
 * needs a WebGPU adapter (`npm run test:webgpu` sets up Mesa's llvmpipe, see docs/gpu.md).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadSafetensorsAsTf } from '../../../src/io/safetensors';
import { UNet, unetWeightsFromStateDict, type UNetConfigInput } from '../../../src/models/unet';
import { AdamW } from '../../../src/training/adamw';
import { weightedMse } from '../../../src/training/losses';
import { trainStep, type TrainStepResult } from '../../../src/training/train-step';
import { NoiseSchedule } from '../../../src/diffusion/schedule';
import { sampleDdim } from '../../../src/diffusion/sampler';
import type { WeightModule } from '../../../src/models/types';
import { batchStream } from '../../../src/streams/batch-stream';
import { OPTIMIZATION_DEFAULTS } from '../../../src/stage-engine/trainer';
import { CheckpointManager } from '../../../src/training/checkpoint';
import { denoisingStageLoss, runDenoisingStage } from '../../../src/stage-engine/denoising';
import { perturbWeights, tinyLatents, tinySchedule, tinyUNet } from '../../helpers/tiny';
import { assertClose, leaveWebGpu, readAll, useWebGpu, type Values } from './compare';

/** shared/ldm-golden/tiny-cin.yaml unet_config.params with its ClassEmbedder (as test/models/unet.test.ts). */
const TINY_CIN: UNetConfigInput = {
  image_size: 8, in_channels: 3, out_channels: 3, model_channels: 32, attention_resolutions: [2],
  num_res_blocks: 1, channel_mult: [1, 2], num_heads: 1, use_spatial_transformer: true, transformer_depth: 1,
  context_dim: 16, class_embedder: { n_classes: 1001, embed_dim: 16 },
};

/** A small UNet with every block kind the distillation graphs use: attention, label embedding, down/up. */
const SMALL: UNetConfigInput = {
  image_size: 8, in_channels: 2, out_channels: 2, model_channels: 8, num_res_blocks: 1, channel_mult: [1, 2],
  attention_resolutions: [2], num_heads: 2, num_classes: 5, num_groups: 4, use_scale_shift_norm: true,
  prediction_type: 'v_prediction',
};

const GOLDEN_DIR = path.join(__dirname, '..', '..', 'fixtures', 'ldm-golden');

/**
 * Re-draws every parameter from N(0, std²) with fixed seeds (TF.js draws them in JavaScript, so every
 * backend gets the same values): at the default init the zero-initialised output layers would make most
 * gradients exactly zero and hide differences.
 */
function randomizeWeights(model: WeightModule, seed: number, std: number): void {
  let i = 0;
  for (const v of model.variables.values()) {
    const r = tf.randomNormal(v.shape, 0, std, 'float32', seed + i++);
    v.assign(r);
    r.dispose();
  }
}

function nhwc(t: tf.Tensor): tf.Tensor4D {
  return tf.transpose(t, [0, 2, 3, 1]) as tf.Tensor4D;
}

/** A batch (x, t, labels, target) that is the same on every backend. */
function batch(): { x: tf.Tensor4D; t: tf.Tensor1D; labels: tf.Tensor1D; target: tf.Tensor4D } {
  return {
    x: tf.randomNormal([2, 8, 8, 2], 0, 1, 'float32', 11) as tf.Tensor4D,
    t: tf.tensor1d([17, 640]),
    labels: tf.tensor1d([1, 4], 'int32'),
    target: tf.randomNormal([2, 8, 8, 2], 0, 1, 'float32', 12) as tf.Tensor4D,
  };
}

interface TrainRun {
  losses: number[];
  weights: Map<string, Values>;
  memory: Array<{ numBytesInGPU: number; numBytesAllocatedInGPU: number; numTensors: number }>;
}

/**
 * `steps` AdamW steps on the mean-squared error of SMALL's prediction, on `backend`: gradients by
 * tf.variableGrads, the loss read asynchronously (WebGPU cannot read synchronously under Node).
 */
async function train(backend: string, steps: number): Promise<TrainRun> {
  await tf.setBackend(backend);
  const model = new UNet(SMALL, { seed: 3 });
  randomizeWeights(model, 7, 0.2);
  const opt = new AdamW(model.variables, { lr: 1e-3, weightDecay: 0.01 });
  const data = batch();
  const losses: number[] = [];
  const memory: TrainRun['memory'] = [];
  const vars = [...model.variables.values()];
  const nameOf = new Map([...model.variables].map(([name, v]) => [v.name, name]));
  for (let i = 0; i < steps; i++) {
    const { value, grads } = tf.variableGrads(() => weightedMse(model.forward(data.x, data.t, data.labels), data.target), vars);
    losses.push((await value.data())[0]);
    const named = new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k)!, g]));
    opt.step(named);
    tf.dispose([value, ...Object.values(grads)]);
    const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
    memory.push({ numBytesInGPU: m.numBytesInGPU ?? 0, numBytesAllocatedInGPU: m.numBytesAllocatedInGPU ?? 0, numTensors: m.numTensors });
  }
  const weights = new Map<string, Values>();
  for (const [name, v] of model.variables) weights.set(name, (await readAll([v.clone()]))[0]);
  opt.dispose();
  model.dispose();
  tf.dispose(Object.values(data));
  return { losses, weights, memory };
}

describe('backends/webgpu: UNet, AdamW and DDIM on WebGPU', function () {
  this.timeout(600_000);

  before(async () => {
    const info = await useWebGpu();
    assert.equal(info.name, 'webgpu');
    await tf.setBackend('cpu');
  });
  after(leaveWebGpu);

  it('UNet ε on the golden tiny-cin model equals latent-diffusion\'s unet.eps to 1e-4', async () => {
    await tf.setBackend('webgpu');
    const start = tf.memory().numTensors;
    const weights = await loadSafetensorsAsTf(path.join(GOLDEN_DIR, 'tiny-cin-unet.safetensors'));
    const io = await loadSafetensorsAsTf(path.join(GOLDEN_DIR, 'unet-golden-io.safetensors'));
    const model = new UNet(TINY_CIN);
    model.loadWeights(unetWeightsFromStateDict(weights));
    const eps = tf.tidy(() => model.predict(nhwc(io['unet.x']), tf.cast(io['unet.t'], 'float32') as tf.Tensor1D, io['unet.y'] as tf.Tensor1D));
    const [got, ref] = await readAll([eps, nhwc(io['unet.eps'])]);
    // Reference numbers: shared/ldm-golden (PyTorch float32); the CPU backend meets the same 1e-4.
    let worst = 0;
    for (let i = 0; i < ref.values.length; i++) worst = Math.max(worst, Math.abs(ref.values[i] - got.values[i]));
    assert.ok(worst < 1e-4, `max |Δε| = ${worst}`);
    model.dispose();
    tf.dispose([...Object.values(weights), ...Object.values(io)]);
    assert.equal(tf.memory().numTensors, start, 'no tensor leaks');
    await tf.setBackend('cpu');
  });

  it('forward, backward and 3 AdamW steps match the CPU backend (losses 1e-5, weights 1e-4)', async () => {
    const cpu = await train('cpu', 3);
    const gpu = await train('webgpu', 3);
    await tf.setBackend('cpu');
    // The loss must move, or matching weights would prove little.
    assert.ok(Math.abs(cpu.losses[2] - cpu.losses[0]) > 1e-3, `losses ${cpu.losses}`);
    cpu.losses.forEach((l, i) => assert.ok(Math.abs(gpu.losses[i] - l) <= 1e-5 * (1 + Math.abs(l)), `step ${i + 1}: loss ${gpu.losses[i]} vs CPU ${l}`));
    assert.equal(gpu.weights.size, cpu.weights.size);
    for (const [name, ref] of cpu.weights) assertClose(`weight ${name}`, ref, gpu.weights.get(name)!, 1e-4);
  });

  it('GPU memory does not grow over a training run (8 steps)', async () => {
    const run = await train('webgpu', 8);
    await tf.setBackend('cpu');
    const settled = run.memory[1];
    for (let i = 2; i < run.memory.length; i++) {
      assert.deepEqual(run.memory[i], settled, `after step ${i + 1} (step 2: ${JSON.stringify(settled)})`);
    }
    assert.ok(settled.numBytesInGPU > 0, 'the run used GPU buffers');
  });

  it('DDIM sampling with guidance (4 steps) matches the CPU backend to 1e-4', async () => {
    const schedule = NoiseSchedule.fromConfig({ numTrainTimesteps: 1000, betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 });
    const sample = async (backend: string): Promise<Values> => {
      await tf.setBackend(backend);
      const model = new UNet(SMALL, { seed: 5 });
      randomizeWeights(model, 9, 0.2);
      const out = sampleDdim(model, schedule, { steps: 4, labels: [0, 3], shape: [8, 8, 2], guidance: { scale: 2 }, seed: 21 });
      const [v] = await readAll([out]);
      model.dispose();
      return v;
    };
    const ref = await sample('cpu');
    const got = await sample('webgpu');
    await tf.setBackend('cpu');
    assertClose('DDIM sample', ref, got, 1e-4);
  });

  it('trainStep (2 micro-batches, clipping) for 3 steps matches the CPU backend (loss and norm 1e-5, weights 1e-4) and leaks nothing', async () => {
    const run = async (backend: string): Promise<{ results: TrainStepResult[]; weights: Map<string, Values> }> => {
      await tf.setBackend(backend);
      const start = tf.memory().numTensors;
      const model = new UNet(SMALL, { seed: 3 });
      randomizeWeights(model, 7, 0.2);
      const opt = new AdamW(model.variables, { lr: 1e-3, weightDecay: 0.01 });
      const data = batch();
      const halves = [0, 1].map((i) => ({
        x: tf.slice(data.x, [i, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D, t: tf.slice(data.t, [i], [1]) as tf.Tensor1D,
        labels: tf.slice(data.labels, [i], [1]) as tf.Tensor1D, target: tf.slice(data.target, [i, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D,
      }));
      const results: TrainStepResult[] = [];
      for (let i = 0; i < 3; i++) {
        results.push(await trainStep(opt, halves.map((h) => () => weightedMse(model.forward(h.x, h.t, h.labels), h.target)), { maxGradNorm: 0.5 }));
      }
      const weights = new Map<string, Values>();
      for (const [name, v] of model.variables) weights.set(name, (await readAll([v.clone()]))[0]);
      opt.dispose();
      model.dispose();
      tf.dispose([...Object.values(data), ...halves.flatMap((h) => Object.values(h))]);
      assert.equal(tf.memory().numTensors, start, `no tensor leaks on ${backend}`);
      return { results, weights };
    };
    const cpu = await run('cpu');
    const gpu = await run('webgpu');
    await tf.setBackend('cpu');
    // The clip must act and the loss must move, or matching numbers would prove little.
    assert.ok(cpu.results[0].gradNorm > 0.5, `grad norm ${cpu.results[0].gradNorm}`);
    assert.ok(Math.abs(cpu.results[2].loss - cpu.results[0].loss) > 1e-3, `losses ${cpu.results.map((r) => r.loss)}`);
    cpu.results.forEach((r, i) => {
      const g = gpu.results[i];
      assert.ok(Math.abs(g.loss - r.loss) <= 1e-5 * (1 + Math.abs(r.loss)), `step ${i + 1}: loss ${g.loss} vs CPU ${r.loss}`);
      assert.ok(Math.abs(g.gradNorm - r.gradNorm) <= 1e-5 * (1 + r.gradNorm), `step ${i + 1}: grad norm ${g.gradNorm} vs CPU ${r.gradNorm}`);
    });
    for (const [name, ref] of cpu.weights) assertClose(`weight ${name}`, ref, gpu.weights.get(name)!, 1e-4);
  });

  it('a short teacher stage (3 steps, accumulation 2, EMA, evaluation loss, checkpoint) matches the CPU backend', async () => {
    const run = async (backend: string): Promise<{ steps: Array<Record<string, number>>; weights: Map<string, Values>; evalLoss: number }> => {
      await tf.setBackend(backend);
      const start = tf.memory().numTensors;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `webgpu-stage-${backend}-`));
      const student = perturbWeights(tinyUNet('epsilon'));
      const steps: Array<Record<string, number>> = [];
      try {
        const result = await runDenoisingStage({
          name: 'teacher', student, batches: batchStream(tinyLatents(16), { batchSize: 4, seed: 1 }),
          optimization: { ...OPTIMIZATION_DEFAULTS, iterations: 3, accumulation: 2, lr: 1e-3, emaDecay: 0.9, checkpointEvery: 3 },
          lossFor: denoisingStageLoss(student, tinySchedule(), { weighting: 'target' }), seed: 5, checkpointDir: dir, resume: false,
          heldOut: tinyLatents(8, 2), evalBatches: 2, evalBatchSize: 4, progress: (_step, _total, metrics) => { steps.push(metrics); },
        });
        const weights = new Map<string, Values>();
        for (const [name, v] of result.variables) weights.set(name, (await readAll([v.clone()]))[0]);
        result.dispose();
        // The evaluation loss of step 3 (the checkpoint) is recorded in best.safetensors.
        const evalLoss = await new CheckpointManager({ dir, best: { metric: 'evalLoss', mode: 'min' } }).bestValue();
        return { steps, weights, evalLoss: evalLoss ?? NaN };
      } finally {
        student.dispose();
        fs.rmSync(dir, { recursive: true, force: true });
        assert.equal(tf.memory().numTensors, start, `no tensor leaks on ${backend}`);
      }
    };
    const cpu = await run('cpu');
    const gpu = await run('webgpu');
    await tf.setBackend('cpu');
    assert.equal(gpu.steps.length, 3);
    cpu.steps.forEach((m, i) => {
      for (const key of ['loss', 'gradNorm']) {
        assert.ok(Math.abs(gpu.steps[i][key] - m[key]) <= 1e-5 * (1 + Math.abs(m[key])), `step ${i + 1}: ${key} ${gpu.steps[i][key]} vs CPU ${m[key]}`);
      }
    });
    assert.ok(Number.isFinite(cpu.evalLoss), `CPU evaluation loss ${cpu.evalLoss}`);
    assert.ok(Math.abs(gpu.evalLoss - cpu.evalLoss) <= 1e-5 * (1 + cpu.evalLoss), `evaluation loss ${gpu.evalLoss} vs CPU ${cpu.evalLoss}`);
    for (const [name, ref] of cpu.weights) assertClose(`EMA weight ${name}`, ref, gpu.weights.get(name)!, 1e-4);
  });
});
