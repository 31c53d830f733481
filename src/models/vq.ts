/**
 * The VQ first stage of latent diffusion (taming-transformers' Encoder / Decoder with latent-diffusion's
 * VQModelInterface and VectorQuantizer2), built from a `first_stage_config.params` block, with the
 * state-dict names of `first_stage_model.*` minus that prefix. Activations are NHWC.
 *
 * Architecture (from the config: ch, ch_mult, num_res_blocks, attn_resolutions, z_channels, double_z,
 * embed_dim, n_embed):
 *   encoder: conv_in → per level i: num_res_blocks × (ResnetBlock [+ AttnBlock when the current
 *            resolution is in attn_resolutions]), then (not at the last level) a downsample → mid
 *            (ResnetBlock, AttnBlock, ResnetBlock) → GroupNorm → swish → conv_out (2·z_channels if double_z)
 *   quant_conv (1x1, z_channels → embed_dim); quantize (codebook n_embed × embed_dim);
 *   post_quant_conv (1x1, embed_dim → z_channels)
 *   decoder: conv_in → mid → per level i from the last: (num_res_blocks+1) × (ResnetBlock [+ AttnBlock]),
 *            then (not at level 0) nearest ×2 upsample + 3x3 conv → GroupNorm → swish → conv_out
 * Conventions that matter for matching the reference numbers:
 *   - every GroupNorm has 32 groups and eps 1e-6 (taming's Normalize);
 *   - the encoder's downsample pads only right and bottom by one (zeros), then a 3x3 stride-2 conv with
 *     no padding (an asymmetric "same"); with resamp_with_conv false it is 2x2 average pooling;
 *   - AttnBlock is single-head over the h·w positions with 1x1-conv q/k/v/proj_out and scale c^-½ applied
 *     after q·kᵀ;
 *   - quantisation takes argmin_j |z|² + |e_j|² − 2 z·e_j and returns z + (e − z) (the straight-through
 *     form, which is not bit-identical to e).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ModelError, type Problem } from '../errors';
import { applySchema, throwIfProblems, type SameShape } from './config';
import type { LdmVQParams } from '../io/ldm-model-params';
import { Conv2d, Embedding, GroupNorm, silu, upsampleNearest2x } from './layers';
import { ParameterizedModel, ParamStore } from './params';
import vqSchemaJson from './schemas/vq.schema.json';

/** The VQ config's JSON Schema (the reference for every key). */
export const vqConfigSchema: Record<string, unknown> = vqSchemaJson as Record<string, unknown>;

/** The encoder / decoder part of a first-stage config (`ddconfig`). */
export interface VQDDConfig {
  double_z: boolean;
  z_channels: number;
  resolution: number;
  in_channels: number;
  out_ch: number;
  ch: number;
  ch_mult: number[];
  num_res_blocks: number;
  attn_resolutions: number[];
  dropout: number;
  resamp_with_conv: boolean;
}

/** A validated VQ first-stage config (latent-diffusion's first_stage_config.params, lossconfig removed). */
export interface VQModelConfig {
  embed_dim: number;
  n_embed: number;
  ddconfig: VQDDConfig;
}

/** Input form: ddconfig keys with defaults may be omitted. */
export type VQModelConfigInput = Omit<VQModelConfig, 'ddconfig'> & {
  ddconfig: Omit<VQDDConfig, 'dropout' | 'resamp_with_conv' | 'double_z'> & Partial<Pick<VQDDConfig, 'dropout' | 'resamp_with_conv' | 'double_z'>>;
};

// An LDM YAML's first-stage settings (src/io/ldm-model-params.ts) are this input form; a build error here means they drifted.
true satisfies SameShape<LdmVQParams, VQModelConfigInput>;

/** taming's Normalize: GroupNorm(32 groups, eps 1e-6, affine). */
const GROUPS = 32;
const EPS = 1e-6;

type Trace = (name: string, value: tf.Tensor) => void;

class ResnetBlock {
  private readonly norm1: GroupNorm;
  private readonly conv1: Conv2d;
  private readonly norm2: GroupNorm;
  private readonly conv2: Conv2d;
  private readonly shortcut: Conv2d | undefined;

