import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, FileFormatError, TrainingError } from '../../src/errors';
import { readSafetensorsHeader, tempPathFor, writeSafetensors } from '../../src/io/safetensors';
import { AdamW } from '../../src/training/adamw';
import {
  CheckpointManager, checkpointFileName, latestCheckpoint, listCheckpoints, readCheckpoint, restoreCheckpoint,
  writeCheckpoint,
} from '../../src/training/checkpoint';
import { EmaWeights } from '../../src/training/ema';
import { Rng } from '../../src/training/rng';
import { variable } from './helpers';

interface Run {
  vars: Map<string, tf.Variable>;
  opt: AdamW;
  ema: EmaWeights;
  rng: { noise: Rng; timesteps: Rng };
  dispose(): void;
}

function makeRun(seed = 5): Run {
  const vars = new Map([
    ['layer.weight', variable(tf.tensor2d([[0.5, -1], [2, 0.25]]))],
    ['layer.bias', variable(tf.tensor1d([0.1, -0.2]))],
  ]);
  const opt = new AdamW(vars, { lr: 0.01, weightDecay: 0.01 });
  const ema = new EmaWeights(vars, { decay: 0.9 });
  const root = Rng.fromSeed(seed);
  const rng = { noise: root.fork('noise'), timesteps: root.fork('timesteps') };
  return { vars, opt, ema, rng, dispose: () => { opt.dispose(); ema.dispose(); tf.dispose([...vars.values()]); } };
}

/** One training step whose gradient depends on the noise stream: exercises weights, optimizer, EMA and RNG. */
function step(run: Run): void {
  const g = new Map<string, tf.Tensor>();
  for (const [name, v] of run.vars) g.set(name, tf.tensor(run.rng.noise.normalArray(v.size), v.shape));
  run.rng.timesteps.int(1000);
  run.opt.step(g);
  run.ema.update();
  tf.dispose([...g.values()]);
}

