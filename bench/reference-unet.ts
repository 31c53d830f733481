/**
 * The reference benchmark UNet of shared/spec/benchmark.md, assembled from Distillery's own UNet layers
 * (src/models/layers.ts: Conv2d, GroupNorm, Linear, Embedding, silu, sinusoidalEmbedding,
 * upsampleNearest2x). Distillery's configurable `UNet` class follows latent-diffusion's block layout,
 * which cannot express this exact topology (one ResBlock per level, a single mid ResBlock, one
 * decoder ResBlock per level); `--model ldm` benchmarks the nearest `UNet` config instead.
 *
 *   emb     = MLP(sinusoidal(t, 32)) [32 → 128 → 128, SiLU between] + Embedding(11, 128)(label)
 *   conv_in 3x3 1 → 32; enc0 RB(32→32) → h0; down0 3x3/2; enc1 RB(32→64) → h1; down1 3x3/2;
 *   mid RB(64→64) + self-attention (1 head, 64 tokens); up1 nearest×2 + 3x3; dec1 RB(64+64→64);
 *   up0 nearest×2 + 3x3; dec0 RB(64+32→32); out GroupNorm(8), SiLU, 3x3 32 → 1.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  Conv2d, Embedding, GroupNorm, Linear, silu, sinusoidalEmbedding, upsampleNearest2x,
} from '../src/models/layers';
import { ParamStore } from '../src/models/params';

const GROUPS = 8;
const EPS = 1e-5;

/** GroupNorm followed by SiLU, through the layer's fused path. */
function normSilu(norm: GroupNorm, x: tf.Tensor4D): tf.Tensor4D {
  return norm.apply(x, { silu: true });
}

class ResBlock {
  private readonly norm1: GroupNorm;
  private readonly conv1: Conv2d;
  private readonly embProj: Linear;
  private readonly norm2: GroupNorm;
  private readonly conv2: Conv2d;
  private readonly skip: Conv2d | undefined;

  constructor(store: ParamStore, name: string, cin: number, readonly cout: number, embDim: number) {
    this.norm1 = new GroupNorm(store, `${name}.in_layers.0`, cin, GROUPS, EPS);
    this.conv1 = new Conv2d(store, `${name}.in_layers.2`, cin, cout, 3);
    this.embProj = new Linear(store, `${name}.emb_layers.1`, embDim, cout);
    this.norm2 = new GroupNorm(store, `${name}.out_layers.0`, cout, GROUPS, EPS);
    this.conv2 = new Conv2d(store, `${name}.out_layers.3`, cout, cout, 3);
    this.skip = cin === cout ? undefined : new Conv2d(store, `${name}.skip_connection`, cin, cout, 1, { padding: 0 });
  }

  apply(x: tf.Tensor4D, embSilu: tf.Tensor2D): tf.Tensor4D {
    let h = this.conv1.apply(normSilu(this.norm1, x));
    const e = this.embProj.apply(embSilu);
    h = tf.add(h, tf.reshape(e, [e.shape[0], 1, 1, this.cout]));
    h = this.conv2.apply(normSilu(this.norm2, h));
    return tf.add(this.skip ? this.skip.apply(x) : x, h);
  }
}

class SelfAttention {
  private readonly norm: GroupNorm;
  private readonly qkv: Conv2d;
  private readonly proj: Conv2d;

  constructor(store: ParamStore, name: string, readonly ch: number) {
    this.norm = new GroupNorm(store, `${name}.norm`, ch, GROUPS, EPS);
    this.qkv = new Conv2d(store, `${name}.qkv`, ch, 3 * ch, 1, { padding: 0 });
    this.proj = new Conv2d(store, `${name}.proj_out`, ch, ch, 1, { padding: 0 });
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    const [b, h, w, c] = x.shape;
    const qkv = tf.reshape(this.qkv.apply(this.norm.apply(x)), [b, h * w, 3 * c]);
    const [q, k, v] = tf.split(qkv, 3, 2) as tf.Tensor3D[];
    const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(c));
    const a = tf.matMul(tf.softmax(scores), v);
    return tf.add(x, this.proj.apply(tf.reshape(a, [b, h, w, c])));
  }
}

