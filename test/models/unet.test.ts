import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ModelError } from '../../src/errors';
import { loadSafetensorsAsTf } from '../../src/io/safetensors';
import { sinusoidalEmbedding } from '../../src/models/layers';
import {
  CLASS_EMBEDDER_WEIGHT, UNet, unetParameterShapes, unetWeightsFromStateDict, type UNetConfigInput,
} from '../../src/models/unet';
import { NoiseSchedule } from '../../src/diffusion/schedule';
import { AdamW } from '../../src/training/adamw';
import { GOLDEN_DIR, maxAbsDiff, randomizeWeights, seededNormal, toNhwc } from './helpers';

/** shared/ldm-golden/tiny-cin.yaml unet_config.params, plus its cond_stage_config (ClassEmbedder 1001 × 16). */
const TINY_CIN: UNetConfigInput = {
  image_size: 8, in_channels: 3, out_channels: 3, model_channels: 32, attention_resolutions: [2],
  num_res_blocks: 1, channel_mult: [1, 2], num_heads: 1, use_spatial_transformer: true, transformer_depth: 1,
  context_dim: 16, class_embedder: { n_classes: 1001, embed_dim: 16 },
};

/** configs/latent-diffusion/cin256-v2.yaml unet_config.params (+ its ClassEmbedder 1001 × 512). */
const CIN256_V2: UNetConfigInput = {
  image_size: 64, in_channels: 3, out_channels: 3, model_channels: 192, attention_resolutions: [8, 4, 2],
  num_res_blocks: 2, channel_mult: [1, 2, 3, 5], num_head_channels: 32, use_spatial_transformer: true,
  transformer_depth: 1, context_dim: 512, class_embedder: { n_classes: 1001, embed_dim: 512 },
};

/** Small configs covering the other code paths. */
const SMALL: Record<string, UNetConfigInput> = {
  'label_emb + legacy AttentionBlock': {
    image_size: 8, in_channels: 4, out_channels: 4, model_channels: 16, num_res_blocks: 1, channel_mult: [1, 2],
    attention_resolutions: [2], num_heads: 2, num_classes: 11, num_groups: 8,
  },
  'new attention order, num_head_channels, scale-shift norm, resblock up/down, 3 levels': {
    image_size: 8, in_channels: 2, out_channels: 3, model_channels: 8, num_res_blocks: 2, channel_mult: [1, 2, 2],
    attention_resolutions: [1, 4], num_head_channels: 4, use_new_attention_order: true, use_scale_shift_norm: true,
    resblock_updown: true, num_classes: 5, num_groups: 4,
  },
  'spatial transformer depth 2, label_emb and class embedder, no conv resample': {
    image_size: 4, in_channels: 3, out_channels: 3, model_channels: 8, num_res_blocks: 1, channel_mult: [1, 2],
    attention_resolutions: [1], num_heads: 2, use_spatial_transformer: true, transformer_depth: 2, context_dim: 6,
    class_embedder: { n_classes: 4, embed_dim: 6 }, num_classes: 4, conv_resample: false, num_groups: 4,
  },
  'guidance-weight embedding': {
    image_size: 8, in_channels: 4, out_channels: 4, model_channels: 16, num_res_blocks: 1, channel_mult: [1, 2],
    attention_resolutions: [], num_heads: 1, num_classes: 11, num_groups: 8, guidance_embed: true,
    prediction_type: 'v_prediction',
  },
};

function keyList(file: string): Map<string, number[]> {
  const json = JSON.parse(fs.readFileSync(path.join(GOLDEN_DIR, file), 'utf8')) as { keys: { key: string; shape: number[] }[] };
  const out = new Map<string, number[]>();
  for (const k of json.keys) {
    if (k.key.startsWith('model.diffusion_model.')) out.set(k.key.slice('model.diffusion_model.'.length), k.shape);
    else if (k.key.startsWith('cond_stage_model.')) out.set(k.key, k.shape);
  }
  return out;
}

function inputsFor(cfg: UNetConfigInput, batch: number, seed: number) {
  const n = cfg.class_embedder?.n_classes ?? (cfg.num_classes as number);
  return {
    z: seededNormal([batch, cfg.image_size, cfg.image_size, cfg.in_channels], seed) as tf.Tensor4D,
    t: tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 397 + 11) % 1000), 'float32'),
    labels: tf.tensor1d(Array.from({ length: batch }, (_, i) => i % n), 'int32'),
    w: tf.tensor1d(Array.from({ length: batch }, (_, i) => 0.5 + i), 'float32'),
  };
}