describe('training/checkpoint', () => {
  let dir: string;
  let before: number;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-ckpt-'));
    before = tf.memory().numTensors;
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('round trip: a restored run continues exactly like the original', async () => {
    const a = makeRun();
    step(a);
    step(a);
    const file = path.join(dir, checkpointFileName(2));
    assert.equal(path.basename(file), 'checkpoint-000000002.safetensors');
    await writeCheckpoint(file, {
      step: 2, model: a.vars, ema: a.ema, optimizer: a.opt, rng: a.rng,
      extra: { round: 1, stream: { epoch: 0, batch: 7 } }, metrics: { evalLoss: 0.25 },
    });
    // Layout on disk.
    const header = await readSafetensorsHeader(file);
    assert.deepEqual(header.entries.map((e) => e.name).sort(), [
      'ema.layer.bias', 'ema.layer.weight', 'model.layer.bias', 'model.layer.weight',
      'optim.m.layer.bias', 'optim.m.layer.weight', 'optim.v.layer.bias', 'optim.v.layer.weight',
    ]);
    assert.ok(header.entries.every((e) => e.dtype === 'F32'));
    assert.equal(header.metadata.format, 'distillery-checkpoint');
    assert.equal(header.metadata.version, '1');
    assert.equal(header.metadata.step, '2');

    const loaded = await readCheckpoint(file, a.vars);
    assert.equal(loaded.step, 2);
    assert.deepEqual(loaded.extra, { round: 1, stream: { epoch: 0, batch: 7 } });
    assert.deepEqual(loaded.metrics, { evalLoss: 0.25 });
    assert.deepEqual(loaded.rng.noise, a.rng.noise.getState());
    assert.deepEqual(loaded.optimizer!.hyper, { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
    assert.equal(loaded.optimizer!.step, 2);
    assert.equal(loaded.ema!.updates, 2);
    assert.equal(loaded.ema!.decay, 0.9);
    assert.deepEqual(Array.from(loaded.model.get('layer.weight')!.dataSync()), Array.from(a.vars.get('layer.weight')!.dataSync()));

    const b = makeRun(99); // different seed and, after restore, identical state
    restoreCheckpoint(loaded, { variables: b.vars, ema: b.ema, optimizer: b.opt, rng: b.rng });
    loaded.dispose();
    step(a);
    step(b);
    for (const name of a.vars.keys()) {
      assert.deepEqual(Array.from(b.vars.get(name)!.dataSync()), Array.from(a.vars.get(name)!.dataSync()), name);
      assert.deepEqual(Array.from(b.ema.weights.get(name)!.dataSync()), Array.from(a.ema.weights.get(name)!.dataSync()), `ema ${name}`);
    }
    assert.equal(b.opt.stepCount, 3);
    assert.equal(b.rng.timesteps.int(1000), a.rng.timesteps.int(1000));
    a.dispose();
    b.dispose();
    assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
  });

  it('a model-only checkpoint reads back without EMA and optimizer', async () => {
    const a = makeRun();
    const file = path.join(dir, 'm.safetensors');
    await writeCheckpoint(file, { step: 0, model: a.vars });
    const loaded = await readCheckpoint(file);
    assert.equal(loaded.ema, undefined);
    assert.equal(loaded.optimizer, undefined);
    assert.deepEqual(loaded.rng, {});
    assert.throws(() => restoreCheckpoint(loaded, { variables: a.vars, ema: a.ema, rng: { noise: a.rng.noise } }),
      (e: unknown) => e instanceof FileFormatError && e.message.includes('cannot restore checkpoint (2 problems)') &&
        e.message.includes('the checkpoint has no EMA weights') && e.message.includes('the checkpoint has no RNG stream "noise"'));
    loaded.dispose();
    a.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('reading verifies names and shapes against the model, listing every mismatch', async () => {
    const a = makeRun();
    const file = path.join(dir, 'c.safetensors');
    await writeCheckpoint(file, { step: 3, model: a.vars });
    const expected = new Map<string, { shape: number[] }>([
      ['layer.weight', { shape: [2, 3] }],
      ['layer.other', { shape: [1] }],
    ]);
    await assert.rejects(readCheckpoint(file, expected), (e: unknown) => e instanceof FileFormatError &&
      e.message.startsWith(`${file}: checkpoint does not match the model (3 problems):`) &&
      e.message.includes('layer.weight: checkpoint has [2,2], model has [2,3]') &&
      e.message.includes('layer.other: missing from the checkpoint') &&
      e.message.includes('layer.bias: in the checkpoint but not in the model'));
    a.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('refuses files that are not consistent checkpoints', async () => {
    const plain = path.join(dir, 'plain.safetensors');
    await writeSafetensors(plain, { w: { dtype: 'F32', shape: [1], data: [1] } });
    await assert.rejects(readCheckpoint(plain),
      /not a Distillery checkpoint \(metadata "format" is undefined, expected "distillery-checkpoint"\)/);
    const meta = (state: object): Record<string, string> => ({ format: 'distillery-checkpoint', version: '1', step: '1', state: JSON.stringify(state) });
    const odd = path.join(dir, 'odd.safetensors');
    await writeSafetensors(odd, {
      'model.a': { dtype: 'F32', shape: [2], data: [1, 2] },
      'model.b': { dtype: 'F32', shape: [1], data: [1] },
      'ema.a': { dtype: 'F32', shape: [3], data: [1, 2, 3] },
      'stray': { dtype: 'F32', shape: [1], data: [0] },
    }, meta({ ema: { updates: 1 }, rng: {}, extra: {}, metrics: {} }));
    await assert.rejects(readCheckpoint(odd), (e: unknown) => e instanceof FileFormatError &&
      e.message.includes('inconsistent checkpoint:') &&
      e.message.includes('tensor "stray" has no known prefix (model., ema., optim.m., optim.v.)') &&
      e.message.includes('ema.b: missing') && e.message.includes('ema.a: shape [3], model weight has [2]'));
    const badState = path.join(dir, 'state.safetensors');
    await writeSafetensors(badState, { 'model.a': { dtype: 'F32', shape: [1], data: [1] } },
      { format: 'distillery-checkpoint', version: '1', step: '1', state: '{"rng":{},"extra":{},"metrics":{},"what":1}' });
    await assert.rejects(readCheckpoint(badState), (e: unknown) => e instanceof FileFormatError && e.message ===
      `${badState}: checkpoint metadata "state" is invalid (1 problem):\n` +
      '  what: unknown property "what" — known properties: "optimizer", "ema", "rng", "extra", "metrics"');
    await writeSafetensors(badState, { 'model.a': { dtype: 'F32', shape: [1], data: [1] } },
      { format: 'distillery-checkpoint', version: '2', step: '1', state: '{}' });
    await assert.rejects(readCheckpoint(badState), /unsupported checkpoint version "2" \(this build reads "1"\)/);
    assert.equal(tf.memory().numTensors, before);
  });

  it('a corrupted resume state is refused before anything is restored, every problem with its JSON path', async () => {
    // A checkpoint as a trainer writes it, whose metadata "state" was then damaged by hand.
    const a = makeRun();
    const good = path.join(dir, 'good.safetensors');
    await writeCheckpoint(good, { step: 3, model: a.vars, ema: a.ema, optimizer: a.opt, rng: { noise: a.rng.noise }, metrics: { evalLoss: 0.5 } });
    const header = await readSafetensorsHeader(good);
    const state = JSON.parse(header.metadata.state) as Record<string, any>;
    state.optimizer.lr = '1e-4';
    delete state.optimizer.eps;
    state.ema.updates = -1;
    state.rng.noise.s = state.rng.noise.s.slice(0, 3);
    state.metrics.evalLoss = 'low';
    state.metric = {};
    const corrupted = path.join(dir, 'corrupted.safetensors');
    const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: number[] }> = {};
    for (const entry of header.entries) {
      tensors[entry.name] = { dtype: 'F32', shape: entry.shape, data: new Array(entry.shape.reduce((x, y) => x * y, 1)).fill(0) };
    }
    await writeSafetensors(corrupted, tensors, { ...header.metadata, state: JSON.stringify(state) });
    const live = tf.memory().numTensors;
    await assert.rejects(readCheckpoint(corrupted), (e: unknown) => e instanceof FileFormatError && e.message === [
      `${corrupted}: checkpoint metadata "state" is invalid (6 problems):`,
      '  metric: unknown property "metric" — did you mean "metrics"?',
      '  optimizer: missing required property "eps"',
      '  optimizer.lr: must be a number (expected number, found string "1e-4")',
      '  ema.updates: must be >= 0 (found -1)',
      '  rng.noise.s: must have at least 4 items (found an array of 3 items)',
      '  metrics.evalLoss: must be a number (expected number, found string "low")',
    ].join('\n') && e.problems.length === 6 && e.problems[2].path === 'optimizer.lr');
    assert.equal(tf.memory().numTensors, live, 'nothing was loaded');
    a.dispose();
  });

  it('keeps the last N, finds the latest, and ignores temp files and best.safetensors', async () => {
    const a = makeRun();
    const mgr = new CheckpointManager({ dir: path.join(dir, 'ckpts'), keepLast: 2 });
    assert.equal(await mgr.latest(), null, 'missing directory: no checkpoint');
    const deleted: string[] = [];
    for (const s of [10, 20, 30, 40]) deleted.push(...(await mgr.save({ step: s, model: a.vars })).deleted.map((f) => path.basename(f)));
    assert.deepEqual(deleted, ['checkpoint-000000010.safetensors', 'checkpoint-000000020.safetensors']);
    // A crash mid-write leaves at worst a hidden temp file: it never matches the checkpoint pattern.
    const stray = tempPathFor(path.join(mgr.dir, checkpointFileName(50)));
    fs.writeFileSync(stray, 'partial');
    assert.deepEqual((await listCheckpoints(mgr.dir)).map((c) => c.step), [30, 40]);
    assert.equal(await latestCheckpoint(mgr.dir), path.join(mgr.dir, 'checkpoint-000000040.safetensors'));
    assert.equal(await mgr.latest(), path.join(mgr.dir, 'checkpoint-000000040.safetensors'));
    assert.deepEqual(fs.readdirSync(mgr.dir).sort(), [path.basename(stray), 'checkpoint-000000030.safetensors', 'checkpoint-000000040.safetensors'].sort());
    a.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('keeps the best checkpoint by a metric', async () => {
    const a = makeRun();
    const mgr = new CheckpointManager({ dir, keepLast: 1, best: { metric: 'evalLoss', mode: 'min' } });
    const results = [];
    for (const [s, loss] of [[1, 0.5], [2, 0.7], [3, 0.3], [4, 0.4]]) {
      results.push((await mgr.save({ step: s, model: a.vars, metrics: { evalLoss: loss } })).isBest);
    }
    assert.deepEqual(results, [true, false, true, false]);
    assert.equal(await mgr.bestValue(), 0.3);
    const best = await readCheckpoint(mgr.bestFile);
    assert.equal(best.step, 3);
    best.dispose();
    // Saves without metrics do not compete; metrics without the configured one are an error.
    assert.equal((await mgr.save({ step: 5, model: a.vars })).isBest, false);
    await assert.rejects(mgr.save({ step: 6, model: a.vars, metrics: { evalLos: 0.1 } }), (e: unknown) =>
      e instanceof TrainingError && e.message === 'metrics ["evalLos"] lack "evalLoss", the metric that selects the best checkpoint');
    assert.deepEqual(fs.readdirSync(dir).sort(), ['best.safetensors', 'checkpoint-000000005.safetensors']);
    a.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('overlapping saves of the same step (training loop and saveState on cancel) keep the metric in best.safetensors', async () => {
    // The race this guards: the loop's save (with evalLoss) is in flight when the runtime's saveState
    // checkpoints the same step without metrics; interleaved, the metric-less file was copied to best.
    const a = makeRun();
    const mgr = new CheckpointManager({ dir, keepLast: 2, best: { metric: 'evalLoss', mode: 'min' } });
    const [withMetric, without] = await Promise.all([
      mgr.save({ step: 2, model: a.vars, metrics: { evalLoss: 0.25 } }),
      mgr.save({ step: 2, model: a.vars }),
    ]);
    assert.equal(withMetric.isBest, true);
    assert.equal(without.isBest, false);
    assert.equal(await mgr.bestValue(), 0.25);
    a.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('a failed save leaves existing checkpoints untouched and writes nothing', async () => {
    const a = makeRun();
    const mgr = new CheckpointManager({ dir, keepLast: 1 });
    await mgr.save({ step: 1, model: a.vars });
    const bytes = fs.readFileSync(path.join(dir, 'checkpoint-000000001.safetensors'));
    await assert.rejects(mgr.save({ step: 2, model: a.vars, extra: { big: 1n } }),
      /checkpoint extra data is not JSON-serialisable/);
    assert.deepEqual(fs.readdirSync(dir), ['checkpoint-000000001.safetensors']);
    assert.deepEqual(fs.readFileSync(path.join(dir, 'checkpoint-000000001.safetensors')), bytes);
    a.dispose();
    assert.equal(tf.memory().numTensors, before, 'the snapshot tensors of the failed save are disposed');
  });

  it('validates manager options', () => {
    assert.throws(() => new CheckpointManager({ dir: '', keepLast: 0, prefix: 'a/b', best: { metric: '', mode: 'low' as 'min' } }),
      (e: unknown) => e instanceof ConfigError && e.message === [
        'invalid checkpoint options:',
        '  dir: must be at least 1 character long (found "")',
        '  keepLast: must be >= 1 (found 0)',
        '  best.metric: must be at least 1 character long (found "")',
        '  best.mode: must be one of "min", "max" (found "low")',
        '  prefix: must match pattern ^[A-Za-z0-9_-]+$ (found "a/b") — File-name prefix: letters, digits, "_" or "-".',
      ].join('\n'));
  });
});
