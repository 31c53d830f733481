/**
 * Training checkpoints: model weights, EMA weights, optimizer state, RNG states, the step and
 * arbitrary JSON, in one safetensors file.
 *
 * Layout (all tensors F32, in the in-memory TF.js layout of the variables):
 *   model.<name>      the model's variables
 *   ema.<name>        the EMA weights (when an EMA is saved)
 *   optim.m.<name>    AdamW first moments (when an optimizer is saved)
 *   optim.v.<name>    AdamW second moments
 *   __metadata__      format = "distillery-checkpoint", version = "1", step = "<step>",
 *                     state = JSON {optimizer?: {step, lr, beta1, beta2, eps, weightDecay},
 *                                   ema?: {updates, decay}, rng: {name: RngState}, extra: {...},
 *                                   metrics: {name: number}}
 *
 * Files are written atomically (hidden temp file, fsync, rename) as `<prefix>-<step, 9 digits>.safetensors`;
 * the temp name starts with "." and never ends in ".safetensors", so a crash mid-write never leaves a
 * file that `listCheckpoints` would pick up. `CheckpointManager` keeps the last N and, optionally, the
 * best by a metric in `best.safetensors`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { FileFormatError, TrainingError } from '../errors';
import { applySchema, checkSchema } from '../schema/check';
import { SafetensorsReader, writeSafetensors, type SafetensorsWriteEntry } from '../io/safetensors';
import { writeFileAtomic } from '../io/atomic-write';
import { AdamW, type AdamWState } from './adamw';
import { EmaWeights, type EmaState } from './ema';
import { Rng, type RngState } from './rng';

export const CHECKPOINT_FORMAT = 'distillery-checkpoint';
export const CHECKPOINT_VERSION = '1';
export const BEST_CHECKPOINT_NAME = 'best.safetensors';

/** What to save. Live objects (AdamW, EmaWeights, Rng) or their plain states are both accepted. */
export interface CheckpointContents {
  /** Optimizer steps taken (names the file). */
  step: number;
  /** Model weights by name (e.g. `module.variables`). */
  model: ReadonlyMap<string, tf.Tensor>;
  ema?: EmaWeights | EmaState;
  optimizer?: AdamW | (AdamWState & { hyper?: OptimizerHyperParameters });
  rng?: Record<string, Rng | RngState>;
  /** Any JSON: round index, data-stream position, … */
  extra?: Record<string, unknown>;
  /** Evaluation numbers (e.g. `{evalLoss: 0.12}`); the manager's keep-best reads them. */
  metrics?: Record<string, number>;
}