  constructor(store: ParamStore, readonly name: string, inCh: number, outCh: number) {
    this.norm1 = new GroupNorm(store, `${name}.norm1`, inCh, GROUPS, EPS);
    this.conv1 = new Conv2d(store, `${name}.conv1`, inCh, outCh, 3);
    this.norm2 = new GroupNorm(store, `${name}.norm2`, outCh, GROUPS, EPS);
    this.conv2 = new Conv2d(store, `${name}.conv2`, outCh, outCh, 3);
    // taming's default (conv_shortcut false): a 1x1 "network in network" shortcut when widths differ.
    this.shortcut = inCh === outCh ? undefined : new Conv2d(store, `${name}.nin_shortcut`, inCh, outCh, 1, { padding: 0 });
  }

  apply(x: tf.Tensor4D, trace: Trace): tf.Tensor4D {
    const h = this.conv2.apply(silu(this.norm2.apply(this.conv1.apply(silu(this.norm1.apply(x))))));
    const out: tf.Tensor4D = tf.add(this.shortcut ? this.shortcut.apply(x) : x, h);
    trace(this.name, out);
    return out;
  }
}

class AttnBlock {
  private readonly norm: GroupNorm;
  private readonly q: Conv2d;
  private readonly k: Conv2d;
  private readonly v: Conv2d;
  private readonly projOut: Conv2d;

  constructor(store: ParamStore, readonly name: string, private readonly ch: number) {
    this.norm = new GroupNorm(store, `${name}.norm`, ch, GROUPS, EPS);
    this.q = new Conv2d(store, `${name}.q`, ch, ch, 1, { padding: 0 });
    this.k = new Conv2d(store, `${name}.k`, ch, ch, 1, { padding: 0 });
    this.v = new Conv2d(store, `${name}.v`, ch, ch, 1, { padding: 0 });
    this.projOut = new Conv2d(store, `${name}.proj_out`, ch, ch, 1, { padding: 0 });
  }

  apply(x: tf.Tensor4D, trace: Trace): tf.Tensor4D {
    const [b, hh, ww, c] = x.shape;
    const n = this.norm.apply(x);
    const flat = (t: tf.Tensor4D): tf.Tensor3D => tf.reshape(t, [b, hh * ww, c]);
    const q = flat(this.q.apply(n));
    const k = flat(this.k.apply(n));
    const v = flat(this.v.apply(n));
    const w = tf.softmax(tf.mul(tf.matMul(q, k, false, true), c ** -0.5));
    const h = tf.reshape(tf.matMul(w, v), [b, hh, ww, c]) as tf.Tensor4D;
    const out: tf.Tensor4D = tf.add(x, this.projOut.apply(h));
    trace(this.name, out);
    return out;
  }
}

class Downsample {
  private readonly conv: Conv2d | undefined;
  constructor(store: ParamStore, readonly name: string, ch: number, withConv: boolean) {
    this.conv = withConv ? new Conv2d(store, `${name}.conv`, ch, ch, 3, { stride: 2, padding: 0 }) : undefined;
  }
  apply(x: tf.Tensor4D, trace: Trace): tf.Tensor4D {
    const out = this.conv
      ? this.conv.apply(tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]]))
      : tf.avgPool(x, 2, 2, 'valid');
    trace(this.name, out);
    return out;
  }
}

class Upsample {
  private readonly conv: Conv2d | undefined;
  constructor(store: ParamStore, readonly name: string, ch: number, withConv: boolean) {
    this.conv = withConv ? new Conv2d(store, `${name}.conv`, ch, ch, 3) : undefined;
  }
  apply(x: tf.Tensor4D, trace: Trace): tf.Tensor4D {
    const u = upsampleNearest2x(x);
    const out = this.conv ? this.conv.apply(u) : u;
    trace(this.name, out);
    return out;
  }
}

interface Level {
  blocks: ResnetBlock[];
  attns: AttnBlock[];
  resample: Downsample | Upsample | undefined;
}

interface Mid {
  block1: ResnetBlock;
  attn1: AttnBlock;
  block2: ResnetBlock;
}

function buildMid(store: ParamStore, prefix: string, ch: number): Mid {
  return {
    block1: new ResnetBlock(store, `${prefix}.mid.block_1`, ch, ch),
    attn1: new AttnBlock(store, `${prefix}.mid.attn_1`, ch),
    block2: new ResnetBlock(store, `${prefix}.mid.block_2`, ch, ch),
  };
}

