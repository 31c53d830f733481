/**
 * `ldm-unet` with `weights`: the UNet a training stage wrote for an imported model
 * (`<run>/<node>/model.safetensors`) instead of the imported one.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { FileFormatError } from '../../src/errors';
import { loadSafetensorsAsTf, readSafetensorsHeader } from '../../src/io/safetensors';
import { UNet } from '../../src/models/unet';

/**
 * A UNet saved by a training stage (`<run>/<node>/model.safetensors`: weights in the PyTorch layout, the
 * UNet config as JSON in the metadata key `config`), e.g. the v-finetune result that stage one starts from.
 */
export async function loadStageUNet(file: string): Promise<UNet> {
  const header = await readSafetensorsHeader(file);
  const text = header.metadata.config;
  if (text === undefined) throw new FileFormatError(file, 'has no "config" metadata: not a model file written by a training stage');
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new FileFormatError(file, `the "config" metadata is not JSON: ${(e as Error).message}`, { cause: e });
  }
  const unet = new UNet(config as ConstructorParameters<typeof UNet>[0]);
  const weights = await loadSafetensorsAsTf(file);
  try {
    unet.loadWeights(weights);
    return unet;
  } catch (e) {
    unet.dispose();
    throw e;
  } finally {
    for (const t of Object.values(weights)) t.dispose();
  }
}
