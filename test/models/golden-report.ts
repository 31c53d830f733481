/**
 * Prints how far the UNet is from latent-diffusion's golden outputs, block by block (max |Δ|), on the
 * backend named by DISTILLERY_TEST_BACKEND (default cpu). Run: npx tsx test/models/golden-report.ts
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadSafetensorsAsTf } from '../../src/io/safetensors';
import { UNet, unetWeightsFromStateDict } from '../../src/models/unet';
import { GOLDEN_DIR, maxAbsDiff, toNhwc } from './helpers';

async function main(): Promise<void> {
  await tf.setBackend(process.env.DISTILLERY_TEST_BACKEND ?? 'cpu');
  const weights = await loadSafetensorsAsTf(path.join(GOLDEN_DIR, 'tiny-cin-unet.safetensors'));
  const io = await loadSafetensorsAsTf(path.join(GOLDEN_DIR, 'unet-golden-io.safetensors'));
  // shared/ldm-golden/tiny-cin.yaml
  const model = new UNet({
    image_size: 8, in_channels: 3, out_channels: 3, model_channels: 32, attention_resolutions: [2], num_res_blocks: 1,
    channel_mult: [1, 2], num_heads: 1, use_spatial_transformer: true, transformer_depth: 1, context_dim: 16,
    class_embedder: { n_classes: 1001, embed_dim: 16 },
  });
  model.loadWeights(unetWeightsFromStateDict(weights));
  const x = toNhwc(io['unet.x']) as tf.Tensor4D;
  const t = tf.cast(io['unet.t'], 'float32') as tf.Tensor1D;
  console.log(`backend ${tf.getBackend()}`);
  tf.tidy(() => {
    model.forward(x, t, io['unet.y'] as tf.Tensor1D, {
      trace: (name, v) => {
        const ref = io[`unet/model.diffusion_model.${name}`];
        if (ref) console.log(`${name.padEnd(18)} max |Δ| = ${maxAbsDiff(toNhwc(ref), v).toExponential(2)}`);
      },
    });
  });
  const eps = model.predict(x, t, io['unet.y'] as tf.Tensor1D);
  console.log(`${'eps'.padEnd(18)} max |Δ| = ${maxAbsDiff(toNhwc(io['unet.eps']), eps).toExponential(2)}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
