/**
 * Reading a latent-diffusion model YAML (e.g. configs/latent-diffusion/cin256-v2.yaml) into the configs
 * of this library: the UNet config, the VQ first-stage config, the class-embedder config, the noise
 * schedule (diffusers form) and the latent scale factor.
 *
 * Only the class-conditional layout is supported: `ldm.models.diffusion.ddpm.LatentDiffusion` with an
 * openaimodel UNetModel, a VQModelInterface first stage and a ClassEmbedder on cross-attention. Every key
 * of `model.params` is either used, known to matter only for training the original code (listed in
 * TRAINING_ONLY_KEYS and reported as ignored), or an error — so a setting that would change the numbers
 * (a cosine schedule, x0 parameterisation, given betas) is never silently dropped.
 */
import * as fs from 'node:fs';
import { parseDocument } from 'yaml';
import { ConfigError, FileFormatError, type Problem } from '../errors';
import type { LdmClassEmbedderParams as ClassEmbedderConfig, LdmUNetParams as UNetConfigInput, LdmVQParams as VQModelConfigInput } from './ldm-model-params';

export const LDM_TARGET = 'ldm.models.diffusion.ddpm.LatentDiffusion';
export const UNET_TARGET = 'ldm.modules.diffusionmodules.openaimodel.UNetModel';
export const VQ_TARGETS = ['ldm.models.autoencoder.VQModelInterface'] as const;
export const CLASS_EMBEDDER_TARGET = 'ldm.modules.encoders.modules.ClassEmbedder';

/** model.params keys that only steer training or logging in the original code (ignored, reported). */
export const TRAINING_ONLY_KEYS = [
  'loss_type', 'ckpt_path', 'ignore_keys', 'load_only_unet', 'monitor', 'use_ema', 'first_stage_key', 'image_size',
  'channels', 'log_every_t', 'clip_denoised', 'original_elbo_weight', 'v_posterior', 'l_simple_weight',
  'scheduler_config', 'use_positional_encodings', 'learn_logvar', 'logvar_init', 'num_timesteps_cond', 'cond_stage_key',
  'cond_stage_trainable', 'concat_mode', 'cond_stage_forward', 'cosine_s',
] as const;

/** Keys of model.params this reader uses. */
const USED_KEYS = [
  'unet_config', 'first_stage_config', 'cond_stage_config', 'timesteps', 'linear_start', 'linear_end', 'beta_schedule',
  'given_betas', 'parameterization', 'conditioning_key', 'scale_factor', 'scale_by_std',
] as const;

/** first_stage_config.params keys that only matter for training the autoencoder. */
const FIRST_STAGE_TRAINING_KEYS = ['lossconfig', 'ckpt_path', 'ignore_keys', 'image_key', 'colorize_nlabels', 'monitor', 'scheduler_config', 'lr_g_factor'];

/** The diffusers scheduler config of the model (DDIMScheduler form, as written next to the weights). */
export interface DiffusersSchedulerConfig {
  _class_name: 'DDIMScheduler';
  beta_start: number;
  beta_end: number;
  beta_schedule: 'scaled_linear';
  num_train_timesteps: number;
  prediction_type: 'epsilon' | 'sample';
  set_alpha_to_one: false;
  steps_offset: 1;
  timestep_spacing: 'leading';
  clip_sample: false;
  trained_betas: null;
}

