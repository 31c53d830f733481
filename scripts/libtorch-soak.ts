// Soak test of the libtorch backend: N reference-UNet training steps (bench/reference-unet.ts, AdamW,
// v-prediction MSE), printing the loss, live TF.js tensors, native handles and RSS every 100 steps.
// Usage: npx tsx scripts/libtorch-soak.ts [steps=1000] [batch=32]
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { selectBackend } from '../src/backends';
import { ReferenceUNet } from '../bench/reference-unet';
import { AdamW, trainStep } from '../src/training';
import { NoiseSchedule, addNoise, velocity } from '../src/diffusion';
(async () => {
  const N = Number(process.argv[2] ?? 1000), B = Number(process.argv[3] ?? 32);
  await selectBackend('libtorch', { threads: 2 });
  const model = new ReferenceUNet({ seed: 0 });
  const opt = new AdamW(model.variables, { lr: 1e-4 });
  const s = NoiseSchedule.fromConfig({ numTrainTimesteps: 1000, betaSchedule: 'scaled_linear', betaStart: 0.0015, betaEnd: 0.0195, predictionType: 'v_prediction' });
  let seed = 1;
  const t0 = Date.now();
  for (let i = 1; i <= N; i++) {
    const { z, t, l, v } = tf.tidy(() => {
      const x0 = tf.randomNormal([B, 32, 32, 1], 0, 1, 'float32', seed++) as tf.Tensor4D;
      const eps = tf.randomNormal([B, 32, 32, 1], 0, 1, 'float32', seed++) as tf.Tensor4D;
      const t = tf.cast(tf.randomUniformInt([B], 0, 1000, seed++), 'float32') as tf.Tensor1D;
      return { z: addNoise(s, x0, eps, t), t, l: tf.randomUniformInt([B], 0, 11, seed++) as tf.Tensor1D, v: velocity(s, x0, eps, t) };
    });
    const r = await trainStep(opt, () => tf.mean(tf.squaredDifference(model.forward(z, t, l), v)) as tf.Scalar);
    tf.dispose([z, t, l, v]);
    if (i === 1 || i % 100 === 0) {
      const m = tf.memory() as tf.MemoryInfo & { numNativeTensors: number };
      console.log(`step ${i}: loss ${r.loss.toFixed(4)}, tensors ${m.numTensors}, native ${m.numNativeTensors}, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
  }
})();