export interface OptimizerHyperParameters {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** A checkpoint read back. The tensors belong to it: call `dispose()` when restored. */
export interface LoadedCheckpoint {
  file: string;
  step: number;
  model: Map<string, tf.Tensor>;
  ema?: EmaState & { decay?: number };
  optimizer?: AdamWState & { hyper?: OptimizerHyperParameters };
  rng: Record<string, RngState>;
  extra: Record<string, unknown>;
  metrics: Record<string, number>;
  dispose(): void;
}

interface StateJson {
  optimizer?: { step: number } & OptimizerHyperParameters;
  ema?: { updates: number; decay?: number };
  rng: Record<string, RngState>;
  extra: Record<string, unknown>;
  metrics: Record<string, number>;
}

/** `<prefix>-000001234.safetensors`. */
export function checkpointFileName(step: number, prefix = 'checkpoint'): string {
  if (!Number.isSafeInteger(step) || step < 0) throw new TrainingError(`checkpoint step must be a non-negative integer, found ${step}`);
  return `${prefix}-${String(step).padStart(9, '0')}.safetensors`;
}

function checkpointPattern(prefix: string): RegExp {
  return new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d{9,})\\.safetensors$`);
}

/** Checkpoint files of `dir` named by `checkpointFileName`, in increasing step order. */
export async function listCheckpoints(dir: string, prefix = 'checkpoint'): Promise<Array<{ step: number; file: string }>> {
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new FileFormatError(dir, `cannot list checkpoints: ${(e as Error).message}`, { cause: e });
  }
  const re = checkpointPattern(prefix);
  const out: Array<{ step: number; file: string }> = [];
  for (const name of names) {
    const m = re.exec(name);
    if (m) out.push({ step: Number(m[1]), file: path.join(dir, name) });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** The checkpoint with the highest step in `dir`, or null when there is none (resume). */
export async function latestCheckpoint(dir: string, prefix = 'checkpoint'): Promise<string | null> {
  const all = await listCheckpoints(dir, prefix);
  return all.length ? all[all.length - 1].file : null;
}

function stateOf<T>(x: { getState(): T } | T): { state: T; owned: boolean } {
  if (typeof (x as { getState?: unknown }).getState === 'function') return { state: (x as { getState(): T }).getState(), owned: true };
  return { state: x as T, owned: false };
}

/** Writes one checkpoint file atomically. Tensors are snapshotted synchronously before any await. */
export async function writeCheckpoint(file: string, contents: CheckpointContents): Promise<void> {
  if (!Number.isSafeInteger(contents.step) || contents.step < 0) {
    throw new TrainingError(`checkpoint step must be a non-negative integer, found ${contents.step}`);
  }
  const toDispose: tf.Tensor[] = [];
  const tensors = new Map<string, SafetensorsWriteEntry>();
  const state: StateJson = { rng: {}, extra: contents.extra ?? {}, metrics: {} };
  try {
    for (const [name, t] of contents.model) {
      const c = t.clone();
      toDispose.push(c);
      tensors.set(`model.${name}`, c);
    }
    if (contents.ema) {
      const { state: ema, owned } = stateOf<EmaState>(contents.ema);
      for (const [name, t] of ema.weights) {
        const c = owned ? t : t.clone();
        toDispose.push(c);
        tensors.set(`ema.${name}`, c);
      }
      state.ema = { updates: ema.updates, ...(contents.ema instanceof EmaWeights ? { decay: contents.ema.decay } : {}) };
    }
    if (contents.optimizer) {
      const opt = contents.optimizer;
      const { state: s, owned } = stateOf<AdamWState>(opt);
      for (const [label, map] of [['m', s.m], ['v', s.v]] as const) {
        for (const [name, t] of map) {
          const c = owned ? t : t.clone();
          toDispose.push(c);
          tensors.set(`optim.${label}.${name}`, c);
        }
      }
      const hyper = opt instanceof AdamW
        ? { lr: opt.lr, beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps, weightDecay: opt.weightDecay }
        : opt.hyper;
      if (!hyper) throw new TrainingError('a plain optimizer state needs its hyper-parameters (`hyper`) to be saved');
      state.optimizer = { step: s.step, ...hyper };
    }
    for (const [name, r] of Object.entries(contents.rng ?? {})) state.rng[name] = r instanceof Rng ? r.getState() : r;
    for (const [name, v] of Object.entries(contents.metrics ?? {})) {
      if (!Number.isFinite(v)) throw new TrainingError(`metric "${name}" must be a finite number, found ${v}`);
      state.metrics[name] = v;
    }
    let stateText: string;
    try {
      stateText = JSON.stringify(state);
    } catch (e) {
      throw new TrainingError(`checkpoint extra data is not JSON-serialisable: ${(e as Error).message}`, { cause: e });
    }
    await writeSafetensors(file, tensors, {
      format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, step: String(contents.step), state: stateText,
    });
  } finally {
    tf.dispose(toDispose);
  }
}

/** Names and shapes a checkpoint is expected to hold (e.g. a freshly built model's variables). */
export type ExpectedWeights = ReadonlyMap<string, { shape: readonly number[] }>;

/**
 * Reads a checkpoint, checking its format, that EMA and optimizer tensors cover exactly the model's
 * names with the model's shapes, and — when `expect` is given — that the model weights have exactly
 * the expected names and shapes. Every mismatch is listed in one error.
 */
export async function readCheckpoint(file: string, expect?: ExpectedWeights): Promise<LoadedCheckpoint> {
  const reader = await SafetensorsReader.open(file);
  const owned: tf.Tensor[] = [];
  try {
    const meta = reader.metadata;
    if (meta.format !== CHECKPOINT_FORMAT) {
      throw new FileFormatError(file, `not a Distillery checkpoint (metadata "format" is ${JSON.stringify(meta.format)}, ` +
        `expected "${CHECKPOINT_FORMAT}")`);
    }
    if (meta.version !== CHECKPOINT_VERSION) {
      throw new FileFormatError(file, `unsupported checkpoint version ${JSON.stringify(meta.version)} (this build reads "${CHECKPOINT_VERSION}")`);
    }
    const step = Number(meta.step);
    if (!/^\d+$/.test(meta.step ?? '') || !Number.isSafeInteger(step)) {
      throw new FileFormatError(file, `checkpoint metadata "step" is not a non-negative integer: ${JSON.stringify(meta.step)}`);
    }
    const state = parseState(file, meta.state);
    const groups = { model: new Map<string, string>(), ema: new Map<string, string>(), m: new Map<string, string>(), v: new Map<string, string>() };
    const problems: string[] = [];
    for (const name of reader.names) {
      if (name.startsWith('model.')) groups.model.set(name.slice(6), name);
      else if (name.startsWith('ema.')) groups.ema.set(name.slice(4), name);
      else if (name.startsWith('optim.m.')) groups.m.set(name.slice(8), name);
      else if (name.startsWith('optim.v.')) groups.v.set(name.slice(8), name);
      else problems.push(`tensor "${name}" has no known prefix (model., ema., optim.m., optim.v.)`);
    }
    const shapeOf = (full: string): number[] => reader.entry(full).shape;
    const modelShapes = new Map([...groups.model].map(([n, full]) => [n, shapeOf(full)]));
    const compare = (label: string, found: Map<string, string>): void => {
      for (const n of modelShapes.keys()) if (!found.has(n)) problems.push(`${label}${n}: missing`);
      for (const [n, full] of found) {
        const ms = modelShapes.get(n);
        if (!ms) problems.push(`${full}: no model weight of that name`);
        else if (!tf.util.arraysEqual(ms, shapeOf(full))) problems.push(`${full}: shape [${shapeOf(full)}], model weight has [${ms}]`);
      }
    };
    if (state.ema || groups.ema.size) {
      if (!state.ema) problems.push('ema.* tensors present but no EMA state in the metadata');
      compare('ema.', groups.ema);
    }
    if (state.optimizer || groups.m.size || groups.v.size) {
      if (!state.optimizer) problems.push('optim.* tensors present but no optimizer state in the metadata');
      compare('optim.m.', groups.m);
      compare('optim.v.', groups.v);
    }
    if (problems.length) throw new FileFormatError(file, `inconsistent checkpoint:\n  ${problems.join('\n  ')}`);
    if (expect) {
      const mismatch: string[] = [];
      for (const [n, e] of expect) {
        const s = modelShapes.get(n);
        if (!s) mismatch.push(`${n}: missing from the checkpoint`);
        else if (!tf.util.arraysEqual(s, e.shape as number[])) mismatch.push(`${n}: checkpoint has [${s}], model has [${e.shape}]`);
      }
      for (const n of modelShapes.keys()) if (!expect.has(n)) mismatch.push(`${n}: in the checkpoint but not in the model`);
      if (mismatch.length) {
        throw new FileFormatError(file, `checkpoint does not match the model (${mismatch.length} problem${mismatch.length === 1 ? '' : 's'}):\n  ` +
          mismatch.join('\n  '));
      }
    }
    const load = async (group: Map<string, string>): Promise<Map<string, tf.Tensor>> => {
      const out = new Map<string, tf.Tensor>();
      for (const [n, full] of group) {
        const t = await reader.readTensor(full);
        owned.push(t);
        out.set(n, t);
      }
      return out;
    };
    const model = await load(groups.model);
    const loaded: LoadedCheckpoint = {
      file, step, model, rng: state.rng, extra: state.extra, metrics: state.metrics,
      dispose: () => tf.dispose(owned),
    };
    if (state.ema) loaded.ema = { updates: state.ema.updates, weights: await load(groups.ema), decay: state.ema.decay };
    if (state.optimizer) {
      const { step: optStep, ...hyper } = state.optimizer;
      loaded.optimizer = { step: optStep, m: await load(groups.m), v: await load(groups.v), hyper };
    }
    return loaded;
  } catch (e) {
    tf.dispose(owned);
    throw e;
  } finally {
    await reader.close();
  }
}

const NUMBER = { type: 'number' } as const;

/** A generator state as `Rng.getState()` writes it (src/training/rng.ts). */
const rngStateSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['algorithm', 'key', 's'],
  properties: {
    algorithm: { const: 'xoshiro128**', description: 'The generator.' },
    key: { type: 'string', minLength: 1, description: 'The stream\'s identity (seed, then /name per fork).' },
    s: {
      type: 'array', minItems: 4, maxItems: 4, items: { type: 'integer', minimum: 0, maximum: 0xffffffff },
      description: 'The four 32-bit state words.',
    },
  },
} as const;

/**
 * The JSON Schema of the checkpoint metadata "state" (what `writeCheckpoint` writes): checked by the
 * shared validation layer (src/schema/check.ts) when a checkpoint is read back for resume, so a corrupted
 * or hand-edited state is refused with every problem and its JSON path, before anything is restored.
 */
export const checkpointStateSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['rng', 'extra', 'metrics'],
  properties: {
    optimizer: {
      type: 'object',
      additionalProperties: false,
      required: ['step', 'lr', 'beta1', 'beta2', 'eps', 'weightDecay'],
      description: 'AdamW\'s step count and hyper-parameters (its moments are the optim.* tensors).',
      properties: {
        step: { type: 'integer', minimum: 0, description: 'Steps taken (t of the bias correction).' },
        lr: NUMBER, beta1: NUMBER, beta2: NUMBER, eps: NUMBER, weightDecay: NUMBER,
      },
    },
    ema: {
      type: 'object',
      additionalProperties: false,
      required: ['updates'],
      description: 'The EMA\'s update count and decay (its weights are the ema.* tensors).',
      properties: { updates: { type: 'integer', minimum: 0, description: 'Updates applied.' }, decay: NUMBER },
    },
    rng: { type: 'object', additionalProperties: rngStateSchema, description: 'Generator states by stream name.' },
    extra: { type: 'object', description: 'The stage\'s own JSON (round index, data position, …).' },
    metrics: { type: 'object', additionalProperties: NUMBER, description: 'Evaluation numbers by name.' },
  },
} as const;

function parseState(file: string, text: string | undefined): StateJson {
  if (text === undefined) throw new FileFormatError(file, 'checkpoint metadata has no "state" entry');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new FileFormatError(file, `checkpoint metadata "state" is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  const { value, problems } = checkSchema<StateJson>(checkpointStateSchema, raw, { useDefaults: false });
  if (problems.length) {
    throw new FileFormatError(file, `checkpoint metadata "state" is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):`, { problems });
  }
  return value;
}