function applyMid(mid: Mid, h: tf.Tensor4D, trace: Trace): tf.Tensor4D {
  return mid.block2.apply(mid.attn1.apply(mid.block1.apply(h, trace), trace), trace);
}

class Encoder {
  private readonly convIn: Conv2d;
  private readonly levels: Level[] = [];
  private readonly mid: Mid;
  private readonly normOut: GroupNorm;
  private readonly convOut: Conv2d;

  constructor(store: ParamStore, cfg: VQDDConfig) {
    const p = 'encoder';
    this.convIn = new Conv2d(store, `${p}.conv_in`, cfg.in_channels, cfg.ch, 3);
    let res = cfg.resolution;
    const inMult = [1, ...cfg.ch_mult];
    let blockIn = cfg.ch;
    cfg.ch_mult.forEach((mult, i) => {
      const level: Level = { blocks: [], attns: [], resample: undefined };
      blockIn = cfg.ch * inMult[i];
      const blockOut = cfg.ch * mult;
      for (let j = 0; j < cfg.num_res_blocks; j++) {
        level.blocks.push(new ResnetBlock(store, `${p}.down.${i}.block.${j}`, blockIn, blockOut));
        blockIn = blockOut;
        if (cfg.attn_resolutions.includes(res)) level.attns.push(new AttnBlock(store, `${p}.down.${i}.attn.${j}`, blockIn));
      }
      if (i !== cfg.ch_mult.length - 1) {
        level.resample = new Downsample(store, `${p}.down.${i}.downsample`, blockIn, cfg.resamp_with_conv);
        res = Math.floor(res / 2);
      }
      this.levels.push(level);
    });
    this.mid = buildMid(store, p, blockIn);
    this.normOut = new GroupNorm(store, `${p}.norm_out`, blockIn, GROUPS, EPS);
    this.convOut = new Conv2d(store, `${p}.conv_out`, blockIn, cfg.double_z ? 2 * cfg.z_channels : cfg.z_channels, 3);
  }

  apply(x: tf.Tensor4D, trace: Trace): tf.Tensor4D {
    let h = this.convIn.apply(x);
    trace('encoder.conv_in', h);
    for (const level of this.levels) {
      level.blocks.forEach((block, j) => {
        h = block.apply(h, trace);
        if (level.attns.length) h = level.attns[j].apply(h, trace);
      });
      if (level.resample) h = level.resample.apply(h, trace);
    }
    h = applyMid(this.mid, h, trace);
    h = this.convOut.apply(silu(this.normOut.apply(h)));
    trace('encoder', h);
    return h;
  }
}

class Decoder {
  private readonly convIn: Conv2d;
  private readonly mid: Mid;
  /** levels[i] is `up.i`; they run from the last to 0. */
  private readonly levels: Level[] = [];
  private readonly normOut: GroupNorm;
  private readonly convOut: Conv2d;

  constructor(store: ParamStore, cfg: VQDDConfig) {
    const p = 'decoder';
    const last = cfg.ch_mult.length - 1;
    let blockIn = cfg.ch * cfg.ch_mult[last];
    let res = Math.floor(cfg.resolution / 2 ** last);
    this.convIn = new Conv2d(store, `${p}.conv_in`, cfg.z_channels, blockIn, 3);
    this.mid = buildMid(store, p, blockIn);
    const levels: Level[] = new Array<Level>(cfg.ch_mult.length);
    for (let i = last; i >= 0; i--) {
      const level: Level = { blocks: [], attns: [], resample: undefined };
      const blockOut = cfg.ch * cfg.ch_mult[i];
      for (let j = 0; j <= cfg.num_res_blocks; j++) {
        level.blocks.push(new ResnetBlock(store, `${p}.up.${i}.block.${j}`, blockIn, blockOut));
        blockIn = blockOut;
        if (cfg.attn_resolutions.includes(res)) level.attns.push(new AttnBlock(store, `${p}.up.${i}.attn.${j}`, blockIn));
      }
      if (i !== 0) {
        level.resample = new Upsample(store, `${p}.up.${i}.upsample`, blockIn, cfg.resamp_with_conv);
        res *= 2;
      }
      levels[i] = level;
    }
    this.levels = levels;
    this.normOut = new GroupNorm(store, `${p}.norm_out`, blockIn, GROUPS, EPS);
    this.convOut = new Conv2d(store, `${p}.conv_out`, blockIn, cfg.out_ch, 3);
  }