export interface ReferenceUNetOptions {
  seed?: number;
  /** Input side (spec: 32). */
  size?: number;
}

export class ReferenceUNet {
  readonly store: ParamStore;
  readonly numClasses = 11;
  private readonly temb1: Linear;
  private readonly temb2: Linear;
  private readonly labelEmb: Embedding;
  private readonly convIn: Conv2d;
  private readonly enc0: ResBlock;
  private readonly down0: Conv2d;
  private readonly enc1: ResBlock;
  private readonly down1: Conv2d;
  private readonly mid: ResBlock;
  private readonly attn: SelfAttention;
  private readonly up1: Conv2d;
  private readonly dec1: ResBlock;
  private readonly up0: Conv2d;
  private readonly dec0: ResBlock;
  private readonly outNorm: GroupNorm;
  private readonly outConv: Conv2d;

  constructor(options: ReferenceUNetOptions = {}) {
    const s = new ParamStore(true, options.seed ?? 0);
    this.store = s;
    this.temb1 = new Linear(s, 'time_embed.0', 32, 128);
    this.temb2 = new Linear(s, 'time_embed.2', 128, 128);
    this.labelEmb = new Embedding(s, 'label_emb', 11, 128);
    this.convIn = new Conv2d(s, 'input_blocks.0.0', 1, 32, 3);
    this.enc0 = new ResBlock(s, 'input_blocks.1.0', 32, 32, 128);
    this.down0 = new Conv2d(s, 'input_blocks.2.0.op', 32, 32, 3, { stride: 2, padding: 1 });
    this.enc1 = new ResBlock(s, 'input_blocks.3.0', 32, 64, 128);
    this.down1 = new Conv2d(s, 'input_blocks.4.0.op', 64, 64, 3, { stride: 2, padding: 1 });
    this.mid = new ResBlock(s, 'middle_block.0', 64, 64, 128);
    this.attn = new SelfAttention(s, 'middle_block.1', 64);
    this.up1 = new Conv2d(s, 'output_blocks.0.1.conv', 64, 64, 3);
    this.dec1 = new ResBlock(s, 'output_blocks.1.0', 128, 64, 128);
    this.up0 = new Conv2d(s, 'output_blocks.1.1.conv', 64, 64, 3);
    this.dec0 = new ResBlock(s, 'output_blocks.2.0', 96, 32, 128);
    this.outNorm = new GroupNorm(s, 'out.0', 32, GROUPS, EPS);
    this.outConv = new Conv2d(s, 'out.2', 32, 1, 3);
  }

  get variables(): ReadonlyMap<string, tf.Variable> {
    const m = new Map<string, tf.Variable>();
    for (const [name, p] of this.store.params) if (p.variable) m.set(name, p.variable);
    return m;
  }

  get numParameters(): number {
    let n = 0;
    for (const p of this.store.params.values()) n += p.torchShape.reduce((a, b) => a * b, 1);
    return n;
  }

  /** z [B, 32, 32, 1], t [B] float, labels [B] int32 → [B, 32, 32, 1]. No enclosing tidy. */
  forward(z: tf.Tensor4D, t: tf.Tensor1D, labels: tf.Tensor1D): tf.Tensor4D {
    const emb = tf.add(this.temb2.apply(silu(this.temb1.apply(sinusoidalEmbedding(t, 32)))), this.labelEmb.apply(labels));
    const e = silu(emb) as tf.Tensor2D;
    const h0 = this.enc0.apply(this.convIn.apply(z), e);
    const h1 = this.enc1.apply(this.down0.apply(h0), e);
    let h = this.mid.apply(this.down1.apply(h1), e);
    h = this.attn.apply(h);
    h = this.up1.apply(upsampleNearest2x(h));
    h = this.dec1.apply(tf.concat([h, h1], 3), e);
    h = this.up0.apply(upsampleNearest2x(h));
    h = this.dec0.apply(tf.concat([h, h0], 3), e);
    return this.outConv.apply(normSilu(this.outNorm, h));
  }

  dispose(): void {
    for (const p of this.store.params.values()) p.variable?.dispose();
  }
}
