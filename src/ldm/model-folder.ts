/**
 * Loading the modules of an imported latent-diffusion model folder (see import.ts for its layout).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import { FileFormatError } from '../errors';
import { loadSafetensorsAsTf } from '../io/safetensors';
import { ClassEmbedder } from '../models/class-embedder';
import { CLASS_EMBEDDER_WEIGHT, UNet } from '../models/unet';
import { VQModel } from '../models/vq';
import { NoiseSchedule, readNoiseScheduleFile } from '../diffusion';
import { LDM_MODEL_FORMAT, LDM_MODEL_VERSION, MODEL_JSON, type LdmModelFile } from './import';

/** Reads and checks `<dir>/model.json`. */
export function readLdmModelFile(dir: string): LdmModelFile {
  const file = path.join(dir, MODEL_JSON);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FileFormatError(file, `cannot read the imported model description (run "distillery import ldm" first): ${(e as Error).message}`, { cause: e });
  }
  const m = raw as Partial<LdmModelFile>;
  if (m.format !== LDM_MODEL_FORMAT) throw new FileFormatError(file, `format is ${JSON.stringify(m.format)}, expected "${LDM_MODEL_FORMAT}"`);
  if (m.version !== LDM_MODEL_VERSION) throw new FileFormatError(file, `version ${String(m.version)} is not supported (this build reads version ${LDM_MODEL_VERSION})`);
  for (const k of ['unet', 'firstStage', 'classEmbedder'] as const) {
    if (!m[k] || typeof m[k]?.weights !== 'string' || typeof m[k]?.config !== 'object') throw new FileFormatError(file, `"${k}" must have "config" and "weights"`);
  }
  if (typeof m.scaleFactor !== 'number' || !(m.scaleFactor > 0)) throw new FileFormatError(file, '"scaleFactor" must be a positive number');
  return m as LdmModelFile;
}

async function loadWeightsFile(dir: string, name: string): Promise<Record<string, tf.Tensor>> {
  return loadSafetensorsAsTf(path.join(dir, name));
}

function disposeAll(weights: Record<string, tf.Tensor>): void {
  for (const t of Object.values(weights)) t.dispose();
}

/** The UNet with its weights and the class embedder's table (its cross-attention context). */
export async function loadLdmUNet(dir: string, model = readLdmModelFile(dir)): Promise<UNet> {
  const unet = new UNet(model.unet.config);
  const weights = await loadWeightsFile(dir, model.unet.weights);
  const emb = await loadWeightsFile(dir, model.classEmbedder.weights);
  try {
    unet.loadWeights({ ...weights, [CLASS_EMBEDDER_WEIGHT]: emb['embedding.weight'] });
    return unet;
  } catch (e) {
    unet.dispose();
    throw e;
  } finally {
    disposeAll(weights);
    disposeAll(emb);
  }
}

/** The VQ first stage with its weights. */
export async function loadLdmFirstStage(dir: string, model = readLdmModelFile(dir)): Promise<VQModel> {
  const vq = new VQModel(model.firstStage.config);
  const weights = await loadWeightsFile(dir, model.firstStage.weights);
  try {
    vq.loadWeights(weights);
    return vq;
  } catch (e) {
    vq.dispose();
    throw e;
  } finally {
    disposeAll(weights);
  }
}

/** The class embedder with its weights. */
export async function loadLdmClassEmbedder(dir: string, model = readLdmModelFile(dir)): Promise<ClassEmbedder> {
  const embedder = new ClassEmbedder(model.classEmbedder.config);
  const weights = await loadWeightsFile(dir, model.classEmbedder.weights);
  try {
    embedder.loadWeights(weights);
    return embedder;
  } catch (e) {
    embedder.dispose();
    throw e;
  } finally {
    disposeAll(weights);
  }
}

/** The model's noise schedule (scheduler_config.json). */
export function loadLdmSchedule(dir: string, model = readLdmModelFile(dir)): NoiseSchedule {
  return readNoiseScheduleFile(path.join(dir, model.scheduler));
}