  apply(z: tf.Tensor4D, trace: Trace): tf.Tensor4D {
    let h = this.convIn.apply(z);
    trace('decoder.conv_in', h);
    h = applyMid(this.mid, h, trace);
    for (let i = this.levels.length - 1; i >= 0; i--) {
      const level = this.levels[i];
      level.blocks.forEach((block, j) => {
        h = block.apply(h, trace);
        if (level.attns.length) h = level.attns[j].apply(h, trace);
      });
      if (level.resample) h = level.resample.apply(h, trace);
    }
    h = this.convOut.apply(silu(this.normOut.apply(h)));
    trace('decoder', h);
    return h;
  }
}

/** Problems a schema-valid config can still have. */
function crossFieldProblems(cfg: VQModelConfig): Problem[] {
  const p: Problem[] = [];
  const d = cfg.ddconfig;
  const factor = 2 ** (d.ch_mult.length - 1);
  if (d.resolution % factor !== 0) {
    p.push({ path: 'ddconfig.resolution', message: `must be divisible by ${factor} (${d.ch_mult.length - 1} downsamplings)`, found: String(d.resolution) });
  }
  if (d.double_z) {
    p.push({ path: 'ddconfig.double_z', message: 'a VQ first stage has a single latent (double_z is for the KL autoencoder)', expected: 'false', found: 'true' });
  }
  const widths = new Set([d.ch, ...d.ch_mult.map((m) => m * d.ch)]);
  for (const w of widths) {
    if (w % GROUPS !== 0) {
      p.push({ path: 'ddconfig.ch', message: `width ${w} is not divisible by the 32 GroupNorm groups of the reference architecture`, found: String(d.ch) });
    }
  }
  return p;
}

/** Validates a first-stage config (schema, defaults, cross-field checks); throws one ConfigError. */
export function resolveVQConfig(input: unknown): VQModelConfig {
  const cfg = applySchema<VQModelConfig>('VQ first-stage config', vqConfigSchema, input);
  throwIfProblems('VQ first-stage config', crossFieldProblems(cfg));
  return cfg;
}

export interface VQOptions {
  seed?: number;
  /** false: names and shapes only. */
  allocate?: boolean;
}

export interface VQTraceOptions {
  /** Called with each module's output, named by its state-dict path (e.g. `encoder.down.0.block.0`). */
  trace?: Trace;
}

/**
 * The VQ first stage. All methods take and return NHWC tensors and allocate inside tf.tidy; the
 * caller owns the results.
 */
export class VQModel extends ParameterizedModel {
  readonly kind = 'vq first stage';
  readonly config: Readonly<VQModelConfig>;
  private readonly encoder: Encoder;
  private readonly decoder: Decoder;
  private readonly quantConv: Conv2d;
  private readonly postQuantConv: Conv2d;
  private readonly codebook: Embedding;

