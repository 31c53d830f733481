/**
 * A class-conditional UNet in the shape of latent-diffusion's `openaimodel.UNetModel`, with its
 * state-dict names (minus the `model.diffusion_model.` prefix a full LDM checkpoint adds), so that LDM
 * checkpoints load by name. Activations are NHWC; weights convert to/from the PyTorch layout only in
 * loadWeights / getWeights.
 *
 * Structure (names as in the state dict):
 *   time_embed.{0,2}        sinusoidal(t, model_channels) → Linear → SiLU → Linear (4·model_channels)
 *   w_embed.{0,2}           optional, the same for the guidance weight w (last layer zero-initialised)
 *   label_emb               nn.Embedding(num_classes, 4·model_channels), added to the embedding
 *   cond_stage_model.embedding   the ClassEmbedder: labels → context [B, 1, context_dim] (cross-attention)
 *   input_blocks.i.j        conv_in; per level num_res_blocks × (ResBlock [+ attention]); Downsample
 *   middle_block.{0,1,2}    ResBlock, attention, ResBlock
 *   output_blocks.i.j       per level (num_res_blocks+1) × (ResBlock on concat[h, skip] [+ attention]) [+ Upsample]
 *   out.{0,2}               GroupNorm → SiLU → conv (zero-initialised)
 */
import * as tf from '@tensorflow/tfjs-core';
import { ModelError, type Problem } from '../errors';
import { applySchema, throwIfProblems, type SameShape } from './config';
import type { LdmUNetParams } from '../io/ldm-model-params';
import {
  Conv1x1d, Conv2d, Embedding, GroupNorm, LayerNorm, Linear,
  avgPool2x, concatLastAxis, dropout, gelu, silu, sinusoidalEmbedding, splitLastAxis, upsampleNearest2x,
} from './layers';
import { ParameterizedModel, ParamStore } from './params';
import type { ConditionalDenoiser, PredictionType } from './types';
import unetSchemaJson from './schemas/unet.schema.json';

/** The UNet config's JSON Schema (the reference for every key). */
export const unetConfigSchema: Record<string, unknown> = unetSchemaJson as Record<string, unknown>;

/** The class embedder's state-dict name: LDM keeps it outside the diffusion model, so its full name is kept. */
export const CLASS_EMBEDDER_WEIGHT = 'cond_stage_model.embedding.weight';
/** Prefix of the UNet's weights in a full latent-diffusion state dict. */
export const LDM_UNET_PREFIX = 'model.diffusion_model.';

/** A UNet config as written (optional keys get the schema defaults). */
export interface UNetConfigInput {
  image_size: number;
  in_channels: number;
  out_channels: number;
  model_channels: number;
  num_res_blocks: number;
  attention_resolutions: number[];
  dropout?: number;
  channel_mult?: number[];
  conv_resample?: boolean;
  dims?: 2;
  num_classes?: number | null;
  use_checkpoint?: boolean;
  use_fp16?: false;
  num_heads?: number;
  num_head_channels?: number;
  num_heads_upsample?: number;
  use_scale_shift_norm?: boolean;
  resblock_updown?: boolean;
  use_new_attention_order?: boolean;
  use_spatial_transformer?: boolean;
  transformer_depth?: number;
  context_dim?: number | null;
  legacy?: boolean;
  class_embedder?: { n_classes: number; embed_dim: number; key?: string } | null;
  null_class?: number;
  prediction_type?: PredictionType;
  guidance_embed?: boolean;
  guidance_embed_scale?: number;
  num_groups?: number;
}

/** A validated UNet config, defaults filled in. */
export type UNetConfig = Required<Omit<UNetConfigInput, 'null_class'>> & { null_class?: number };

// An LDM YAML's UNet settings (src/io/ldm-model-params.ts) are this input form; a build error here means they drifted.
true satisfies SameShape<LdmUNetParams, UNetConfigInput>;

export interface UNetOptions {
  /** Seed of the parameter initialisation (default 0). */
  seed?: number;
  /** false: record names and shapes only (no tensors), e.g. to check a 400M-parameter config's key list. */
  allocate?: boolean;
}

// One forward pass's shared inputs.
interface ForwardContext {
  emb: tf.Tensor2D;
  context: tf.Tensor3D | undefined;
  training: boolean;
  nextSeed(): number;
}

interface Block {
  apply(h: tf.Tensor4D, fc: ForwardContext): tf.Tensor4D;
}

