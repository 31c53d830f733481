/**
 * Training checkpoints of a stage: the student's weights, its EMA, the optimizer's moments and the
 * step, so that `--resume` continues exactly where a run stopped.
 *
 * Layout under a stage's checkpoint folder:
 *   step-00001200/ model.safetensors ema.safetensors optimizer.safetensors state.json
 *   best/          (a copy of the checkpoint with the lowest evaluation loss so far)
 * A checkpoint is written into a hidden temporary folder and renamed into place, so a killed process
 * leaves either the whole checkpoint or none. `state.json` is written last inside it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { FileFormatError } from '../errors';
import { loadSafetensorsAsTf, writeSafetensors } from '../io/safetensors';

export interface CheckpointState {
  /** Optimizer steps taken. */
  step: number;
  /** AdamW bias-correction step count. */
  optimizerStep: number;
  emaUpdates: number;
  /** Evaluation loss at this step, if measured. */
  evalLoss?: number;
  /** Lowest evaluation loss seen so far (the `best/` checkpoint's). */
  bestEvalLoss?: number;
  /** Free-form facts the stage needs to resume (round index, replay block …). */
  extra?: Record<string, unknown>;
}

export interface CheckpointTensors {
  model: Record<string, tf.Tensor>;
  ema?: Record<string, tf.Tensor>;
  /** AdamW moments as `m.<name>` / `v.<name>`. */
  optimizer?: Record<string, tf.Tensor>;
}

const STEP_DIR = /^step-(\d{8})$/;

export function checkpointDirName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

/** Steps of the complete checkpoints in `dir`, ascending. */
export function listCheckpoints(dir: string): number[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir)
    .map((name) => STEP_DIR.exec(name))
    .filter((m): m is RegExpExecArray => m !== null && fs.existsSync(path.join(dir, m[0], 'state.json')))
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** The folder of the newest complete checkpoint, or undefined. */
export function latestCheckpoint(dir: string): string | undefined {
  const steps = listCheckpoints(dir);
  return steps.length ? path.join(dir, checkpointDirName(steps[steps.length - 1])) : undefined;
}

async function writeInto(target: string, tensors: CheckpointTensors, state: CheckpointState): Promise<void> {
  await fs.promises.mkdir(target, { recursive: true });
  const opts = { fsync: false };
  await writeSafetensors(path.join(target, 'model.safetensors'), tensors.model, {}, opts);
  if (tensors.ema) await writeSafetensors(path.join(target, 'ema.safetensors'), tensors.ema, {}, opts);
  if (tensors.optimizer) await writeSafetensors(path.join(target, 'optimizer.safetensors'), tensors.optimizer, {}, opts);
  await fs.promises.writeFile(path.join(target, 'state.json'), JSON.stringify(state, null, 2) + '\n');
}

/**
 * Writes checkpoint `state.step` atomically, then deletes all but the newest `keepLast`. When `best`
 * is set the same checkpoint also replaces `best/`.
 */
export async function saveCheckpoint(dir: string, tensors: CheckpointTensors, state: CheckpointState,
  options: { keepLast: number; best?: boolean }): Promise<string> {
  await fs.promises.mkdir(dir, { recursive: true });
  const final = path.join(dir, checkpointDirName(state.step));
  const tmp = path.join(dir, `.tmp-${checkpointDirName(state.step)}-${process.pid}`);
  await fs.promises.rm(tmp, { recursive: true, force: true });
  await writeInto(tmp, tensors, state);
  await fs.promises.rm(final, { recursive: true, force: true });
  await fs.promises.rename(tmp, final);
  if (options.best) {
    const bestTmp = path.join(dir, `.tmp-best-${process.pid}`);
    await fs.promises.rm(bestTmp, { recursive: true, force: true });
    await fs.promises.cp(final, bestTmp, { recursive: true });
    await fs.promises.rm(path.join(dir, 'best'), { recursive: true, force: true });
    await fs.promises.rename(bestTmp, path.join(dir, 'best'));
  }
  const steps = listCheckpoints(dir);
  for (const old of steps.slice(0, Math.max(0, steps.length - Math.max(1, options.keepLast)))) {
    await fs.promises.rm(path.join(dir, checkpointDirName(old)), { recursive: true, force: true });
  }
  return final;
}

/** Reads a checkpoint folder; the caller disposes the returned tensors. */
export async function loadCheckpoint(folder: string): Promise<{ state: CheckpointState; tensors: CheckpointTensors }> {
  const stateFile = path.join(folder, 'state.json');
  let state: CheckpointState;
  try {
    state = JSON.parse(await fs.promises.readFile(stateFile, 'utf8')) as CheckpointState;
  } catch (err) {
    throw new FileFormatError(stateFile, `unreadable checkpoint state: ${(err as Error).message}`, { cause: err });
  }
  if (!Number.isInteger(state.step) || state.step < 0) throw new FileFormatError(stateFile, `checkpoint step must be a non-negative integer, found ${JSON.stringify(state.step)}`);
  const read = async (name: string): Promise<Record<string, tf.Tensor> | undefined> => {
    const file = path.join(folder, name);
    return fs.existsSync(file) ? loadSafetensorsAsTf(file) : undefined;
  };
  const model = await read('model.safetensors');
  if (!model) throw new FileFormatError(folder, 'checkpoint has no model.safetensors');
  return { state, tensors: { model, ema: await read('ema.safetensors'), optimizer: await read('optimizer.safetensors') } };
}

/** Disposes every tensor of a loaded checkpoint. */
export function disposeCheckpointTensors(t: CheckpointTensors): void {
  for (const group of [t.model, t.ema, t.optimizer]) if (group) tf.dispose(Object.values(group));
}
