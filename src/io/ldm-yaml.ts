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
 *
 * Checking goes through the shared validation layer (src/schema/check.ts): `ldmYamlSchema` (types,
 * required sections, unknown keys with a "did you mean"), then the rules that name what is unsupported.
 * Every problem is reported at once, at its file:line:col.
 */
import * as fs from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { FileFormatError, type Problem } from '../errors';
import { checkSchema, locateProblems, throwIfProblems } from '../schema/check';
import { unescapePointerSegment, type PointerLocator } from '../schema/problems';
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

/** `{ target, params }` of a sub-model; `params` as given (checked here only where this reader uses it). */
function sectionSchema(description: string, params: Record<string, unknown> = { type: 'object', description: 'The class\'s constructor arguments.' }, required = ['target']) {
  return {
    type: 'object',
    additionalProperties: false,
    required,
    description,
    properties: { target: { type: 'string', description: 'The Python class.' }, params },
  };
}

const IGNORED = 'Only steers training or logging in the original code: ignored (listed as such).';

/**
 * The JSON Schema of the part of an LDM YAML this reader understands. Defaults are those of
 * latent-diffusion's DDPM / LatentDiffusion constructors.
 */
export const ldmYamlSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['model'],
  properties: {
    model: {
      type: 'object',
      additionalProperties: false,
      required: ['target', 'params'],
      description: 'The LatentDiffusion model.',
      properties: {
        target: { type: 'string', description: `The model class: ${LDM_TARGET}.` },
        base_learning_rate: { type: 'number', description: IGNORED },
        params: {
          type: 'object',
          additionalProperties: false,
          required: ['unet_config', 'first_stage_config', 'cond_stage_config'],
          description: 'LatentDiffusion\'s constructor arguments.',
          properties: {
            unet_config: sectionSchema(`The denoiser: ${UNET_TARGET}.`),
            first_stage_config: sectionSchema(`The first stage: ${VQ_TARGETS.join(' or ')}.`),
            cond_stage_config: sectionSchema(`The class embedder: ${CLASS_EMBEDDER_TARGET}.`, {
              type: 'object',
              additionalProperties: false,
              required: ['embed_dim'],
              description: 'ClassEmbedder\'s constructor arguments.',
              properties: {
                n_classes: { type: 'integer', minimum: 1, default: 1000, description: 'Number of class embeddings (the last is the null class).' },
                embed_dim: { type: 'integer', minimum: 1, description: 'Width of a class embedding.' },
                key: { type: 'string', default: 'class', description: 'Batch key of the class labels.' },
              },
            }, ['target', 'params']),
            timesteps: { type: 'integer', minimum: 1, default: 1000, description: 'T, the number of training timesteps.' },
            linear_start: { type: 'number', default: 1e-4, description: 'beta at t = 0 (latent-diffusion\'s "linear" schedule is linear in √β).' },
            linear_end: { type: 'number', default: 2e-2, description: 'beta at t = T − 1.' },
            beta_schedule: { type: 'string', default: 'linear', description: 'Only "linear" (diffusers\' scaled_linear) is supported.' },
            given_betas: { description: 'Explicit betas: only null is supported.' },
            parameterization: { type: 'string', default: 'eps', description: 'What the UNet predicts: "eps" or "x0".' },
            conditioning_key: { type: 'string', description: 'Only "crossattn" (class conditioning through cross-attention) is supported.' },
            scale_factor: { type: 'number', default: 1.0, description: 'latent = scale_factor · first-stage encoding.' },
            scale_by_std: { type: 'boolean', default: false, description: 'The scale factor is a buffer of the checkpoint, not this value.' },
            ...Object.fromEntries(TRAINING_ONLY_KEYS.map((k) => [k, { description: IGNORED }])),
          },
        },
      },
    },
    data: { description: 'The training data section: ignored.' },
    lightning: { description: 'The trainer section: ignored.' },
  },
} as const;

/** A YAML file's value and a locator from JSON pointers to its line:col (for problems). */
export interface YamlSource {
  value: unknown;
  locate: PointerLocator;
}