class ResBlock implements Block {
  private readonly inNorm: GroupNorm;
  private readonly inConv: Conv2d;
  private readonly embLinear: Linear;
  private readonly outNorm: GroupNorm;
  private readonly outConv: Conv2d;
  private readonly skip: Conv2d | undefined;

  constructor(store: ParamStore, name: string, ch: number, embCh: number, readonly outCh: number,
    private readonly cfg: UNetConfig, private readonly updown: 'up' | 'down' | undefined) {
    const g = cfg.num_groups;
    this.inNorm = new GroupNorm(store, `${name}.in_layers.0`, ch, g, 1e-5);
    this.inConv = new Conv2d(store, `${name}.in_layers.2`, ch, outCh, 3);
    this.embLinear = new Linear(store, `${name}.emb_layers.1`, embCh, cfg.use_scale_shift_norm ? 2 * outCh : outCh);
    this.outNorm = new GroupNorm(store, `${name}.out_layers.0`, outCh, g, 1e-5);
    this.outConv = new Conv2d(store, `${name}.out_layers.3`, outCh, outCh, 3, { zeroInit: true });
    this.skip = outCh === ch ? undefined : new Conv2d(store, `${name}.skip_connection`, ch, outCh, 1);
  }

  apply(x: tf.Tensor4D, fc: ForwardContext): tf.Tensor4D {
    let h = this.inNorm.apply(x, { silu: true });
    let xs = x;
    if (this.updown === 'up') {
      h = upsampleNearest2x(h);
      xs = upsampleNearest2x(x);
    } else if (this.updown === 'down') {
      h = avgPool2x(h);
      xs = avgPool2x(x);
    }
    h = this.inConv.apply(h);
    const [b] = h.shape;
    const e = this.embLinear.apply(silu(fc.emb));
    if (this.cfg.use_scale_shift_norm) {
      const [scale, shift] = splitLastAxis(e, 2);
      h = silu(tf.add(tf.mul(this.outNorm.apply(h), tf.add(tf.reshape(scale, [b, 1, 1, this.outCh]), 1)),
        tf.reshape(shift, [b, 1, 1, this.outCh])));
    } else {
      h = this.outNorm.apply(tf.add(h, tf.reshape(e, [b, 1, 1, this.outCh])), { silu: true });
    }
    if (fc.training) h = dropout(h, this.cfg.dropout, fc.nextSeed());
    h = this.outConv.apply(h);
    return tf.add(this.skip ? this.skip.apply(xs) : xs, h);
  }
}

class Downsample implements Block {
  private readonly conv: Conv2d | undefined;
  constructor(store: ParamStore, name: string, ch: number, useConv: boolean) {
    this.conv = useConv ? new Conv2d(store, `${name}.op`, ch, ch, 3, { stride: 2, padding: 1 }) : undefined;
  }
  apply(h: tf.Tensor4D): tf.Tensor4D {
    return this.conv ? this.conv.apply(h) : avgPool2x(h);
  }
}

class Upsample implements Block {
  private readonly conv: Conv2d | undefined;
  constructor(store: ParamStore, name: string, ch: number, useConv: boolean) {
    this.conv = useConv ? new Conv2d(store, `${name}.conv`, ch, ch, 3) : undefined;
  }
  apply(h: tf.Tensor4D): tf.Tensor4D {
    const u = upsampleNearest2x(h);
    return this.conv ? this.conv.apply(u) : u;
  }
}

/** Scaled dot-product attention: q [B, h, N, d], k/v [B, h, M, d] → [B, h, N, d]. */
function attend(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number): tf.Tensor4D {
  const w = tf.softmax(tf.mul(tf.matMul(q, k, false, true), scale));
  return tf.matMul(w, v);
}

/** LDM's AttentionBlock: GroupNorm → qkv (1x1 Conv1d) → multi-head attention → proj_out (zero-init) + x. */
class AttentionBlock implements Block {
  private readonly norm: GroupNorm;
  private readonly qkv: Conv1x1d;
  private readonly projOut: Conv1x1d;