/** What `restoreCheckpoint` writes into. Each present target must have its part in the checkpoint. */
export interface RestoreTargets {
  variables: ReadonlyMap<string, tf.Variable>;
  ema?: EmaWeights;
  optimizer?: AdamW;
  rng?: Record<string, Rng>;
}

/**
 * Copies a loaded checkpoint into live objects: variables (names and shapes must match exactly), EMA,
 * optimizer moments and step, and the named RNG streams. The optimizer's hyper-parameters are not
 * changed (the run's config decides them). Does not dispose `loaded`.
 */
export function restoreCheckpoint(loaded: LoadedCheckpoint, targets: RestoreTargets): void {
  const problems: string[] = [];
  for (const [n, v] of targets.variables) {
    const t = loaded.model.get(n);
    if (!t) problems.push(`${n}: missing from the checkpoint`);
    else if (!tf.util.arraysEqual(t.shape, v.shape)) problems.push(`${n}: checkpoint has [${t.shape}], model has [${v.shape}]`);
  }
  for (const n of loaded.model.keys()) if (!targets.variables.has(n)) problems.push(`${n}: in the checkpoint but not in the model`);
  if (targets.ema && !loaded.ema) problems.push('the checkpoint has no EMA weights');
  if (targets.optimizer && !loaded.optimizer) problems.push('the checkpoint has no optimizer state');
  for (const name of Object.keys(targets.rng ?? {})) if (!loaded.rng[name]) problems.push(`the checkpoint has no RNG stream "${name}"`);
  if (problems.length) {
    throw new FileFormatError(loaded.file, `cannot restore checkpoint (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ` +
      problems.join('\n  '));
  }
  for (const [n, v] of targets.variables) v.assign(loaded.model.get(n)!);
  if (targets.ema) targets.ema.setState(loaded.ema!);
  if (targets.optimizer) targets.optimizer.setState(loaded.optimizer!);
  for (const [name, r] of Object.entries(targets.rng ?? {})) r.setState(loaded.rng[name]);
}