/** Parses YAML text; syntax errors become a FileFormatError with line and column. */
export function parseYamlSource(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, lineCounter });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const pos = e.linePos?.[0];
    throw new FileFormatError(file, `invalid YAML${pos ? ` at ${pos.line}:${pos.col}` : ''}: ${e.message.split('\n')[0]}`);
  }
  return { value: doc.toJS(), locate: yamlLocator(doc, lineCounter, file) };
}

/** Parses YAML text into plain data (see parseYamlSource). */
export function parseYamlText(text: string, file: string): unknown {
  return parseYamlSource(text, file).value;
}

/**
 * Finds a JSON pointer in a parsed YAML document: the value's start, or the key's for `part: 'key'`;
 * a pointer that is not written in the file maps to its nearest written ancestor.
 */
function yamlLocator(doc: Document, lineCounter: LineCounter, file: string): PointerLocator {
  const at = (offset: number | undefined) => {
    if (offset === undefined) return {};
    const { line, col } = lineCounter.linePos(offset);
    return { position: { file, line, column: col } };
  };
  return (pointer, part) => {
    let node = doc.contents as YamlNode | null;
    let keyNode: YamlNode | undefined;
    const segments = pointer === '' ? [] : pointer.slice(1).split('/').map(unescapePointerSegment);
    for (let i = 0; i < segments.length && node; i++) {
      const seg = segments[i];
      let next: YamlNode | null | undefined;
      keyNode = undefined;
      if (isMap(node)) {
        const pair = node.items.find((it) => (isScalar(it.key) ? String(it.key.value) : String(it.key)) === seg);
        if (pair) {
          keyNode = pair.key as YamlNode;
          next = (pair.value ?? pair.key) as YamlNode;
        }
      } else if (isSeq(node) && /^\d+$/.test(seg)) {
        next = node.items[Number(seg)] as YamlNode | undefined;
      }
      if (!next) return at(node.range?.[0]);
      node = next;
      if (i === segments.length - 1 && part === 'key' && keyNode) return at(keyNode.range?.[0]);
    }
    return at(node?.range?.[0] ?? 0);
  };
}