  constructor(store: ParamStore, name: string, private readonly ch: number, private readonly heads: number,
    private readonly newOrder: boolean, groups: number) {
    this.norm = new GroupNorm(store, `${name}.norm`, ch, groups, 1e-5);
    this.qkv = new Conv1x1d(store, `${name}.qkv`, ch, 3 * ch);
    this.projOut = new Conv1x1d(store, `${name}.proj_out`, ch, ch, { zeroInit: true });
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    const [b, hh, ww, c] = x.shape;
    const l = hh * ww;
    const nh = this.heads;
    const d = c / nh;
    const qkv = this.qkv.apply(tf.reshape(this.norm.apply(x), [b, l, c]));
    // Legacy order splits the 3C channels as [heads, 3, d]; the new order as [3, heads, d]. Both are
    // brought to [3, B, heads, L, d], so that q, k and v are contiguous leading-axis slices.
    const qkv5 = this.newOrder
      ? tf.transpose(tf.reshape(qkv, [b, l, 3, nh, d]), [2, 0, 3, 1, 4])
      : tf.transpose(tf.reshape(qkv, [b, l, nh, 3, d]), [3, 0, 2, 1, 4]);
    const part = (i: number): tf.Tensor4D => tf.reshape(tf.slice(qkv5, [i, 0, 0, 0, 0], [1, b, nh, l, d]), [b, nh, l, d]);
    // 1/sqrt(d) split as 1/d^¼ on q and on k, as the reference does (same value, same rounding).
    const s = 1 / Math.sqrt(Math.sqrt(d));
    const a = attend(tf.mul(part(0), s), tf.mul(part(1), s), part(2), 1);
    const merged = tf.reshape(tf.transpose(a, [0, 2, 1, 3]), [b, l, c]) as tf.Tensor3D;
    return tf.add(x, tf.reshape(this.projOut.apply(merged), [b, hh, ww, c]));
  }
}

/** CrossAttention: to_q / to_k / to_v (no bias), to_out.0 (Linear); context defaults to x. */
class CrossAttention {
  private readonly toQ: Linear;
  private readonly toK: Linear;
  private readonly toV: Linear;
  private readonly toOut: Linear;

  constructor(store: ParamStore, name: string, queryDim: number, contextDim: number,
    private readonly heads: number, private readonly dimHead: number, private readonly rate: number) {
    const inner = heads * dimHead;
    this.toQ = new Linear(store, `${name}.to_q`, queryDim, inner, { bias: false });
    this.toK = new Linear(store, `${name}.to_k`, contextDim, inner, { bias: false });
    this.toV = new Linear(store, `${name}.to_v`, contextDim, inner, { bias: false });
    this.toOut = new Linear(store, `${name}.to_out.0`, inner, queryDim);
  }

  apply(x: tf.Tensor3D, context: tf.Tensor3D | undefined, fc: ForwardContext): tf.Tensor3D {
    const ctx = context ?? x;
    const [b, n] = x.shape;
    const m = ctx.shape[1];
    const h = this.heads;
    const d = this.dimHead;
    const heads = (t: tf.Tensor3D, len: number): tf.Tensor4D => tf.transpose(tf.reshape(t, [b, len, h, d]), [0, 2, 1, 3]);
    const out = attend(heads(this.toQ.apply(x), n), heads(this.toK.apply(ctx), m), heads(this.toV.apply(ctx), m), 1 / Math.sqrt(d));
    let y = this.toOut.apply(tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [b, n, h * d]) as tf.Tensor3D);
    if (fc.training) y = dropout(y, this.rate, fc.nextSeed());
    return y;
  }
}

/** BasicTransformerBlock: x += attn1(norm1 x); x += attn2(norm2 x, context); x += ff(norm3 x) (GEGLU). */
class BasicTransformerBlock {
  private readonly attn1: CrossAttention;
  private readonly ffProj: Linear;
  private readonly ffOut: Linear;
  private readonly attn2: CrossAttention;
  private readonly norm1: LayerNorm;
  private readonly norm2: LayerNorm;
  private readonly norm3: LayerNorm;

  constructor(store: ParamStore, name: string, dim: number, heads: number, dimHead: number,
    contextDim: number, private readonly rate: number) {
    // Registration order follows the reference module (attn1, ff, attn2, norms) so key lists compare in order.
    this.attn1 = new CrossAttention(store, `${name}.attn1`, dim, dim, heads, dimHead, rate);
    this.ffProj = new Linear(store, `${name}.ff.net.0.proj`, dim, dim * 4 * 2);
    this.ffOut = new Linear(store, `${name}.ff.net.2`, dim * 4, dim);
    this.attn2 = new CrossAttention(store, `${name}.attn2`, dim, contextDim, heads, dimHead, rate);
    this.norm1 = new LayerNorm(store, `${name}.norm1`, dim);
    this.norm2 = new LayerNorm(store, `${name}.norm2`, dim);
    this.norm3 = new LayerNorm(store, `${name}.norm3`, dim);
  }

