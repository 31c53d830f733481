/**
 * Importing a latent-diffusion checkpoint (model.ckpt + its YAML) into a Distillery model folder:
 *
 *   <out>/model.json              configs of the three modules, scale factor, sizes, provenance
 *   <out>/unet.safetensors        the diffusion UNet (`model.diffusion_model.*` or the EMA copy, prefix removed)
 *   <out>/first-stage.safetensors the VQ first stage (`first_stage_model.*`, prefix removed)
 *   <out>/class-embedder.safetensors  the ClassEmbedder (`cond_stage_model.*`, prefix removed)
 *   <out>/scheduler_config.json   the noise schedule in diffusers' form
 *
 * Every config is validated and every tensor's name and shape checked against the architecture the
 * configs describe before anything is written. Tensors are then streamed one at a time from the zip
 * into the output files (see src/io/torch-checkpoint.ts), so memory stays near the largest tensor.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileFormatError, ModelError } from '../errors';
import { readLdmYaml, type LdmModelSpec } from '../io/ldm-yaml';
import { writeJsonAtomic } from '../io/atomic-write';
import { writeSafetensors, type SafetensorsDtype, type SafetensorsWriteEntry } from '../io/safetensors';
import { TorchCheckpoint, stateDictOf, type TorchTensorRef } from '../io/torch-checkpoint';
import { ClassEmbedder, LDM_COND_STAGE_PREFIX } from '../models/class-embedder';
import { CLASS_EMBEDDER_WEIGHT, LDM_UNET_PREFIX, resolveUNetConfig, unetParameterShapes, type UNetConfig } from '../models/unet';
import { LDM_FIRST_STAGE_PREFIX, resolveVQConfig, vqParameterShapes, type VQModelConfig } from '../models/vq';
import type { ClassEmbedderConfig } from '../models/class-embedder';
import type { DiffusersSchedulerConfig } from '../io/ldm-yaml';
import { eventLoopTurn } from '../event-loop';

export const LDM_MODEL_FORMAT = 'distillery-ldm-model';
export const LDM_MODEL_VERSION = 1;
export const MODEL_JSON = 'model.json';
export const SCHEDULER_JSON = 'scheduler_config.json';
export const UNET_FILE = 'unet.safetensors';
export const FIRST_STAGE_FILE = 'first-stage.safetensors';
export const CLASS_EMBEDDER_FILE = 'class-embedder.safetensors';

/** The diffusion-process buffers a LatentDiffusion state dict carries besides the modules (not imported). */
export const LDM_SCHEDULE_BUFFERS = [
  'betas', 'alphas_cumprod', 'alphas_cumprod_prev', 'sqrt_alphas_cumprod', 'sqrt_one_minus_alphas_cumprod',
  'log_one_minus_alphas_cumprod', 'sqrt_recip_alphas_cumprod', 'sqrt_recipm1_alphas_cumprod', 'posterior_variance',
  'posterior_log_variance_clipped', 'posterior_mean_coef1', 'posterior_mean_coef2', 'logvar', 'scale_factor',
] as const;
const EMA_PREFIX = 'model_ema.';
const EMA_BOOKKEEPING = ['model_ema.decay', 'model_ema.num_updates'];

/** model.json: what the ldm-* node types and `encode` read. */
export interface LdmModelFile {
  format: typeof LDM_MODEL_FORMAT;
  version: number;
  unet: { config: UNetConfig; weights: string };
  firstStage: { config: VQModelConfig; weights: string };
  classEmbedder: { config: ClassEmbedderConfig; weights: string };
  /** Latent = scaleFactor · first-stage encoding (LatentDiffusion.scale_factor). */
  scaleFactor: number;
  /** Image side the model works at. */
  imageSize: number;
  /** Latent shape [C, H, W] (NCHW, as in latent shards). */
  latentShape: [number, number, number];
  scheduler: string;
  source: { config: string; checkpoint: string; weights: 'ema' | 'model'; globalStep: number | null };
}