  constructor(config: VQModelConfigInput | VQModelConfig, options: VQOptions = {}) {
    const cfg = resolveVQConfig(config);
    const store = new ParamStore(options.allocate ?? true, options.seed ?? 0);
    super(store);
    this.config = Object.freeze(cfg);
    try {
      // Registration order follows the reference module: encoder, decoder, quantize, quant_conv, post_quant_conv.
      this.encoder = new Encoder(store, cfg.ddconfig);
      this.decoder = new Decoder(store, cfg.ddconfig);
      this.codebook = new Embedding(store, 'quantize.embedding', cfg.n_embed, cfg.embed_dim);
      this.quantConv = new Conv2d(store, 'quant_conv', cfg.ddconfig.z_channels, cfg.embed_dim, 1, { padding: 0 });
      this.postQuantConv = new Conv2d(store, 'post_quant_conv', cfg.embed_dim, cfg.ddconfig.z_channels, 1, { padding: 0 });
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** Downsampling factor between image and latent (2^(levels−1)). */
  get downsampleFactor(): number {
    return 2 ** (this.config.ddconfig.ch_mult.length - 1);
  }

  private checkImage(x: tf.Tensor4D): void {
    const d = this.config.ddconfig;
    if (x.rank !== 4 || x.shape[3] !== d.in_channels) {
      throw new ModelError(`vq: images must be [B, H, W, ${d.in_channels}] (NHWC), found [${x.shape.join(', ')}]`);
    }
    const f = this.downsampleFactor;
    if (x.shape[1] % f !== 0 || x.shape[2] % f !== 0) {
      throw new ModelError(`vq: image is ${x.shape[1]}x${x.shape[2]}; height and width must be divisible by ${f}`);
    }
  }

  private checkLatent(h: tf.Tensor4D): void {
    if (h.rank !== 4 || h.shape[3] !== this.config.embed_dim) {
      throw new ModelError(`vq: latents must be [B, h, w, ${this.config.embed_dim}] (NHWC), found [${h.shape.join(', ')}]`);
    }
  }

  /** VQModelInterface.encode: quant_conv(encoder(x)), the pre-quantisation latent. x in [−1, 1]. */
  encode(x: tf.Tensor4D, options: VQTraceOptions = {}): tf.Tensor4D {
    this.assertUsable();
    this.checkImage(x);
    const trace = options.trace ?? (() => undefined);
    return tf.tidy(() => {
      const h = this.quantConv.apply(this.encoder.apply(x, trace));
      trace('quant_conv', h);
      return h;
    });
  }

  /** Nearest codebook entries: z_q = h + (e − h) and the indices [B, h, w] (int32). */
  quantize(h: tf.Tensor4D): { zq: tf.Tensor4D; indices: tf.Tensor3D } {
    this.assertUsable();
    this.checkLatent(h);
    const [b, hh, ww, c] = h.shape;
    const indices = tf.tidy(() => {
      const z = tf.reshape(h, [b * hh * ww, c]) as tf.Tensor2D;
      const e = this.codebook.weight.value as unknown as tf.Tensor2D;
      const d = tf.sub(tf.add(tf.sum(tf.square(z), 1, true), tf.reshape(tf.sum(tf.square(e), 1), [1, -1])),
        tf.mul(tf.matMul(z, e, false, true), 2));
      return tf.reshape(tf.argMin(d, 1), [b, hh, ww]) as tf.Tensor3D;
    });
    const zq = tf.tidy(() => {
      const e = tf.reshape(tf.gather(this.codebook.weight.value, tf.reshape(indices, [-1])), [b, hh, ww, c]);
      return tf.add(h, tf.sub(e, h)) as tf.Tensor4D;
    });
    return { zq, indices };
  }

  /** The codebook vectors of indices [B, h, w] → [B, h, w, embed_dim]. */
  lookup(indices: tf.Tensor3D): tf.Tensor4D {
    this.assertUsable();
    const [b, hh, ww] = indices.shape;
    return tf.tidy(() => tf.reshape(tf.gather(this.codebook.weight.value, tf.reshape(tf.cast(indices, 'int32'), [-1])),
      [b, hh, ww, this.config.embed_dim]) as tf.Tensor4D);
  }

  /**
   * VQModelInterface.decode: quantise h (unless forceNotQuantize), post_quant_conv, decoder. This is
   * LatentDiffusion.decode_first_stage for a VQ model after dividing by the scale factor.
   */
  decode(h: tf.Tensor4D, options: VQTraceOptions & { forceNotQuantize?: boolean } = {}): tf.Tensor4D {
    this.assertUsable();
    this.checkLatent(h);
    const trace = options.trace ?? (() => undefined);
    return tf.tidy(() => {
      let z = h;
      if (!options.forceNotQuantize) {
        const { zq, indices } = this.quantize(h);
        indices.dispose();
        z = zq;
        trace('quantize', z);
      }
      const post = this.postQuantConv.apply(z);
      trace('post_quant_conv', post);
      return this.decoder.apply(post, trace);
    });
  }
}

/** Parameter names and PyTorch shapes of a first-stage config, without allocating anything. */
export function vqParameterShapes(config: VQModelConfigInput | VQModelConfig): Map<string, number[]> {
  return new VQModel(config, { allocate: false }).parameterShapes();
}

/** Prefix of the first stage's weights in a full latent-diffusion state dict. */
export const LDM_FIRST_STAGE_PREFIX = 'first_stage_model.';