  apply(x: tf.Tensor3D, context: tf.Tensor3D | undefined, fc: ForwardContext): tf.Tensor3D {
    let h: tf.Tensor3D = tf.add(x, this.attn1.apply(this.norm1.apply(x), undefined, fc));
    h = tf.add(h, this.attn2.apply(this.norm2.apply(h) as tf.Tensor3D, context, fc));
    const [val, gate] = splitLastAxis(this.ffProj.apply(this.norm3.apply(h)), 2);
    let ff = tf.mul(val, gelu(gate)) as tf.Tensor3D;
    if (fc.training) ff = dropout(ff, this.rate, fc.nextSeed());
    return tf.add(h, this.ffOut.apply(ff));
  }
}

/** SpatialTransformer: GroupNorm(eps 1e-6) → proj_in (1x1) → transformer blocks on tokens → proj_out (zero-init) + x. */
class SpatialTransformer implements Block {
  private readonly norm: GroupNorm;
  private readonly projIn: Conv2d;
  private readonly blocks: BasicTransformerBlock[] = [];
  private readonly projOut: Conv2d;
  private readonly inner: number;

  constructor(store: ParamStore, name: string, ch: number, heads: number, dimHead: number, cfg: UNetConfig) {
    this.inner = heads * dimHead;
    this.norm = new GroupNorm(store, `${name}.norm`, ch, cfg.num_groups, 1e-6);
    this.projIn = new Conv2d(store, `${name}.proj_in`, ch, this.inner, 1, { padding: 0 });
    for (let i = 0; i < cfg.transformer_depth; i++) {
      this.blocks.push(new BasicTransformerBlock(store, `${name}.transformer_blocks.${i}`, this.inner, heads, dimHead,
        cfg.context_dim as number, cfg.dropout));
    }
    this.projOut = new Conv2d(store, `${name}.proj_out`, this.inner, ch, 1, { padding: 0, zeroInit: true });
  }

  apply(x: tf.Tensor4D, fc: ForwardContext): tf.Tensor4D {
    const [b, hh, ww] = x.shape;
    let t = tf.reshape(this.projIn.apply(this.norm.apply(x)), [b, hh * ww, this.inner]) as tf.Tensor3D;
    for (const block of this.blocks) t = block.apply(t, fc.context, fc);
    return tf.add(x, this.projOut.apply(tf.reshape(t, [b, hh, ww, this.inner])));
  }
}

class ConvIn implements Block {
  constructor(private readonly conv: Conv2d) {}
  apply(h: tf.Tensor4D): tf.Tensor4D {
    return this.conv.apply(h);
  }
}

/** LDM's TimestepEmbedSequential: its layers in order, each taking what it needs from the context. */
class Sequential implements Block {
  constructor(readonly layers: Block[]) {}
  apply(h: tf.Tensor4D, fc: ForwardContext): tf.Tensor4D {
    for (const l of this.layers) h = l.apply(h, fc);
    return h;
  }
}

/** Heads and head width at a width `ch`, by LDM's rules (num_head_channels, legacy). */
function headsAt(cfg: UNetConfig, ch: number, decoder: boolean): { heads: number; dimHead: number } {
  if (cfg.use_spatial_transformer) {
    let heads = cfg.num_heads;
    let dimHead: number;
    if (cfg.num_head_channels === -1) dimHead = Math.floor(ch / heads);
    else {
      heads = Math.floor(ch / cfg.num_head_channels);
      dimHead = cfg.num_head_channels;
    }
    if (cfg.legacy) dimHead = Math.floor(ch / heads);
    return { heads, dimHead };
  }
  const base = decoder && cfg.num_heads_upsample !== -1 ? cfg.num_heads_upsample : cfg.num_heads;
  const heads = cfg.num_head_channels === -1 ? base : Math.floor(ch / cfg.num_head_channels);
  return { heads, dimHead: Math.floor(ch / heads) };
}

function checkHeads(store: ParamStore, cfg: UNetConfig, name: string, ch: number, heads: number, dimHead: number): boolean {
  const key = cfg.num_head_channels === -1 ? 'num_heads' : 'num_head_channels';
  // AttentionBlock reshapes the channels into [heads, width]; LDM asserts the same divisibility.
  const blockSplits = cfg.use_spatial_transformer
    || (ch % heads === 0 && (cfg.num_head_channels === -1 || ch % cfg.num_head_channels === 0));
  if (!(heads >= 1) || !(dimHead >= 1) || !blockSplits) {
    store.problems.push({
      path: key,
      message: `attention "${name}" at ${ch} channels cannot be split into heads`,
      expected: cfg.num_head_channels === -1 ? `a divisor of ${ch}` : `a divisor of ${ch} (channels per head)`,
      found: String(cfg.num_head_channels === -1 ? cfg.num_heads : cfg.num_head_channels),
    });
    return false;
  }
  return true;
}