export type WeightsChoice = 'auto' | 'ema' | 'model';

export interface ImportLdmOptions {
  config: string;
  ckpt: string;
  out: string;
  /** auto (default): the EMA weights when the checkpoint has them, as the seed does. */
  weights?: WeightsChoice;
  /** Progress lines (one per file written). */
  log?: (line: string) => void;
}

export interface ImportLdmResult {
  weights: 'ema' | 'model';
  globalStep: number | null;
  model: LdmModelFile;
  files: string[];
  /** Tensors written per module. */
  counts: { unet: number; firstStage: number; classEmbedder: number };
  /** State-dict keys deliberately not imported (schedule buffers, the unused copy of the UNet weights). */
  skippedKeys: string[];
  /** Top-level checkpoint entries other than the state dict (optimizer states, callbacks …), never loaded. */
  skippedTopLevel: string[];
  /** YAML keys ignored as training-only. */
  ignoredConfig: string[];
  /** Max |alphas_cumprod(checkpoint) − alphas_cumprod(YAML schedule)|, when the checkpoint has the buffer. */
  scheduleMaxAbsDiff: number | null;
}

/** LitEma's buffer name of a model parameter: the name inside DiffusionWrapper with the dots removed. */
export function emaBufferName(unetParam: string): string {
  return EMA_PREFIX + `diffusion_model.${unetParam}`.replace(/\./g, '');
}

/** float64 alpha-bar of latent-diffusion's "linear" schedule (linear in √β), as make_beta_schedule. */
export function ldmAlphasCumprod(s: DiffusersSchedulerConfig): Float64Array {
  const t = s.num_train_timesteps;
  const a = Math.sqrt(s.beta_start);
  const b = Math.sqrt(s.beta_end);
  const out = new Float64Array(t);
  let prod = 1;
  for (let i = 0; i < t; i++) {
    const sq = t === 1 ? a : a + ((b - a) * i) / (t - 1);
    prod *= 1 - sq * sq;
    out[i] = prod;
  }
  return out;
}

interface Planned {
  file: string;
  entries: Map<string, { source: string; ref: TorchTensorRef }>;
}

function dtypeForWrite(ckpt: string, name: string, ref: TorchTensorRef): SafetensorsDtype {
  if (ref.dtype === 'I16' || ref.dtype === 'I8') throw new FileFormatError(ckpt, `tensor "${name}" has dtype ${ref.dtype}, which safetensors output does not support here`);
  return ref.dtype;
}

function decodeScalar(t: { dtype: string; bytes: Uint8Array }): number {
  const v = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  switch (t.dtype) {
    case 'F32': return v.getFloat32(0, true);
    case 'F64': return v.getFloat64(0, true);
    case 'I64': return Number(v.getBigInt64(0, true));
    case 'I32': return v.getInt32(0, true);
    default: throw new Error(`unsupported scalar dtype ${t.dtype}`);
  }
}

function listNames(names: string[], max = 12): string {
  return names.length > max ? `${names.slice(0, max).join(', ')}, … and ${names.length - max} more` : names.join(', ');
}

/**
 * Imports a checkpoint; see the module comment for the output. Throws ConfigError (YAML), FileFormatError
 * (checkpoint) or ModelError (names / shapes that do not fit the YAML's architecture) before writing anything.
 */
