/**
 * Kernel coverage of the libtorch backend on Distillery's own workloads: UNet training steps (attention,
 * class labels, guidance-weight embedding, v-prediction, AdamW, gradient clipping), DDIM and DDPM
 * sampling with classifier-free guidance, the autoencoder and the classifier (forward and backward).
 *
 * 1. Every kernel these workloads run (recorded with tf.profile on the CPU backend, native kernel
 *    strategy) is implemented by the libtorch backend; a failure lists all missing kernels by name.
 * 2. Each workload runs on libtorch (TF.js throws "Kernel 'X' not registered for backend 'libtorch'" on a
 *    gap) and its result matches the CPU backend's within 1e-3 relative (float32 summation order).
 */
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { LIBTORCH_KERNEL_NAMES, libtorchUnavailableReason, registerLibtorchBackend } from '../../../src/backends/libtorch';
import { NoiseSchedule, addNoise, sampleDdim, sampleDdpm, velocity } from '../../../src/diffusion';
import { Autoencoder } from '../../../src/models/autoencoder';
import { Classifier } from '../../../src/models/classifier';
import { setKernelStrategy, getKernelStrategy } from '../../../src/models/layers';
import { UNet } from '../../../src/models/unet';
import { AdamW, trainStep, weightedMse } from '../../../src/training';
import { perturbWeights } from '../../helpers/tiny';

interface Workload {
  name: string;
  /** Returns numbers that must agree across backends. */
  run: () => number[] | Promise<number[]>;
}

function schedule(): NoiseSchedule {
  return NoiseSchedule.fromConfig({
    numTrainTimesteps: 1000, betaSchedule: 'scaled_linear', betaStart: 0.0015, betaEnd: 0.0195, predictionType: 'v_prediction',
  });
}

function unet(guidanceEmbed: boolean): UNet {
  return new UNet({
    image_size: 8, in_channels: 2, out_channels: 2, model_channels: 8, num_res_blocks: 1, attention_resolutions: [2],
    channel_mult: [1, 2], num_classes: 4, num_groups: 4, num_heads: 1, prediction_type: 'v_prediction', guidance_embed: guidanceEmbed,
  }, { seed: 3 });
}

const workloads: Workload[] = [
  {
    name: 'UNet v-prediction training step (attention, labels, guidance weight, AdamW, clipping)',
    run: async () => {
      const model = unet(true);
      const s = schedule();
      const opt = new AdamW(model.variables, { lr: 1e-3, weightDecay: 0.01 });
      const x0 = tf.randomNormal([3, 8, 8, 2], 0, 1, 'float32', 1) as tf.Tensor4D;
      const eps = tf.randomNormal([3, 8, 8, 2], 0, 1, 'float32', 2) as tf.Tensor4D;
      const t = tf.tensor1d([10, 500, 990]);
      const labels = tf.tensor1d([0, 3, 1], 'int32');
      const w = tf.tensor1d([1, 2.5, 4]);
      const z = addNoise(s, x0, eps, t);
      const v = velocity(s, x0, eps, t);
      const losses: number[] = [];
      for (let i = 0; i < 2; i++) {
        losses.push((await trainStep(opt, () => weightedMse(model.forward(z, t, labels, { w, training: true }), v), { maxGradNorm: 1 })).loss);
      }
      tf.dispose([x0, eps, t, labels, w, z, v]);
      opt.dispose();
      model.dispose();
      return losses;
    },
  },
  {
    name: 'DDIM (eta 0.5) and DDPM sampling with classifier-free guidance',
    run: () => {
      // LDM zero-initialises the output convolution; perturbed weights make the guided and conditional
      // predictions differ (guidance rescale divides by their standard deviations).
      const model = perturbWeights(unet(false)) as UNet;
      const s = schedule();
      const a = sampleDdim(model, s, { steps: 3, labels: [0, 2], shape: [8, 8, 2], seed: 5, guidance: { scale: 2 }, eta: 0.5 });
      const b = sampleDdpm(model, s, { steps: 2, labels: [1], shape: [8, 8, 2], seed: 6, guidance: { weight: 1.5 }, rescale: 0.7 });
      const out = tf.tidy(() => [tf.sum(a).dataSync()[0], tf.sum(tf.abs(a)).dataSync()[0], tf.sum(tf.abs(b)).dataSync()[0]]);
      tf.dispose([a, b]);
      model.dispose();
      return out;
    },
  },
  {
    name: 'autoencoder reconstruction training step (encode, decode, nearest upsampling)',
    run: async () => {
      const ae = new Autoencoder({}, { seed: 4 });
      const cfg = ae.config;
      const opt = new AdamW(ae.variables, { lr: 1e-3 });
      const x = tf.randomUniform([2, 8, 8, cfg.in_channels], -1, 1, 'float32', 9) as tf.Tensor4D;
      const loss = (await trainStep(opt, () => tf.mean(tf.squaredDifference(ae.decode(ae.encode(x)), x)) as tf.Scalar)).loss;
      tf.dispose(x);
      opt.dispose();
      ae.dispose();
      return [loss];
    },
  },
  {
    name: 'classifier cross-entropy training step and features (average pooling)',
    run: async () => {
      const c = new Classifier({}, { seed: 5 });
      const opt = new AdamW(c.variables, { lr: 1e-3 });
      const x = tf.randomUniform([4, 32, 32, c.config.in_channels], -1, 1, 'float32', 11) as tf.Tensor4D;
      const y = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 3, 7, 9], 'int32'), c.config.num_classes));
      const loss = (await trainStep(opt, () => tf.losses.softmaxCrossEntropy(y, c.logits(x)) as tf.Scalar)).loss;
      const f = c.features(x);
      const out = [loss, tf.tidy(() => tf.sum(tf.abs(f)).dataSync()[0])];
      tf.dispose([x, y, f]);
      opt.dispose();
      c.dispose();
      return out;
    },
  },
];