/** Problems a JSON-Schema-valid config can still have (the schema cannot express them). */
function crossFieldProblems(cfg: UNetConfig): Problem[] {
  const p: Problem[] = [];
  if (cfg.num_heads === -1 && cfg.num_head_channels === -1) {
    p.push({ path: 'num_heads', message: 'either num_heads or num_head_channels must be set (the middle block always has attention)', found: '-1 and -1' });
  }
  if (cfg.num_heads === 0 || cfg.num_heads < -1) p.push({ path: 'num_heads', message: 'must be -1 or positive', found: String(cfg.num_heads) });
  if (cfg.num_head_channels === 0 || cfg.num_head_channels < -1) {
    p.push({ path: 'num_head_channels', message: 'must be -1 or positive', found: String(cfg.num_head_channels) });
  }
  if (cfg.num_heads_upsample === 0 || cfg.num_heads_upsample < -1) {
    p.push({ path: 'num_heads_upsample', message: 'must be -1 or positive', found: String(cfg.num_heads_upsample) });
  }
  if (cfg.use_spatial_transformer && cfg.context_dim == null) {
    p.push({ path: 'context_dim', message: 'use_spatial_transformer needs context_dim', hint: 'set context_dim to the class embedding width' });
  }
  if (!cfg.use_spatial_transformer && cfg.context_dim != null) {
    p.push({ path: 'context_dim', message: 'context_dim is only used with use_spatial_transformer: true', found: String(cfg.context_dim) });
  }
  if (cfg.use_spatial_transformer && cfg.class_embedder == null) {
    p.push({ path: 'class_embedder', message: 'use_spatial_transformer needs class_embedder (labels are the only conditioning predict() takes)' });
  }
  if (cfg.class_embedder != null && !cfg.use_spatial_transformer) {
    p.push({ path: 'class_embedder', message: 'class_embedder feeds cross-attention and needs use_spatial_transformer: true' });
  }
  if (cfg.class_embedder != null && cfg.context_dim != null && cfg.class_embedder.embed_dim !== cfg.context_dim) {
    p.push({ path: 'class_embedder.embed_dim', message: 'must equal context_dim', expected: String(cfg.context_dim), found: String(cfg.class_embedder.embed_dim) });
  }
  if (cfg.num_classes == null && cfg.class_embedder == null) {
    p.push({ path: 'num_classes', message: 'the UNet is class-conditional: set num_classes (label_emb) or class_embedder (cross-attention)' });
  }
  if (cfg.num_classes != null && cfg.class_embedder != null && cfg.num_classes !== cfg.class_embedder.n_classes) {
    p.push({ path: 'num_classes', message: 'must equal class_embedder.n_classes (both embed the same labels)',
      expected: String(cfg.class_embedder.n_classes), found: String(cfg.num_classes) });
  }
  const n = cfg.class_embedder?.n_classes ?? cfg.num_classes;
  if (n != null && cfg.null_class !== undefined && cfg.null_class >= n) {
    p.push({ path: 'null_class', message: 'must be a valid label', expected: `0 … ${n - 1}`, found: String(cfg.null_class) });
  }
  const levels = cfg.channel_mult.length;
  const factor = 2 ** (levels - 1);
  if (cfg.image_size % factor !== 0) {
    p.push({ path: 'image_size', message: `must be divisible by ${factor} (${levels - 1} downsamplings)`, found: String(cfg.image_size) });
  }
  const reached = Array.from({ length: levels }, (_, i) => 2 ** i);
  cfg.attention_resolutions.forEach((r, i) => {
    if (!reached.includes(r)) {
      p.push({ path: `attention_resolutions.${i}`, message: 'is not a downsampling factor of this UNet',
        expected: `one of ${reached.join(', ')}`, found: String(r), hint: 'attention_resolutions are factors (1, 2, 4 …), not pixel sizes' });
    }
  });
  return p;
}

/**
 * Validates a UNet config: JSON Schema (defaults filled, unknown keys refused), cross-field checks and
 * the architecture's own constraints (GroupNorm divisibility, heads). Throws one ConfigError listing every problem.
 */
export function resolveUNetConfig(input: unknown): UNetConfig {
  const cfg = applySchema<UNetConfig>('UNet config', unetConfigSchema, input);
  throwIfProblems('UNet config', checkUNetConfig(cfg));
  return cfg;
}