export async function importLdmCheckpoint(options: ImportLdmOptions): Promise<ImportLdmResult> {
  const log = options.log ?? (() => undefined);
  const spec: LdmModelSpec = readLdmYaml(options.config);
  const unetConfig = resolveUNetConfig(spec.unet);
  const vqConfig = resolveVQConfig(spec.firstStage);
  const embedderConfig = new ClassEmbedder(spec.classEmbedder, { allocate: false }).config;
  const unetShapes = unetParameterShapes(unetConfig);
  unetShapes.delete(CLASS_EMBEDDER_WEIGHT);
  const vqShapes = vqParameterShapes(vqConfig);
  const embShapes = new ClassEmbedder(embedderConfig, { allocate: false }).parameterShapes();

  const ckpt = await TorchCheckpoint.open(options.ckpt);
  try {
    const { tensors, others, topLevelKeys } = stateDictOf(options.ckpt, ckpt.root);
    const root = ckpt.root as { get?(k: string): unknown };
    const gs = typeof root.get === 'function' ? root.get('global_step') : undefined;
    const globalStep = typeof gs === 'number' ? gs : null;
    const skippedTopLevel = topLevelKeys.filter((k) => k !== 'state_dict' && k !== 'global_step');
    if (others.size) {
      throw new FileFormatError(options.ckpt, `state dict entries that are not tensors: ${listNames([...others.keys()])}`);
    }

    const emaNames = [...tensors.keys()].filter((k) => k.startsWith(EMA_PREFIX) && !EMA_BOOKKEEPING.includes(k));
    const hasEma = emaNames.length > 0;
    const choice = options.weights ?? 'auto';
    if (choice === 'ema' && !hasEma) {
      throw new ModelError(`${options.ckpt} has no EMA weights (no model_ema.* tensors); import with --weights model`);
    }
    const useEma = choice === 'ema' || (choice === 'auto' && hasEma);

    const problems: string[] = [];
    const used = new Set<string>();
    const plan = (file: string, shapes: Map<string, number[]>, source: (n: string) => string): Planned => {
      const entries = new Map<string, { source: string; ref: TorchTensorRef }>();
      for (const [name, shape] of shapes) {
        const key = source(name);
        const ref = tensors.get(key);
        if (!ref) {
          problems.push(`missing ${key}`);
          continue;
        }
        if (ref.shape.length !== shape.length || ref.shape.some((d, i) => d !== shape[i])) {
          problems.push(`${key} has shape [${ref.shape.join(', ')}], the YAML's architecture needs [${shape.join(', ')}]`);
        }
        used.add(key);
        entries.set(name, { source: key, ref });
      }
      return { file, entries };
    };
    const unetPlan = plan(UNET_FILE, unetShapes, (n) => (useEma ? emaBufferName(n) : LDM_UNET_PREFIX + n));
    const vqPlan = plan(FIRST_STAGE_FILE, vqShapes, (n) => LDM_FIRST_STAGE_PREFIX + n);
    const embPlan = plan(CLASS_EMBEDDER_FILE, embShapes, (n) => LDM_COND_STAGE_PREFIX + n);

    const skippedKeys: string[] = [];
    const unexpected: string[] = [];
    for (const key of tensors.keys()) {
      if (used.has(key)) continue;
      const known = (LDM_SCHEDULE_BUFFERS as readonly string[]).includes(key) || EMA_BOOKKEEPING.includes(key) ||
        (useEma && key.startsWith(LDM_UNET_PREFIX)) || (!useEma && key.startsWith(EMA_PREFIX));
      (known ? skippedKeys : unexpected).push(key);
    }
    if (unexpected.length) problems.push(`${unexpected.length} unexpected: ${listNames(unexpected)}`);
    if (problems.length) {
      throw new ModelError(`${options.ckpt} does not fit ${options.config} (${problems.length} problem${problems.length === 1 ? '' : 's'}): ` +
        listNames(problems, 20));
    }

    // The YAML's schedule against the checkpoint's own alpha-bar (float32 buffer of a float64 computation).
    let scheduleMaxAbsDiff: number | null = null;
    const acRef = tensors.get('alphas_cumprod');
    if (acRef && acRef.dtype === 'F32' && acRef.shape.length === 1) {
      const t = await ckpt.readTensor(acRef);
      const got = new Float32Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength / 4);
      const want = ldmAlphasCumprod(spec.scheduler);
      if (got.length !== want.length) {
        throw new ModelError(`${options.ckpt}: alphas_cumprod has ${got.length} steps, the YAML says timesteps: ${want.length}`);
      }
      scheduleMaxAbsDiff = 0;
      for (let i = 0; i < got.length; i++) scheduleMaxAbsDiff = Math.max(scheduleMaxAbsDiff, Math.abs(got[i] - want[i]));
      if (scheduleMaxAbsDiff > 1e-6) {
        throw new ModelError(`${options.ckpt}: the checkpoint's alphas_cumprod differs from the YAML's schedule ` +
          `(linear_start ${spec.scheduler.beta_start}, linear_end ${spec.scheduler.beta_end}) by up to ${scheduleMaxAbsDiff.toExponential(2)}; ` +
          'is this the YAML the checkpoint was trained with?');
      }
    }

    let scaleFactor = spec.scaleFactor;
    if (spec.scaleByStd) {
      const ref = tensors.get('scale_factor');
      if (!ref) throw new ModelError(`${options.config} sets scale_by_std: true but ${options.ckpt} has no scale_factor buffer`);
      scaleFactor = decodeScalar(await ckpt.readTensor(ref));
    }

    await fs.promises.mkdir(options.out, { recursive: true });
    const files: string[] = [];
    const writePlan = async (p: Planned, metadata: Record<string, string>): Promise<void> => {
      const entries = new Map<string, SafetensorsWriteEntry>();
      for (const [name, { ref }] of p.entries) {
        entries.set(name, { dtype: dtypeForWrite(options.ckpt, name, ref), shape: ref.shape, bytes: async () => {
          await eventLoopTurn();
          return (await ckpt.readTensor(ref)).bytes;
        } });
      }
      const file = path.join(options.out, p.file);
      await writeSafetensors(file, entries, metadata);
      files.push(file);
      log(`wrote ${file} (${p.entries.size} tensors)`);
    };
    const source = path.basename(options.ckpt);
    await writePlan(unetPlan, { format: 'pt', source: `${source}: ${useEma ? 'model_ema.* (EMA weights)' : 'model.diffusion_model.*'}` });
    await writePlan(vqPlan, { format: 'pt', source: `${source}: first_stage_model.*` });
    await writePlan(embPlan, { format: 'pt', source: `${source}: cond_stage_model.*` });

    const latentSide = unetConfig.image_size;
    const model: LdmModelFile = {
      format: LDM_MODEL_FORMAT,
      version: LDM_MODEL_VERSION,
      unet: { config: unetConfig, weights: UNET_FILE },
      firstStage: { config: vqConfig, weights: FIRST_STAGE_FILE },
      classEmbedder: { config: { ...embedderConfig }, weights: CLASS_EMBEDDER_FILE },
      scaleFactor,
      imageSize: latentSide * 2 ** (vqConfig.ddconfig.ch_mult.length - 1),
      latentShape: [vqConfig.embed_dim, latentSide, latentSide],
      scheduler: SCHEDULER_JSON,
      source: { config: path.resolve(options.config), checkpoint: path.resolve(options.ckpt), weights: useEma ? 'ema' : 'model', globalStep },
    };
    await writeJsonAtomic(path.join(options.out, SCHEDULER_JSON), spec.scheduler);
    await writeJsonAtomic(path.join(options.out, MODEL_JSON), model);
    files.push(path.join(options.out, SCHEDULER_JSON), path.join(options.out, MODEL_JSON));
    return {
      weights: useEma ? 'ema' : 'model',
      globalStep,
      model,
      files,
      counts: { unet: unetPlan.entries.size, firstStage: vqPlan.entries.size, classEmbedder: embPlan.entries.size },
      skippedKeys,
      skippedTopLevel,
      ignoredConfig: spec.ignored,
      scheduleMaxAbsDiff,
    };
  } finally {
    await ckpt.close();
  }
}

