/**
 * Times one UNet training step (forward + backward) on the cpu backend with the cpu-loop kernels and
 * with tfjs's own ("native"), and counts the kernels per step. Run: npx tsx test/models/step-timing.ts
 * Times depend on machine load; the kernel counts do not.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setKernelStrategy, type KernelStrategy } from '../../src/models/layers';
import { UNet, type UNetConfigInput } from '../../src/models/unet';

const CONFIGS: Record<string, UNetConfigInput> = {
  'label_emb + AttentionBlock (the overfit test)': {
    image_size: 8, in_channels: 4, out_channels: 4, model_channels: 8, num_res_blocks: 1, channel_mult: [1, 2],
    attention_resolutions: [2], num_heads: 1, num_classes: 3, num_groups: 4, prediction_type: 'v_prediction',
  },
  'spatial transformer + class embedder': {
    image_size: 8, in_channels: 4, out_channels: 4, model_channels: 8, num_res_blocks: 1, channel_mult: [1, 2],
    attention_resolutions: [2], num_heads: 1, num_groups: 4, use_spatial_transformer: true, context_dim: 8,
    class_embedder: { n_classes: 3, embed_dim: 8 },
  },
};

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  for (const [title, cfg] of Object.entries(CONFIGS)) {
    for (const strategy of ['cpu-loops', 'native'] as KernelStrategy[]) {
      setKernelStrategy(strategy);
      const m = new UNet(cfg, { seed: 0 });
      const z = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
      const t = tf.tensor1d([10, 900]);
      const l = tf.tensor1d([0, 1], 'int32');
      const step = (): tf.Scalar => {
        const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(m.forward(z, t, l))) as tf.Scalar);
        tf.dispose(Object.values(grads));
        return value;
      };
      tf.dispose(step());
      const reps = strategy === 'native' ? 2 : 10;
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) step().dataSync();
      const ms = (performance.now() - t0) / reps;
      const prof = await tf.profile(() => step());
      console.log(`${title}, ${strategy}: ${ms.toFixed(0)} ms/step, ${prof.kernels.length} kernels/step`);
      tf.dispose([z, t, l]);
      m.dispose();
    }
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
