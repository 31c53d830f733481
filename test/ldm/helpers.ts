/** Shared helpers of the LDM tests: fixture paths, a second (different) LDM config, checkpoint generation. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { readLdmYaml } from '../../src/io/ldm-yaml';
import { unetParameterShapes, CLASS_EMBEDDER_WEIGHT } from '../../src/models/unet';
import { vqParameterShapes } from '../../src/models/vq';
import { emaBufferName, ldmAlphasCumprod } from '../../src/ldm/import';
import { stateDictPickle, writeTorchZip, type FakeTensor } from '../io/torch-zip-writer';

export const FIXTURES = path.join(__dirname, '..', 'fixtures', 'ldm-golden');
export const TINY_CKPT = path.join(FIXTURES, 'tiny-cin.ckpt');
export const TINY_YAML = path.join(FIXTURES, 'tiny-cin.yaml');

/**
 * A second configuration, different from tiny-cin in every architectural knob the importer reads: two
 * ResBlocks per level, attention at two levels with num_head_channels, 4 latent channels, 11 classes; a
 * VQ first stage with attention inside a level, ch_mult [1, 1, 2], a 16-entry codebook; scale_factor 0.5.
 */
export const SECOND_YAML = `model:
  base_learning_rate: 1.0e-06
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    linear_start: 0.00085
    linear_end: 0.012
    timesteps: 1000
    first_stage_key: image
    cond_stage_key: class_label
    image_size: 8
    channels: 4
    cond_stage_trainable: true
    conditioning_key: crossattn
    monitor: val/loss_simple_ema
    scale_factor: 0.5
    use_ema: true
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        image_size: 8
        in_channels: 4
        out_channels: 4
        model_channels: 32
        attention_resolutions: [1, 2]
        num_res_blocks: 2
        channel_mult: [1, 2]
        num_head_channels: 16
        use_spatial_transformer: true
        transformer_depth: 1
        context_dim: 8
    first_stage_config:
      target: ldm.models.autoencoder.VQModelInterface
      params:
        embed_dim: 4
        n_embed: 16
        ddconfig:
          double_z: false
          z_channels: 4
          resolution: 32
          in_channels: 3
          out_ch: 3
          ch: 32
          ch_mult: [1, 1, 2]
          num_res_blocks: 2
          attn_resolutions: [8]
          dropout: 0.0
        lossconfig:
          target: torch.nn.Identity
    cond_stage_config:
      target: ldm.modules.encoders.modules.ClassEmbedder
      params:
        n_classes: 11
        embed_dim: 8
        key: class_label
data:
  target: main.DataModuleFromConfig
lightning:
  trainer:
    benchmark: true
`;

/** Deterministic distinct float32 values for a tensor (`salt` tells copies apart, e.g. EMA vs model). */
export function fakeValues(name: string, n: number, salt: number): Float32Array {
  let h = salt + 17;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) % 1000003;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(h + i * 0.731) * 0.05;
  return out;
}

/**
 * Writes a full latent-diffusion state-dict checkpoint for an LDM YAML (names and shapes from this
 * library's architecture builders), with `model_ema.*` copies (salt 2) when `ema` is set; the schedule
 * buffer alphas_cumprod is the YAML's. Returns the values written by state-dict name.
 */
export async function writeLdmCheckpoint(file: string, yamlFile: string, options: { ema: boolean }): Promise<Map<string, Float32Array>> {
  const spec = readLdmYaml(yamlFile);
  const values = new Map<string, { shape: number[]; data: Float32Array }>();
  const unet = unetParameterShapes(spec.unet);
  for (const [n, shape] of unet) {
    if (n === CLASS_EMBEDDER_WEIGHT) continue;
    const size = shape.reduce((a, b) => a * b, 1);
    values.set(`model.diffusion_model.${n}`, { shape, data: fakeValues(n, size, 1) });
    if (options.ema) values.set(emaBufferName(n), { shape, data: fakeValues(n, size, 2) });
  }
  for (const [n, shape] of vqParameterShapes(spec.firstStage)) {
    values.set(`first_stage_model.${n}`, { shape, data: fakeValues(n, shape.reduce((a, b) => a * b, 1), 3) });
  }
  const e = spec.classEmbedder;
  values.set('cond_stage_model.embedding.weight', { shape: [e.n_classes, e.embed_dim], data: fakeValues('emb', e.n_classes * e.embed_dim, 4) });
  values.set('alphas_cumprod', { shape: [spec.scheduler.num_train_timesteps], data: Float32Array.from(ldmAlphasCumprod(spec.scheduler)) });
  if (options.ema) {
    values.set('model_ema.decay', { shape: [], data: Float32Array.of(0.9999) });
  }
  const tensors: Array<[string, FakeTensor]> = [];
  const numel = new Map<string, number>();
  const storages = new Map<string, Uint8Array>();
  [...values].forEach(([name, v], i) => {
    const key = String(i);
    tensors.push([name, { storage: 'FloatStorage', key, shape: v.shape, parameter: !name.startsWith('model_ema.') && name !== 'alphas_cumprod' }]);
    numel.set(key, v.data.length);
    storages.set(key, new Uint8Array(v.data.buffer));
  });
  await writeTorchZip(file, stateDictPickle(tensors, numel, 42), storages);
  return new Map([...values].map(([k, v]) => [k, v.data]));
}

/** Writes SECOND_YAML to a folder and returns its path. */
export function writeSecondYaml(dir: string): string {
  const file = path.join(dir, 'second.yaml');
  fs.writeFileSync(file, SECOND_YAML);
  return file;
}

/** Max |a − b| (equal shapes). */
export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(tf.cast(a, 'float32'), tf.cast(b, 'float32')))).dataSync()[0]);
}

/** NCHW → NHWC. */
export function nhwc(t: tf.Tensor): tf.Tensor4D {
  return tf.transpose(t, [0, 2, 3, 1]) as tf.Tensor4D;
}

/** A PNG of the given RGB rows. */
export function pngBytes(width: number, height: number, rgb: (x: number, y: number) => [number, number, number]): Buffer {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const [r, g, b] = rgb(x, y);
    png.data.set([r, g, b, 255], (y * width + x) * 4);
  }
  return PNG.sync.write(png);
}

/** A JPEG (quality 95) of the given RGB function. */
export function jpegBytes(width: number, height: number, rgb: (x: number, y: number) => [number, number, number]): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set([...rgb(x, y), 255], (y * width + x) * 4);
  return jpeg.encode({ data, width, height }, 95).data;
}


/** Writes 2 classes × 2 images (PNG 40x36 and JPEG 48x32 per class) and the mapping; returns [root, mapping]. */
export function writeTinyImageNet(dir: string): [string, string] {
  const root = path.join(dir, 'images');
  const classes = path.join(dir, 'LOC_synset_mapping.txt');
  fs.writeFileSync(classes, 'n00000001 first\nn00000002 second\nn00000003 third\n');
  ['n00000001', 'n00000003'].forEach((folder, c) => {
    fs.mkdirSync(path.join(root, folder), { recursive: true });
    fs.writeFileSync(path.join(root, folder, 'a.png'), pngBytes(40, 36, (x, y) => [(x * 6 + c * 90) % 256, (y * 7) % 256, 128]));
    fs.writeFileSync(path.join(root, folder, 'b.JPEG'), jpegBytes(48, 32, (x, y) => [(x * y) % 256, 255 - x * 5, c * 100]));
  });
  return [root, classes];
}
