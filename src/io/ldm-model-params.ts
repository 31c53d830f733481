/**
 * The model settings an LDM YAML yields (src/io/ldm-yaml.ts), as typed interfaces of their own: the
 * on-disk form, declared in the io layer so that reading the YAML imports nothing of src/models. The
 * models accept exactly these forms: src/models/unet.ts, vq.ts and class-embedder.ts check at compile
 * time that their config inputs and these interfaces are assignable both ways, so the two cannot drift.
 */

/** openaimodel.UNetModel's `params`, plus the class embedder, null class and prediction type the reader derives. */
export interface LdmUNetParams {
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
  prediction_type?: 'epsilon' | 'v_prediction' | 'sample';
  guidance_embed?: boolean;
  guidance_embed_scale?: number;
  num_groups?: number;
}

/** A VQModelInterface's `params` (first_stage_config, lossconfig removed); ddconfig keys with defaults may be omitted. */
export interface LdmVQParams {
  embed_dim: number;
  n_embed: number;
  ddconfig: {
    double_z?: boolean;
    z_channels: number;
    resolution: number;
    in_channels: number;
    out_ch: number;
    ch: number;
    ch_mult: number[];
    num_res_blocks: number;
    attn_resolutions: number[];
    dropout?: number;
    resamp_with_conv?: boolean;
  };
}

/** A ClassEmbedder's `params` (cond_stage_config). */
export interface LdmClassEmbedderParams {
  n_classes: number;
  embed_dim: number;
  key: string;
}