/** Reads an LDM YAML file (see parseLdmYaml); problems are located at file:line:col. */
export function readLdmYaml(file: string): LdmModelSpec {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new FileFormatError(file, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  const { value, locate } = parseYamlSource(text, file);
  return parseLdmYaml(value, file, locate);
}

/** An unknown LatentDiffusion argument is refused: it might change the model. Other problems keep the shared wording. */
function explainUnknownParameter(p: Problem): Problem {
  if (!/^model\.params\.[^.]+$/.test(p.path) || !p.message.startsWith('unknown property')) return p;
  return { ...p, message: 'unknown latent-diffusion parameter (refused rather than ignored, as it may change the model)' };
}

/** The rules that name what this reader does not support (after the schema: paths from the document root). */
function unsupportedParameters(params: Record<string, any>): Problem[] {
  const own: Problem[] = [];
  if (typeof params.beta_schedule === 'string' && params.beta_schedule !== 'linear') {
    own.push({ path: 'model.params.beta_schedule', message: 'only latent-diffusion\'s "linear" schedule (linear in √β, diffusers\' scaled_linear) is supported', found: params.beta_schedule });
  }
  if (params.given_betas != null) own.push({ path: 'model.params.given_betas', message: 'explicit betas are not supported' });
  if (typeof params.parameterization === 'string' && params.parameterization !== 'eps' && params.parameterization !== 'x0') {
    own.push({ path: 'model.params.parameterization', message: 'unsupported', expected: '"eps" or "x0"', found: params.parameterization });
  }
  if (params.conditioning_key !== 'crossattn' && (params.conditioning_key === undefined || typeof params.conditioning_key === 'string')) {
    own.push({ path: 'model.params.conditioning_key', message: 'only class conditioning through cross-attention is supported', expected: 'crossattn', found: String(params.conditioning_key) });
  }
  const targets: Array<[string, readonly string[]]> = [
    ['cond_stage_config', [CLASS_EMBEDDER_TARGET]], ['unet_config', [UNET_TARGET]], ['first_stage_config', VQ_TARGETS],
  ];
  for (const [key, allowed] of targets) {
    const target = params[key]?.target;
    if (typeof target === 'string' && !allowed.includes(target)) {
      own.push({ path: `model.params.${key}.target`, message: 'unsupported class', expected: allowed.join(' or '), found: target });
    }
  }
  return own;
}

/**
 * Converts a parsed LDM YAML; one ConfigError lists every problem found (at file:line:col when `locate`
 * is given, as `readLdmYaml` does).
 */
export function parseLdmYaml(doc: unknown, file = '<yaml>', locate?: PointerLocator): LdmModelSpec {
  const what = `latent-diffusion config ${file}`;
  const checked = checkSchema<Record<string, any>>(ldmYamlSchema, doc, { locate });
  const problems = checked.problems.map(explainUnknownParameter);
  const value = checked.value;
  const model = isRecord(value?.model) ? value.model : {};
  const params: Record<string, any> = isRecord(model.params) ? model.params : {};
  const own: Problem[] = [];

  if (typeof model.target === 'string' && model.target !== LDM_TARGET) {
    own.push({ path: 'model.target', message: 'unsupported model class', expected: LDM_TARGET, found: model.target });
  }
  if (isRecord(model.params)) own.push(...unsupportedParameters(params));
  problems.push(...locateProblems(own, locate));
  throwIfProblems(what, problems);

  const ignored: string[] = [];
  for (const k of Object.keys(value)) if (k !== 'model') ignored.push(k);
  for (const k of Object.keys(params)) if ((TRAINING_ONLY_KEYS as readonly string[]).includes(k)) ignored.push(`model.params.${k}`);

  const predictionType = params.parameterization === 'x0' ? 'sample' : 'epsilon';
  const embParams = params.cond_stage_config.params as { n_classes: number; embed_dim: number; key: string };
  const classEmbedder: ClassEmbedderConfig = { n_classes: embParams.n_classes, embed_dim: embParams.embed_dim, key: embParams.key };

  const unetParams = (params.unet_config.params ?? {}) as Record<string, unknown>;
  const unet: UNetConfigInput = {
    ...(unetParams as unknown as UNetConfigInput),
    class_embedder: { n_classes: classEmbedder.n_classes, embed_dim: classEmbedder.embed_dim, key: classEmbedder.key },
    null_class: classEmbedder.n_classes - 1,
    prediction_type: predictionType,
  };

  const fsParams = (params.first_stage_config.params ?? {}) as Record<string, unknown>;
  const firstStage: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fsParams)) {
    if (FIRST_STAGE_TRAINING_KEYS.includes(k)) ignored.push(`model.params.first_stage_config.params.${k}`);
    else if ((k === 'remap' && v == null) || (k === 'sane_index_shape')) ignored.push(`model.params.first_stage_config.params.${k}`);
    else firstStage[k] = v;
  }

  const ddconfig = (firstStage.ddconfig ?? {}) as VQModelConfigInput['ddconfig'];
  const factor = 2 ** ((ddconfig.ch_mult?.length ?? 1) - 1);
  return {
    unet,
    firstStage: firstStage as unknown as VQModelConfigInput,
    classEmbedder,
    scheduler: {
      _class_name: 'DDIMScheduler',
      beta_start: params.linear_start,
      beta_end: params.linear_end,
      beta_schedule: 'scaled_linear',
      num_train_timesteps: params.timesteps,
      prediction_type: predictionType,
      set_alpha_to_one: false,
      steps_offset: 1,
      timestep_spacing: 'leading',
      clip_sample: false,
      trained_betas: null,
    },
    scaleFactor: params.scale_factor,
    scaleByStd: params.scale_by_std,
    imageSize: (unet.image_size ?? 0) * factor,
    ignored,
  };
}