export interface CheckpointManagerOptions {
  /** Directory of the checkpoints (created when missing). */
  dir: string;
  /** How many step checkpoints to keep (default 3); older ones are deleted after each save. */
  keepLast?: number;
  /** Keep the best checkpoint by this metric in `best.safetensors`. */
  best?: { metric: string; mode: 'min' | 'max' };
  /** File-name prefix (default "checkpoint"). */
  prefix?: string;
}

export interface SaveResult {
  file: string;
  /** Whether this checkpoint became `best.safetensors`. */
  isBest: boolean;
  /** Checkpoint files deleted by keep-last-N. */
  deleted: string[];
}

/** The JSON Schema of the CheckpointManager options (checked by the shared validation layer, src/schema/check.ts). */
export const checkpointManagerOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['dir'],
  properties: {
    dir: { type: 'string', minLength: 1, description: 'Directory of the checkpoints (created when missing).' },
    keepLast: { type: 'integer', minimum: 1, default: 3, description: 'How many step checkpoints to keep; older ones are deleted after each save.' },
    best: {
      type: 'object',
      additionalProperties: false,
      required: ['metric', 'mode'],
      description: 'Keep the best checkpoint by this metric in best.safetensors.',
      properties: {
        metric: { type: 'string', minLength: 1, description: 'The metric (a key of the saved metrics, e.g. evalLoss).' },
        mode: { enum: ['min', 'max'], description: 'Whether smaller (min) or larger (max) is better.' },
      },
    },
    prefix: { type: 'string', pattern: '^[A-Za-z0-9_-]+$', default: 'checkpoint', description: 'File-name prefix: letters, digits, "_" or "-".' },
  },
} as const;