describe('models/unet', () => {
  describe('golden outputs of latent-diffusion (shared/ldm-golden, copied to test/fixtures/ldm-golden)', () => {
    let weights: Record<string, tf.Tensor>;
    let io: Record<string, tf.Tensor>;
    let model: UNet;
    before(async () => {
      weights = await loadSafetensorsAsTf(path.join(GOLDEN_DIR, 'tiny-cin-unet.safetensors'));
      io = await loadSafetensorsAsTf(path.join(GOLDEN_DIR, 'unet-golden-io.safetensors'));
      model = new UNet(TINY_CIN);
      model.loadWeights(unetWeightsFromStateDict(weights));
    });
    after(() => {
      model.dispose();
      for (const t of [...Object.values(weights), ...Object.values(io)]) t.dispose();
    });

    it('timestep embedding equals unet.t_emb (cat[cos, sin]) to 1e-5', () => {
      const emb = sinusoidalEmbedding(tf.cast(io['unet.t'], 'float32') as tf.Tensor1D, 32);
      // Reference: golden-io.json "unet.t_emb"; float32 phases up to 900 rad round at ~5e-5 rad, so 1e-5 is
      // a little above the observed difference (~5e-7) and far below a cos/sin swap (~1).
      assert.ok(maxAbsDiff(emb, io['unet.t_emb']) < 1e-5);
      emb.dispose();
    });

    it('ε = UNetModel(x, t, context) equals unet.eps to 1e-4, block by block', () => {
      const x = toNhwc(io['unet.x']) as tf.Tensor4D;
      const t = tf.cast(io['unet.t'], 'float32') as tf.Tensor1D;
      const y = io['unet.y'] as tf.Tensor1D;
      const diffs = new Map<string, number>();
      tf.tidy(() => {
        model.forward(x, t, y, {
          trace: (name, v) => {
            const ref = io[`unet/model.diffusion_model.${name}`];
            if (ref) diffs.set(name, tf.tidy(() => maxAbsDiff(toNhwc(ref), v)));
          },
        });
      });
      assert.equal(diffs.size, 11, 'every traced block has a golden intermediate');
      for (const [name, d] of diffs) assert.ok(d < 1e-4, `${name}: max |Δ| = ${d}`);
      const eps = model.predict(x, t, y);
      const d = maxAbsDiff(toNhwc(io['unet.eps']), eps);
      // Tolerance 1e-4 absolute (the reference's own float32-vs-float64 error is 2.4e-6).
      assert.ok(d < 1e-4, `max |Δε| = ${d}`);
      // The class embedder (labels [3, 1000]) reproduces the context LDM passed in.
      const ctx = tf.tidy(() => tf.gather(model.variables.get(CLASS_EMBEDDER_WEIGHT) as tf.Variable, y));
      assert.ok(maxAbsDiff(ctx, tf.reshape(io['unet.context'], [2, 16])) === 0);
      tf.dispose([x, t, eps, ctx]);
    });

    it('getWeights returns the loaded state dict bit-exactly in the PyTorch layout', () => {
      const back = model.getWeights();
      const ldm = unetWeightsFromStateDict(weights);
      assert.deepEqual(Object.keys(back).sort(), Object.keys(ldm).sort());
      for (const [name, t] of Object.entries(back)) {
        assert.deepEqual(t.shape, ldm[name].shape, name);
        assert.equal(maxAbsDiff(t, ldm[name]), 0, name);
      }
      tf.dispose(Object.values(back));
    });
  });

  describe('parameter names and shapes', () => {
    it('tiny-cin config: identical names and shapes to the latent-diffusion state dict (keys.json)', () => {
      const expected = keyList('keys.json');
      assert.equal(expected.size, 209);
      const actual = unetParameterShapes(TINY_CIN);
      assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
      for (const [k, s] of expected) assert.deepEqual(actual.get(k), s, k);
    });

    it('cin256-v2 config (shape-only, 400M parameters unallocated): identical to keys-cin256-v2-fullsize.json', () => {
      const expected = keyList('keys-cin256-v2-fullsize.json');
      assert.equal(expected.size, 689);
      const before = tf.memory().numTensors;
      const model = new UNet(CIN256_V2, { allocate: false });
      assert.equal(tf.memory().numTensors, before);
      const actual = model.parameterShapes();
      assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
      for (const [k, s] of expected) assert.deepEqual(actual.get(k), s, k);
      let numel = 0;
      for (const s of expected.values()) numel += s.reduce((a, b) => a * b, 1);
      assert.equal(model.numParameters, numel);
      assert.throws(() => model.predict(tf.zeros([1, 64, 64, 3]), tf.zeros([1]), tf.zeros([1], 'int32')),
        /unet model is shape-only/);
    });

    it('names the optional parts label_emb.weight and w_embed.{0,2}.{weight,bias}', () => {
      const shapes = unetParameterShapes(SMALL['guidance-weight embedding']);
      assert.deepEqual(shapes.get('label_emb.weight'), [11, 64]);
      assert.deepEqual(shapes.get('w_embed.0.weight'), [64, 16]);
      assert.deepEqual(shapes.get('w_embed.0.bias'), [64]);
      assert.deepEqual(shapes.get('w_embed.2.weight'), [64, 64]);
      assert.deepEqual(shapes.get('w_embed.2.bias'), [64]);
      const attn = unetParameterShapes(SMALL['label_emb + legacy AttentionBlock']);
      assert.deepEqual(attn.get('middle_block.1.qkv.weight'), [96, 32, 1]);
      assert.deepEqual(attn.get('middle_block.1.proj_out.weight'), [32, 32, 1]);
    });
  });

  describe('forward', () => {
    for (const [title, cfg] of Object.entries(SMALL)) {
      it(`output shape [B, H, W, out_channels]: ${title}`, () => {
        const before = tf.memory().numTensors;
        const model = new UNet(cfg, { seed: 3 });
        const inp = inputsFor(cfg, 2, 1);
        const out = model.predict(inp.z, inp.t, inp.labels, model.takesGuidanceWeight ? inp.w : undefined);
        assert.deepEqual(out.shape, [2, cfg.image_size, cfg.image_size, cfg.out_channels]);
        tf.dispose([out, inp.z, inp.t, inp.labels, inp.w]);
        model.dispose();
        assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
      });
    }

    for (const [title, cfg] of Object.entries({ ...SMALL, 'tiny-cin': TINY_CIN })) {
      it(`gradient reaches every parameter: ${title}`, () => {
        const before = tf.memory().numTensors;
        const model = new UNet(cfg, { seed: 5 });
        randomizeWeights(model, 100);
        const inp = inputsFor(cfg, 2, 7);
        const proj = seededNormal([2, cfg.image_size, cfg.image_size, cfg.out_channels], 9);
        const { grads, value } = tf.variableGrads(() => tf.sum(tf.mul(model.forward(inp.z, inp.t, inp.labels,
          { w: model.takesGuidanceWeight ? inp.w : undefined }), proj)) as tf.Scalar);
        assert.equal(Object.keys(grads).length, model.variables.size);
        const byVar = new Map([...model.variables].map(([n, v]) => [v.name, n]));
        const zero: string[] = [];
        for (const [varName, g] of Object.entries(grads)) {
          if (tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) === 0) zero.push(byVar.get(varName) as string);
        }
        // The only legitimately zero gradients: cross-attention over a one-token context (the class
        // embedding). softmax over a single key is identically 1, so attn2's output is to_out(to_v(context))
        // whatever the query: attn2.to_q, attn2.to_k and norm2 (which only feeds the query) cannot affect it.
        const expectedZero = [...model.variables.keys()].filter((n) => /(attn2\.to_[qk]\.weight|norm2\.(weight|bias))$/.test(n));
        assert.deepEqual(zero.sort(), expectedZero.sort());
        tf.dispose([value, proj, inp.z, inp.t, inp.labels, inp.w, ...Object.values(grads)]);
        model.dispose();
        assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
      });
    }

    it('a student made with cloneWith({guidance_embed: true}) starts identical to its teacher for every w', () => {
      const cfg = SMALL['label_emb + legacy AttentionBlock'];
      const teacher = new UNet(cfg, { seed: 1 });
      randomizeWeights(teacher, 200);
      const student = teacher.cloneWith({ guidance_embed: true });
      assert.equal(student.takesGuidanceWeight, true);
      assert.equal(student.variables.size, teacher.variables.size + 4);
      const inp = inputsFor(cfg, 3, 2);
      const a = teacher.predict(inp.z, inp.t, inp.labels);
      const b = student.predict(inp.z, inp.t, inp.labels, inp.w);
      assert.equal(maxAbsDiff(a, b), 0);
      // Once w_embed.2 is non-zero, w changes the output.
      randomizeWeights(student, 300);
      const c1 = student.predict(inp.z, inp.t, inp.labels, inp.w);
      const w2 = tf.add(inp.w, 2) as tf.Tensor1D;
      const c2 = student.predict(inp.z, inp.t, inp.labels, w2);
      assert.ok(maxAbsDiff(c1, c2) > 1e-3);
      tf.dispose([a, b, c1, c2, w2, inp.z, inp.t, inp.labels, inp.w]);
      teacher.dispose();
      student.dispose();
    });

    it('clone() copies weights; copyWeightsFrom() overwrites them (teacher/student, EMA → teacher)', () => {
      const cfg = SMALL['label_emb + legacy AttentionBlock'];
      const a = new UNet(cfg, { seed: 1 });
      randomizeWeights(a, 400);
      const b = a.clone();
      const inp = inputsFor(cfg, 2, 3);
      const ya = a.predict(inp.z, inp.t, inp.labels);
      const yb = b.predict(inp.z, inp.t, inp.labels);
      assert.equal(maxAbsDiff(ya, yb), 0);
      randomizeWeights(b, 500);
      const yb2 = b.predict(inp.z, inp.t, inp.labels);
      assert.ok(maxAbsDiff(ya, yb2) > 1e-3, 'the clone does not share variables');
      a.copyWeightsFrom(b);
      const ya2 = a.predict(inp.z, inp.t, inp.labels);
      assert.equal(maxAbsDiff(ya2, yb2), 0);
      tf.dispose([ya, yb, yb2, ya2, inp.z, inp.t, inp.labels, inp.w]);
      a.dispose();
      b.dispose();
    });

    it('default init is seeded (same seed, same weights) and zero-initialises the output layers', () => {
      const cfg = SMALL['label_emb + legacy AttentionBlock'];
      const a = new UNet(cfg, { seed: 11 });
      const b = new UNet(cfg, { seed: 11 });
      const c = new UNet(cfg, { seed: 12 });
      const w = (m: UNet, n: string) => m.variables.get(n) as tf.Variable;
      assert.equal(maxAbsDiff(w(a, 'input_blocks.1.0.in_layers.2.weight'), w(b, 'input_blocks.1.0.in_layers.2.weight')), 0);
      assert.ok(maxAbsDiff(w(a, 'input_blocks.1.0.in_layers.2.weight'), w(c, 'input_blocks.1.0.in_layers.2.weight')) > 0);
      // PyTorch's default bound 1/sqrt(fan_in), fan_in = 16 · 3 · 3.
      const bound = tf.tidy(() => tf.max(tf.abs(w(a, 'input_blocks.1.0.in_layers.2.weight'))).dataSync()[0]);
      assert.ok(bound <= 1 / 12 && bound > 0.9 / 12, `max |w| = ${bound}`);
      for (const n of ['out.2.weight', 'out.2.bias', 'input_blocks.1.0.out_layers.3.weight', 'middle_block.1.proj_out.weight']) {
        assert.equal(tf.tidy(() => tf.max(tf.abs(w(a, n))).dataSync()[0]), 0, n);
      }
      a.dispose();
      b.dispose();
      c.dispose();
    });

    it('dropout acts only while training, repeatably per seed', () => {
      const cfg = { ...SMALL['label_emb + legacy AttentionBlock'], dropout: 0.5 };
      const m = new UNet(cfg, { seed: 1 });
      randomizeWeights(m, 600);
      const inp = inputsFor(cfg, 2, 3);
      const e1 = m.predict(inp.z, inp.t, inp.labels);
      const e2 = m.predict(inp.z, inp.t, inp.labels);
      m.training = true;
      const t1 = m.predict(inp.z, inp.t, inp.labels);
      assert.equal(maxAbsDiff(e1, e2), 0);
      assert.ok(maxAbsDiff(e1, t1) > 1e-3);
      tf.dispose([e1, e2, t1, inp.z, inp.t, inp.labels, inp.w]);
      m.dispose();
    });

    it('checks its inputs', () => {
      const cfg = SMALL['guidance-weight embedding'];
      const m = new UNet(cfg);
      const inp = inputsFor(cfg, 2, 3);
      assert.throws(() => m.predict(inp.z, inp.t, inp.labels), (e: unknown) => e instanceof ModelError &&
        e.message === 'unet: this model has a guidance-weight embedding (guidance_embed: true); pass w');
      const nchw = tf.zeros([2, 4, 8, 8]) as tf.Tensor4D;
      assert.throws(() => m.predict(nchw, inp.t, inp.labels, inp.w),
        /unet: z has 8 channels, expected in_channels = 4 \(z is NHWC\)/);
      const odd = tf.zeros([2, 7, 7, 4]) as tf.Tensor4D;
      assert.throws(() => m.predict(odd, inp.t, inp.labels, inp.w), /unet: z is 7x7; height and width must be divisible by 2/);
      const t3 = tf.zeros([3]) as tf.Tensor1D;
      assert.throws(() => m.predict(inp.z, t3, inp.labels, inp.w), /unet: t must have shape \[2\] \(batch of z\), found \[3\]/);
      tf.dispose([nchw, odd, t3, inp.z, inp.t, inp.labels, inp.w]);
      m.dispose();
      const plain = new UNet(SMALL['label_emb + legacy AttentionBlock']);
      const p = inputsFor(SMALL['label_emb + legacy AttentionBlock'], 1, 1);
      assert.throws(() => plain.predict(p.z, p.t, p.labels, p.w), /w was passed but this model has no guidance-weight embedding/);
      tf.dispose(Object.values(p));
      plain.dispose();
      assert.throws(() => plain.predict(p.z, p.t, p.labels), /unet model was disposed/);
    });
  });

  describe('ConditionalDenoiser properties', () => {
    it('numClasses, nullClass, predictionType, takesGuidanceWeight from the config', () => {
      const cin = new UNet(CIN256_V2, { allocate: false });
      assert.deepEqual([cin.numClasses, cin.nullClass, cin.predictionType, cin.takesGuidanceWeight], [1001, 1000, 'epsilon', false]);
      const w = new UNet(SMALL['guidance-weight embedding'], { allocate: false });
      assert.deepEqual([w.numClasses, w.nullClass, w.predictionType, w.takesGuidanceWeight], [11, 10, 'v_prediction', true]);
      const n = new UNet({ ...SMALL['guidance-weight embedding'], null_class: 0 }, { allocate: false });
      assert.equal(n.nullClass, 0);
    });
  });

  describe('loadWeights', () => {
    const cfg = SMALL['label_emb + legacy AttentionBlock'];

    it('lists every missing, unexpected and mis-shaped name in one ModelError and changes nothing', () => {
      const m = new UNet(cfg, { seed: 1 });
      const w = m.getWeights();
      const before = tf.tidy(() => tf.sum(m.variables.get('out.0.weight') as tf.Variable).dataSync()[0]);
      w['out.0.weight'].dispose();
      w['out.0.weight'] = tf.zeros([16]);
      w['time_embed.0.weight'].dispose();
      delete w['time_embed.0.weight'];
      w['label_emb.weight'].dispose();
      delete w['label_emb.weight'];
      w['input_blocks.1.0.in_layers.2.weight'].dispose();
      w['input_blocks.1.0.in_layers.2.weight'] = tf.zeros([16, 16, 1, 1]);
      w['foo.bar'] = tf.zeros([1]);
      assert.throws(() => m.loadWeights(w), (e: unknown) => e instanceof ModelError && e.message ===
        'cannot load weights into the unet model (shapes in the PyTorch layout): ' +
        '2 missing: time_embed.0.weight, label_emb.weight; 1 unexpected: foo.bar; ' +
        '1 mis-shaped: input_blocks.1.0.in_layers.2.weight (expected [16, 16, 3, 3], found [16, 16, 1, 1])');
      const after = tf.tidy(() => tf.sum(m.variables.get('out.0.weight') as tf.Variable).dataSync()[0]);
      assert.equal(after, before, 'nothing was assigned');
      // strict: false ignores missing and unexpected names but never a wrong shape.
      assert.throws(() => m.loadWeights(w, { strict: false }), /^ModelError: cannot load weights into the unet model \(shapes in the PyTorch layout\): 1 mis-shaped: input_blocks\.1\.0\.in_layers\.2\.weight/);
      w['input_blocks.1.0.in_layers.2.weight'].dispose();
      delete w['input_blocks.1.0.in_layers.2.weight'];
      m.loadWeights(w, { strict: false });
      const loaded = tf.tidy(() => tf.sum(m.variables.get('out.0.weight') as tf.Variable).dataSync()[0]);
      assert.equal(loaded, 0);
      tf.dispose(Object.values(w));
      m.dispose();
    });

    it('converts layouts: conv [out, in, kh, kw] ↔ [kh, kw, in, out], linear [out, in] ↔ [in, out], conv1d [out, in, 1] ↔ [in, out]', () => {
      const m = new UNet(cfg, { seed: 1 });
      const w = m.getWeights();
      const conv = w['input_blocks.0.0.weight'];
      assert.deepEqual(conv.shape, [16, 4, 3, 3]);
      assert.deepEqual(m.variables.get('input_blocks.0.0.weight')?.shape, [3, 3, 4, 16]);
      const cv = conv.arraySync() as number[][][][];
      const tv = (m.variables.get('input_blocks.0.0.weight') as tf.Variable).arraySync() as number[][][][];
      assert.equal(cv[5][2][1][0], tv[1][0][2][5]);
      const lin = w['time_embed.0.weight'].arraySync() as number[][];
      const lv = (m.variables.get('time_embed.0.weight') as tf.Variable).arraySync() as number[][];
      assert.deepEqual(w['time_embed.0.weight'].shape, [64, 16]);
      assert.equal(lin[7][3], lv[3][7]);
      const qkv = w['middle_block.1.qkv.weight'].arraySync() as number[][][];
      const qv = (m.variables.get('middle_block.1.qkv.weight') as tf.Variable).arraySync() as number[][];
      assert.equal(qkv[40][9][0], qv[9][40]);
      tf.dispose(Object.values(w));
      m.dispose();
    });
  });

  describe('unetWeightsFromStateDict', () => {
    it('strips model.diffusion_model., keeps cond_stage_model.embedding.weight, drops the rest; prefix-free records pass', () => {
      const t = tf.zeros([1]);
      const full = { 'model.diffusion_model.out.2.bias': t, [CLASS_EMBEDDER_WEIGHT]: t, 'first_stage_model.x': t, betas: t };
      assert.deepEqual(Object.keys(unetWeightsFromStateDict(full)), ['out.2.bias', CLASS_EMBEDDER_WEIGHT]);
      const plain = { 'out.2.bias': t, betas: t };
      assert.equal(unetWeightsFromStateDict(plain), plain);
      t.dispose();
    });
  });

  describe('config validation', () => {
    function problemsOf(cfg: unknown): string[] {
      try {
        new UNet(cfg as UNetConfigInput, { allocate: false });
      } catch (e) {
        assert.ok(e instanceof ConfigError, String(e));
        return e.problems.map((p) => `${p.path}: ${p.message}`);
      }
      assert.fail('expected a ConfigError');
    }

    it('refuses unknown keys and reports every schema problem at once', () => {
      const p = problemsOf({ ...SMALL['label_emb + legacy AttentionBlock'], model_channel: 3, dims: 3, dropout: 2 });
      assert.equal(p.length, 3, p.join('\n'));
      assert.ok(p.some((s) => s.startsWith('model_channel: ')), p.join('\n'));
      assert.ok(p.some((s) => s.startsWith('dims: ')), p.join('\n'));
      assert.ok(p.some((s) => s.startsWith('dropout: ')), p.join('\n'));
    });

    it('cross-field problems', () => {
      assert.deepEqual(problemsOf({ ...SMALL['label_emb + legacy AttentionBlock'], num_heads: -1, num_classes: null }), [
        'num_heads: either num_heads or num_head_channels must be set (the middle block always has attention)',
        'num_classes: the UNet is class-conditional: set num_classes (label_emb) or class_embedder (cross-attention)',
      ]);
      assert.deepEqual(problemsOf({ ...TINY_CIN, context_dim: 8, attention_resolutions: [3], image_size: 9 }), [
        'class_embedder.embed_dim: must equal context_dim',
        'image_size: must be divisible by 2 (1 downsamplings)',
        'attention_resolutions.0: is not a downsampling factor of this UNet',
      ]);
      assert.deepEqual(problemsOf({ ...TINY_CIN, use_spatial_transformer: false }), [
        'context_dim: context_dim is only used with use_spatial_transformer: true',
        'class_embedder: class_embedder feeds cross-attention and needs use_spatial_transformer: true',
      ]);
    });

    it('GroupNorm widths and head splits', () => {
      const e = (() => {
        try {
          new UNet({ ...SMALL['label_emb + legacy AttentionBlock'], num_groups: 32, num_heads: 3 });
        } catch (err) {
          return err as ConfigError;
        }
        assert.fail('expected a ConfigError');
      })();
      assert.ok(e.message.startsWith('invalid UNet config:\n'), e.message);
      assert.ok(e.message.includes('num_groups: GroupNorm "input_blocks.1.0.in_layers.0" has 16 channels, not divisible by num_groups (expected a divisor of 16, found 32) — lower num_groups (e.g. 8 or 16 for small model_channels)'), e.message);
      assert.ok(e.message.includes('num_heads: attention "input_blocks.3.1" at 32 channels cannot be split into heads (expected a divisor of 32, found 3)'), e.message);
      assert.deepEqual(problemsOf({ ...SMALL['label_emb + legacy AttentionBlock'], num_heads: -1, num_head_channels: 12 }), [
        'num_head_channels: attention "input_blocks.3.1" at 32 channels cannot be split into heads',
      ]);
    });
  });

  it('overfits a tiny batch: v-loss falls at least 10× in 200 AdamW steps', function () {
    this.timeout(300_000);
    // About 20 s of CPU time on the pure-JS backend (8×8×4 latents, model_channels 8, batch 2).
    const cfg: UNetConfigInput = {
      image_size: 8, in_channels: 4, out_channels: 4, model_channels: 8, num_res_blocks: 1, channel_mult: [1, 2],
      attention_resolutions: [2], num_heads: 1, num_classes: 3, num_groups: 4, prediction_type: 'v_prediction',
    };
    const before = tf.memory().numTensors;
    const model = new UNet(cfg, { seed: 0 });
    // The latent-diffusion schedule (spec section 1: cin256's scaled_linear 0.0015 → 0.0195).
    const schedule = NoiseSchedule.fromConfig({ betaSchedule: 'scaled_linear', betaStart: 0.0015, betaEnd: 0.0195, numTrainTimesteps: 1000 });
    const x = seededNormal([2, 8, 8, 4], 21) as tf.Tensor4D;
    const eps = seededNormal([2, 8, 8, 4], 22) as tf.Tensor4D;
    const steps = [150, 800];
    const t = tf.tensor1d(steps, 'float32');
    const labels = tf.tensor1d([0, 2], 'int32');
    // z_t = a_t·x + s_t·ε and v = a_t·ε − s_t·x (spec section 2), with a_t, s_t from the schedule.
    const a = tf.tensor4d(steps.map((s) => schedule.signalScaleAt(s)), [2, 1, 1, 1]);
    const s = tf.tensor4d(steps.map((s) => schedule.noiseScaleAt(s)), [2, 1, 1, 1]);
    const zt = tf.tidy(() => tf.add(tf.mul(a, x), tf.mul(s, eps))) as tf.Tensor4D;
    const v = tf.tidy(() => tf.sub(tf.mul(a, eps), tf.mul(s, x))) as tf.Tensor4D;
    const opt = new AdamW(model.variables, { lr: 3e-3, weightDecay: 0 });
    const losses: number[] = [];
    for (let step = 0; step < 200; step++) {
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(model.forward(zt, t, labels), v))) as tf.Scalar);
      const byName: Record<string, tf.Tensor> = {};
      for (const [name, variable] of model.variables) byName[name] = grads[variable.name];
      opt.step(byName);
      losses.push(value.dataSync()[0]);
      tf.dispose([value, ...Object.values(grads)]);
    }
    const first = losses[0];
    const last = Math.min(...losses.slice(-10));
    assert.ok(last * 10 <= first, `v-loss ${first} → ${last}`);
    opt.dispose();
    tf.dispose([x, eps, t, a, s, labels, zt, v]);
    model.dispose();
    assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
  });
});