const reason = libtorchUnavailableReason();

if (reason === undefined) {
  describe('libtorch backend covers the kernels of Distillery workloads', () => {
    let strategy: ReturnType<typeof getKernelStrategy>;
    const reference = new Map<string, number[]>();
    const used = new Set<string>();
    before(async () => {
      assert.ok(registerLibtorchBackend(2));
      strategy = getKernelStrategy();
      // On the CPU backend the layers default to typed-array loops; the native strategy runs the same
      // TF.js kernels as every other backend.
      setKernelStrategy('native');
      await tf.setBackend('cpu');
      for (const w of workloads) {
        let out: number[] = [];
        const info = await tf.profile(async () => { out = await w.run(); });
        reference.set(w.name, out);
        // tf.profile also lists customGrad scopes (e.g. fusedConv2d__op); only registered kernels count.
        for (const k of info.kernelNames) if (tf.getKernel(k, 'cpu')) used.add(k);
      }
    });
    after(async () => {
      setKernelStrategy(strategy);
      await tf.setBackend('cpu');
    });

    it('implements every kernel the workloads run (recorded on the CPU backend)', () => {
      const implemented = new Set(LIBTORCH_KERNEL_NAMES);
      const missing = [...used].filter((k) => !implemented.has(k)).sort();
      assert.deepEqual(missing, [], `kernels missing from the libtorch backend: ${missing.join(', ')}`);
      assert.ok(used.size > 30, `expected the workloads to run many kernels, recorded ${used.size}`);
    });

    for (const w of workloads) {
      it(`${w.name}: runs on libtorch and matches the CPU backend (1e-3 relative)`, async () => {
        const ref = reference.get(w.name)!;
        await tf.setBackend('libtorch');
        const got = await w.run();
        // A second run must leave the tensor count (and libtorch's live handles) where it was: the first
        // may fill per-backend caches (e.g. schedule tables uploaded once).
        const before = tf.memory().numTensors;
        const again = await w.run();
        assert.equal(tf.memory().numTensors, before, 'tensors leaked on libtorch');
        const backend = tf.backend() as unknown as { numDataIds(): number; memory(): { numNativeTensors: number } };
        assert.equal(backend.memory().numNativeTensors, backend.numDataIds(), 'native handles without a TF.js tensor');
        assert.deepEqual(again, got, 'a second run on libtorch gives the same numbers');
        assert.equal(got.length, ref.length);
        got.forEach((g, i) => {
          assert.ok(Number.isFinite(g), `value ${i} is ${g}`);
          assert.ok(Math.abs(g - ref[i]) <= 1e-3 * Math.max(1, Math.abs(ref[i])), `value ${i}: libtorch ${g}, cpu ${ref[i]}`);
        });
      });
    }
  });
}