/**
 * The checks after the schema, for a config that already passed it (node types call this in `check`).
 * Builds the architecture shape-only to find width / head problems.
 */
export function checkUNetConfig(cfg: UNetConfig): Problem[] {
  const problems = crossFieldProblems(cfg);
  if (problems.length) return problems;
  const store = new ParamStore(false, 0);
  buildArchitecture(store, cfg);
  // One problem per distinct message is enough (every ResBlock of a width repeats the same one).
  const seen = new Set<string>();
  return store.problems.filter((q) => {
    const key = `${q.path}|${q.expected}|${q.found}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

interface Architecture {
  timeEmbed: [Linear, Linear];
  wEmbed: [Linear, Linear] | undefined;
  labelEmb: Embedding | undefined;
  classEmbedder: Embedding | undefined;
  inputBlocks: Sequential[];
  middleBlock: Sequential;
  outputBlocks: Sequential[];
  outNorm: GroupNorm;
  outConv: Conv2d;
}

function buildArchitecture(store: ParamStore, cfg: UNetConfig): Architecture {
  const mc = cfg.model_channels;
  const ted = mc * 4;
  const timeEmbed: [Linear, Linear] = [new Linear(store, 'time_embed.0', mc, ted), new Linear(store, 'time_embed.2', ted, ted)];
  const wEmbed: [Linear, Linear] | undefined = cfg.guidance_embed
    ? [new Linear(store, 'w_embed.0', mc, ted), new Linear(store, 'w_embed.2', ted, ted, { zeroInit: true })]
    : undefined;
  const labelEmb = cfg.num_classes != null ? new Embedding(store, 'label_emb', cfg.num_classes, ted) : undefined;

  const attention = (name: string, ch: number, decoder: boolean): Block | undefined => {
    const { heads, dimHead } = headsAt(cfg, ch, decoder);
    if (!checkHeads(store, cfg, name, ch, heads, dimHead)) return undefined;
    return cfg.use_spatial_transformer
      ? new SpatialTransformer(store, name, ch, heads, dimHead, cfg)
      : new AttentionBlock(store, name, ch, heads, cfg.use_new_attention_order, cfg.num_groups);
  };

  const inputBlocks: Sequential[] = [new Sequential([new ConvIn(new Conv2d(store, 'input_blocks.0.0', cfg.in_channels, mc, 3))])];
  const chans = [mc];
  let ch = mc;
  let ds = 1;
  cfg.channel_mult.forEach((mult, level) => {
    for (let r = 0; r < cfg.num_res_blocks; r++) {
      const name = `input_blocks.${inputBlocks.length}`;
      const layers: Block[] = [new ResBlock(store, `${name}.0`, ch, ted, mult * mc, cfg, undefined)];
      ch = mult * mc;
      if (cfg.attention_resolutions.includes(ds)) {
        const a = attention(`${name}.1`, ch, false);
        if (a) layers.push(a);
      }
      inputBlocks.push(new Sequential(layers));
      chans.push(ch);
    }
    if (level !== cfg.channel_mult.length - 1) {
      const name = `input_blocks.${inputBlocks.length}.0`;
      inputBlocks.push(new Sequential([cfg.resblock_updown
        ? new ResBlock(store, name, ch, ted, ch, cfg, 'down')
        : new Downsample(store, name, ch, cfg.conv_resample)]));
      chans.push(ch);
      ds *= 2;
    }
  });

  const mid: Block[] = [new ResBlock(store, 'middle_block.0', ch, ted, ch, cfg, undefined)];
  const midAttn = attention('middle_block.1', ch, false);
  if (midAttn) mid.push(midAttn);
  mid.push(new ResBlock(store, 'middle_block.2', ch, ted, ch, cfg, undefined));
  const middleBlock = new Sequential(mid);

  const outputBlocks: Sequential[] = [];
  for (let level = cfg.channel_mult.length - 1; level >= 0; level--) {
    const mult = cfg.channel_mult[level];
    for (let i = 0; i <= cfg.num_res_blocks; i++) {
      const name = `output_blocks.${outputBlocks.length}`;
      const skipCh = chans.pop() as number;
      const layers: Block[] = [new ResBlock(store, `${name}.0`, ch + skipCh, ted, mc * mult, cfg, undefined)];
      ch = mc * mult;
      if (cfg.attention_resolutions.includes(ds)) {
        const a = attention(`${name}.1`, ch, true);
        if (a) layers.push(a);
      }
      if (level > 0 && i === cfg.num_res_blocks) {
        const upName = `${name}.${layers.length}`;
        layers.push(cfg.resblock_updown
          ? new ResBlock(store, upName, ch, ted, ch, cfg, 'up')
          : new Upsample(store, upName, ch, cfg.conv_resample));
        ds /= 2;
      }
      outputBlocks.push(new Sequential(layers));
    }
  }
  const outNorm = new GroupNorm(store, 'out.0', ch, cfg.num_groups, 1e-5);
  const outConv = new Conv2d(store, 'out.2', mc, cfg.out_channels, 3, { zeroInit: true });
  // LDM keeps the class embedder in cond_stage_model; it is registered last under that full name.
  const classEmbedder = cfg.class_embedder != null
    ? new Embedding(store, CLASS_EMBEDDER_WEIGHT.slice(0, -'.weight'.length), cfg.class_embedder.n_classes, cfg.class_embedder.embed_dim)
    : undefined;
  return { timeEmbed, wEmbed, labelEmb, classEmbedder, inputBlocks, middleBlock, outputBlocks, outNorm, outConv };
}

/** Called with each block's output by `UNet.forward` (names as latent-diffusion's module paths). */
export type UNetTrace = (name: string, value: tf.Tensor) => void;

export interface UNetForwardOptions {
  /** Guidance weight w [B] (required iff the config has guidance_embed). */
  w?: tf.Tensor1D;
  /** Use this cross-attention context [B, M, context_dim] instead of the class embedder's. */
  context?: tf.Tensor3D;
  /** Apply dropout (default: the model's `training` flag). */
  training?: boolean;
  trace?: UNetTrace;
}

/**
 * The UNet. Build with `new UNet(config, {seed})`; `predict` is the ConditionalDenoiser entry point
 * (inside its own tf.tidy); `forward` is the same computation without the tidy, for gradient code.
 */
export class UNet extends ParameterizedModel implements ConditionalDenoiser {
  readonly kind = 'unet';
  readonly config: Readonly<UNetConfig>;
  readonly predictionType: PredictionType;
  readonly numClasses: number;
  readonly nullClass: number;
  readonly takesGuidanceWeight: boolean;
  /** Whether dropout is active (only matters when config.dropout > 0). */
  training = false;
  private readonly arch: Architecture;
  private readonly seed: number;
  private dropoutCalls = 0;

  constructor(config: UNetConfigInput | UNetConfig, options: UNetOptions = {}) {
    const cfg = resolveUNetConfig(config);
    const seed = options.seed ?? 0;
    const store = new ParamStore(options.allocate ?? true, seed);
    super(store);
    this.seed = seed;
    try {
      this.arch = buildArchitecture(store, cfg);
    } catch (e) {
      this.dispose();
      throw e;
    }
    this.config = Object.freeze(cfg);
    this.predictionType = cfg.prediction_type;
    this.numClasses = (cfg.class_embedder?.n_classes ?? cfg.num_classes) as number;
    this.nullClass = cfg.null_class ?? this.numClasses - 1;
    this.takesGuidanceWeight = cfg.guidance_embed;
  }

  /** z [B, H, W, C], t [B] float timesteps, labels [B] int32, w [B] → [B, H, W, out_channels]. */
  predict(z: tf.Tensor4D, t: tf.Tensor1D, labels: tf.Tensor1D, w?: tf.Tensor1D): tf.Tensor4D {
    return tf.tidy(() => this.forward(z, t, labels, { w }));
  }

  /** The forward pass without an enclosing tidy (call it inside tf.tidy or tf.variableGrads). */
  forward(z: tf.Tensor4D, t: tf.Tensor1D, labels: tf.Tensor1D, options: UNetForwardOptions = {}): tf.Tensor4D {
    this.assertUsable();
    const cfg = this.config;
    this.checkInputs(z, t, labels, options);
    const trace = options.trace ?? (() => undefined);
    const a = this.arch;
    let emb = a.timeEmbed[1].apply(silu(a.timeEmbed[0].apply(sinusoidalEmbedding(t, cfg.model_channels))));
    trace('time_embed', emb);
    if (a.wEmbed && options.w) {
      const we = sinusoidalEmbedding(tf.mul(options.w, cfg.guidance_embed_scale), cfg.model_channels);
      emb = tf.add(emb, a.wEmbed[1].apply(silu(a.wEmbed[0].apply(we))));
    }
    if (a.labelEmb) emb = tf.add(emb, a.labelEmb.apply(labels));
    let context = options.context;
    if (!context && a.classEmbedder) {
      context = tf.expandDims(a.classEmbedder.apply(labels), 1) as tf.Tensor3D;
    }
    const training = options.training ?? this.training;
    const call = this.dropoutCalls++;
    let site = 0;
    const fc: ForwardContext = {
      emb, context, training,
      nextSeed: () => this.seed * 1_000_003 + call * 4099 + site++,
    };
    const skips: tf.Tensor4D[] = [];
    let h = z;
    a.inputBlocks.forEach((block, i) => {
      h = block.apply(h, fc);
      trace(`input_blocks.${i}`, h);
      skips.push(h);
    });
    h = a.middleBlock.apply(h, fc);
    trace('middle_block', h);
    a.outputBlocks.forEach((block, i) => {
      h = block.apply(concatLastAxis(h, skips.pop() as tf.Tensor4D), fc);
      trace(`output_blocks.${i}`, h);
    });
    const out = a.outConv.apply(a.outNorm.apply(h, { silu: true }));
    trace('out', out);
    return out;
  }

  private checkInputs(z: tf.Tensor4D, t: tf.Tensor1D, labels: tf.Tensor1D, options: UNetForwardOptions): void {
    const cfg = this.config;
    if (z.rank !== 4) throw new ModelError(`unet: z must be [B, H, W, C], found shape [${z.shape.join(', ')}]`);
    const [b, h, w, c] = z.shape;
    if (c !== cfg.in_channels) {
      throw new ModelError(`unet: z has ${c} channels, expected in_channels = ${cfg.in_channels} (z is NHWC)`);
    }
    const factor = 2 ** (cfg.channel_mult.length - 1);
    if (h % factor !== 0 || w % factor !== 0) {
      throw new ModelError(`unet: z is ${h}x${w}; height and width must be divisible by ${factor}`);
    }
    const check1d = (name: string, x: tf.Tensor | undefined): void => {
      if (x && (x.rank !== 1 || x.shape[0] !== b)) {
        throw new ModelError(`unet: ${name} must have shape [${b}] (batch of z), found [${x.shape.join(', ')}]`);
      }
    };
    check1d('t', t);
    check1d('labels', labels);
    check1d('w', options.w);
    if (this.takesGuidanceWeight && !options.w) {
      throw new ModelError('unet: this model has a guidance-weight embedding (guidance_embed: true); pass w');
    }
    if (!this.takesGuidanceWeight && options.w) {
      throw new ModelError('unet: w was passed but this model has no guidance-weight embedding (guidance_embed: false)');
    }
  }

  /** A new UNet with the same config and a copy of the weights (e.g. teacher → student). */
  clone(): UNet {
    this.assertUsable();
    const copy = new UNet(this.config, { seed: this.seed });
    copy.copyWeightsFrom(this);
    return copy;
  }

  /**
   * A new UNet whose config is this one's with `overrides` applied, holding a copy of every weight the
   * two share by name (the others keep their initialisation): e.g. `{guidance_embed: true}` for the
   * w-conditioned student (its w_embed starts at zero output, so it starts identical to the teacher),
   * or `{prediction_type: 'v_prediction'}` for the v fine-tune.
   */
  cloneWith(overrides: Partial<UNetConfigInput>, options: UNetOptions = {}): UNet {
    this.assertUsable();
    const copy = new UNet({ ...this.config, ...overrides }, { seed: options.seed ?? this.seed });
    try {
      copy.copyWeightsFrom(this, { strict: false });
    } catch (e) {
      copy.dispose();
      throw e;
    }
    return copy;
  }
}

/** Parameter names and PyTorch shapes of a config, without allocating anything. */
export function unetParameterShapes(config: UNetConfigInput | UNetConfig): Map<string, number[]> {
  const m = new UNet(config, { allocate: false });
  return m.parameterShapes();
}

/**
 * Selects a UNet's weights from a full latent-diffusion state dict: `model.diffusion_model.*` with the
 * prefix removed, plus `cond_stage_model.embedding.weight` as is. A record without that prefix is
 * returned unchanged (already in this library's naming). The tensors are not copied.
 */
export function unetWeightsFromStateDict(record: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  const names = Object.keys(record);
  if (!names.some((n) => n.startsWith(LDM_UNET_PREFIX))) return record;
  const out: Record<string, tf.Tensor> = {};
  for (const n of names) {
    if (n.startsWith(LDM_UNET_PREFIX)) out[n.slice(LDM_UNET_PREFIX.length)] = record[n];
    else if (n === CLASS_EMBEDDER_WEIGHT) out[n] = record[n];
  }
  return out;
}