/** Everything the importer needs from an LDM YAML. */
export interface LdmModelSpec {
  unet: UNetConfigInput;
  firstStage: VQModelConfigInput;
  classEmbedder: ClassEmbedderConfig;
  scheduler: DiffusersSchedulerConfig;
  /** LatentDiffusion.scale_factor (latent = scale_factor · first-stage encoding). */
  scaleFactor: number;
  /** When true the scale factor is a buffer of the checkpoint (`scale_factor`), not the YAML value. */
  scaleByStd: boolean;
  /** Image side = latent side × the first stage's downsampling factor. */
  imageSize: number;
  /** model.params keys that were ignored as training-only, and top-level sections other than model. */
  ignored: string[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses YAML text; syntax errors become a FileFormatError with line and column. */
export function parseYamlText(text: string, file: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const pos = e.linePos?.[0];
    throw new FileFormatError(file, `invalid YAML${pos ? ` at ${pos.line}:${pos.col}` : ''}: ${e.message.split('\n')[0]}`);
  }
  return doc.toJS();
}

/** Reads an LDM YAML file (see parseLdmYaml). */
export function readLdmYaml(file: string): LdmModelSpec {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new FileFormatError(file, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  return parseLdmYaml(parseYamlText(text, file), file);
}

/** Converts a parsed LDM YAML; one ConfigError lists every problem found. */
export function parseLdmYaml(doc: unknown, file = '<yaml>'): LdmModelSpec {
  const problems: Problem[] = [];
  const what = `latent-diffusion config ${file}`;
  if (!isRecord(doc) || !isRecord(doc.model)) {
    throw new ConfigError(what, [{ path: 'model', message: 'missing: a latent-diffusion YAML has a top-level "model" section' }]);
  }
  const ignored: string[] = [];
  for (const k of Object.keys(doc)) {
    if (k === 'model') continue;
    if (k === 'data' || k === 'lightning') ignored.push(k);
    else problems.push({ path: k, message: 'unknown top-level section', expected: 'model, data or lightning' });
  }
  const model = doc.model;
  for (const k of Object.keys(model)) {
    if (!['target', 'params', 'base_learning_rate'].includes(k)) problems.push({ path: `model.${k}`, message: 'unknown key', expected: 'target, params, base_learning_rate' });
  }
  if (model.target !== LDM_TARGET) {
    problems.push({ path: 'model.target', message: 'unsupported model class', expected: LDM_TARGET, found: String(model.target) });
  }
  const params = isRecord(model.params) ? model.params : {};
  if (!isRecord(model.params)) problems.push({ path: 'model.params', message: 'missing or not a mapping' });
  for (const k of Object.keys(params)) {
    if ((TRAINING_ONLY_KEYS as readonly string[]).includes(k)) ignored.push(`model.params.${k}`);
    else if (!(USED_KEYS as readonly string[]).includes(k)) {
      problems.push({ path: `model.params.${k}`, message: 'unknown latent-diffusion parameter (refused rather than ignored, as it may change the model)' });
    }
  }

  const num = (key: string, def: number): number => {
    const v = params[key] ?? def;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      problems.push({ path: `model.params.${key}`, message: 'must be a number', found: JSON.stringify(v) });
      return def;
    }
    return v;
  };
  // The defaults are those of latent-diffusion's DDPM / LatentDiffusion constructors.
  const timesteps = num('timesteps', 1000);
  const linearStart = num('linear_start', 1e-4);
  const linearEnd = num('linear_end', 2e-2);
  const scaleFactor = num('scale_factor', 1.0);
  if (!Number.isInteger(timesteps) || timesteps < 1) problems.push({ path: 'model.params.timesteps', message: 'must be a positive integer', found: String(timesteps) });
  const betaSchedule = params.beta_schedule ?? 'linear';
  if (betaSchedule !== 'linear') {
    problems.push({ path: 'model.params.beta_schedule', message: 'only latent-diffusion\'s "linear" schedule (linear in √β, diffusers\' scaled_linear) is supported', found: String(betaSchedule) });
  }
  if (params.given_betas != null) problems.push({ path: 'model.params.given_betas', message: 'explicit betas are not supported' });
  const parameterization = params.parameterization ?? 'eps';
  if (parameterization !== 'eps' && parameterization !== 'x0') {
    problems.push({ path: 'model.params.parameterization', message: 'unsupported', expected: '"eps" or "x0"', found: String(parameterization) });
  }
  const predictionType = parameterization === 'x0' ? 'sample' : 'epsilon';
  if (params.conditioning_key !== 'crossattn') {
    problems.push({ path: 'model.params.conditioning_key', message: 'only class conditioning through cross-attention is supported', expected: 'crossattn', found: String(params.conditioning_key) });
  }
  const scaleByStd = params.scale_by_std === true;
  if (params.scale_by_std !== undefined && typeof params.scale_by_std !== 'boolean') {
    problems.push({ path: 'model.params.scale_by_std', message: 'must be a boolean', found: JSON.stringify(params.scale_by_std) });
  }

  const section = (key: string, targets: readonly string[]): Record<string, unknown> => {
    const s = params[key];
    if (!isRecord(s)) {
      problems.push({ path: `model.params.${key}`, message: 'missing or not a mapping' });
      return {};
    }
    for (const k of Object.keys(s)) if (k !== 'target' && k !== 'params') problems.push({ path: `model.params.${key}.${k}`, message: 'unknown key', expected: 'target, params' });
    if (!targets.includes(String(s.target))) {
      problems.push({ path: `model.params.${key}.target`, message: 'unsupported class', expected: targets.join(' or '), found: String(s.target) });
    }
    return isRecord(s.params) ? s.params : {};
  };

  const embParams = section('cond_stage_config', [CLASS_EMBEDDER_TARGET]);
  const classEmbedder: ClassEmbedderConfig = {
    n_classes: typeof embParams.n_classes === 'number' ? embParams.n_classes : 1000,
    embed_dim: embParams.embed_dim as number,
    key: typeof embParams.key === 'string' ? embParams.key : 'class',
  };
  for (const k of Object.keys(embParams)) {
    if (!['n_classes', 'embed_dim', 'key'].includes(k)) problems.push({ path: `model.params.cond_stage_config.params.${k}`, message: 'unknown ClassEmbedder parameter' });
  }
  if (typeof embParams.embed_dim !== 'number') problems.push({ path: 'model.params.cond_stage_config.params.embed_dim', message: 'missing or not a number' });

  const unetParams = section('unet_config', [UNET_TARGET]);
  const unet: UNetConfigInput = {
    ...(unetParams as unknown as UNetConfigInput),
    class_embedder: { n_classes: classEmbedder.n_classes, embed_dim: classEmbedder.embed_dim, key: classEmbedder.key },
    null_class: classEmbedder.n_classes - 1,
    prediction_type: predictionType,
  };

  const fsParams = section('first_stage_config', VQ_TARGETS);
  const firstStage: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fsParams)) {
    if (FIRST_STAGE_TRAINING_KEYS.includes(k)) ignored.push(`model.params.first_stage_config.params.${k}`);
    else if ((k === 'remap' && v == null) || (k === 'sane_index_shape')) ignored.push(`model.params.first_stage_config.params.${k}`);
    else firstStage[k] = v;
  }

  if (problems.length) throw new ConfigError(what, problems);
  const ddconfig = (firstStage.ddconfig ?? {}) as VQModelConfigInput['ddconfig'];
  const factor = 2 ** ((ddconfig.ch_mult?.length ?? 1) - 1);
  return {
    unet,
    firstStage: firstStage as unknown as VQModelConfigInput,
    classEmbedder,
    scheduler: {
      _class_name: 'DDIMScheduler',
      beta_start: linearStart,
      beta_end: linearEnd,
      beta_schedule: 'scaled_linear',
      num_train_timesteps: timesteps,
      prediction_type: predictionType,
      set_alpha_to_one: false,
      steps_offset: 1,
      timestep_spacing: 'leading',
      clip_sample: false,
      trained_betas: null,
    },
    scaleFactor,
    scaleByStd,
    imageSize: (unet.image_size ?? 0) * factor,
    ignored,
  };
}