/** Saves numbered checkpoints with keep-last-N and keep-best; finds the latest for resume. */
export class CheckpointManager {
  readonly dir: string;
  readonly keepLast: number;
  readonly best?: { metric: string; mode: 'min' | 'max' };
  readonly prefix: string;
  /** Saves run one after another: see `save`. */
  private pending: Promise<unknown> = Promise.resolve();

  constructor(options: CheckpointManagerOptions) {
    const o = applySchema<Required<Omit<CheckpointManagerOptions, 'best'>> & Pick<CheckpointManagerOptions, 'best'>>(
      'checkpoint options', checkpointManagerOptionsSchema, options ?? null);
    this.dir = o.dir;
    this.keepLast = o.keepLast;
    this.prefix = o.prefix;
    this.best = o.best;
  }

  /** Path of `best.safetensors` in the directory. */
  get bestFile(): string {
    return path.join(this.dir, BEST_CHECKPOINT_NAME);
  }

  /**
   * Writes `<prefix>-<step>.safetensors` atomically, deletes all but the newest `keepLast`, and — when
   * keep-best is configured and `contents.metrics` holds the metric — copies the file to
   * `best.safetensors` (atomically) if it beats the best so far. Metrics given without the configured
   * metric are an error (a misspelt name would otherwise never select a best).
   *
   * Saves are serialised: a cancelled run's `saveState` may checkpoint the same step while the training
   * loop's own save is still in flight, and interleaving them could copy the second (metric-less) file
   * into `best.safetensors`.
   */
  save(contents: CheckpointContents): Promise<SaveResult> {
    const run = this.pending.then(() => this.saveNow(contents));
    this.pending = run.catch(() => undefined);
    return run;
  }

  private async saveNow(contents: CheckpointContents): Promise<SaveResult> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    let candidate: number | undefined;
    if (this.best && contents.metrics && Object.keys(contents.metrics).length) {
      candidate = contents.metrics[this.best.metric];
      if (candidate === undefined) {
        throw new TrainingError(`metrics ${JSON.stringify(Object.keys(contents.metrics))} lack "${this.best.metric}", ` +
          'the metric that selects the best checkpoint');
      }
    }
    const file = path.join(this.dir, checkpointFileName(contents.step, this.prefix));
    await writeCheckpoint(file, contents);
    let isBest = false;
    if (this.best && candidate !== undefined) {
      const current = await this.bestValue();
      isBest = current === undefined || (this.best.mode === 'min' ? candidate < current : candidate > current);
      if (isBest) {
        try {
          // A copy through the one atomic writer (fsync'd, then renamed, then the folder fsync'd), in chunks.
          await writeFileAtomic(this.bestFile, async (fh) => {
            for await (const chunk of fs.createReadStream(file)) await fh.write(chunk as Buffer);
          });
        } catch (e) {
          throw new FileFormatError(this.bestFile, `cannot write: ${(e as Error).message}`, { cause: e });
        }
      }
    }
    const all = await listCheckpoints(this.dir, this.prefix);
    const deleted: string[] = [];
    for (const old of all.slice(0, Math.max(0, all.length - this.keepLast))) {
      await fs.promises.rm(old.file, { force: true });
      deleted.push(old.file);
    }
    return { file, isBest, deleted };
  }

  /** The best metric value recorded in `best.safetensors`, or undefined when there is none yet. */
  async bestValue(): Promise<number | undefined> {
    if (!this.best) return undefined;
    if (!fs.existsSync(this.bestFile)) return undefined;
    const reader = await SafetensorsReader.open(this.bestFile);
    await reader.close();
    const state = parseState(this.bestFile, reader.metadata.state);
    const v = state.metrics[this.best.metric];
    if (typeof v !== 'number') {
      throw new FileFormatError(this.bestFile, `has no metric "${this.best.metric}" (it has ${JSON.stringify(Object.keys(state.metrics))})`);
    }
    return v;
  }

  list(): Promise<Array<{ step: number; file: string }>> {
    return listCheckpoints(this.dir, this.prefix);
  }

  /** The newest checkpoint file, or null. */
  latest(): Promise<string | null> {
    return latestCheckpoint(this.dir, this.prefix);
  }
}
