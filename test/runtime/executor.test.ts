import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import * as tf from '@tensorflow/tfjs-core';
import { runGraph, nodeSeed, type RunOptions } from '../../src/runtime/executor';
import { CancelledError, NodeRuntimeError, UsageError } from '../../src/errors';
import { fixtureNodeTypes, newProbe, type Probe } from '../fixtures/runtime/node-types';
import { buildGraph, type NodeSpec } from '../fixtures/runtime/graph';

let tmp: string;

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

async function run(probe: Probe, nodes: Record<string, NodeSpec>, options: RunOptions = {}) {
  const graph = buildGraph('fixture', fixtureNodeTypes(probe), nodes, 7);
  const out = sink();
  const result = await runGraph(graph, { runsDir: tmp, progress: 'none', output: out.stream, argv: ['node', 'test'], ...options });
  return { result, output: out.text() };
}

const idx = (events: string[], e: string): number => {
  const i = events.indexOf(e);
  assert.ok(i >= 0, `event ${e} missing from ${events.join(', ')}`);
  return i;
};

describe('runtime/executor', () => {
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-exec-'));
  });
  afterEach(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('orders nodes by resources (Promises included) and `after`, disposes each once in reverse creation order', async () => {
    const probe = newProbe();
    const { result } = await run(probe, {
      base: { type: 'test-value', config: { value: 2, delayMs: 20 } },
      // `trained` is created only when base's promise has resolved, and receives its value.
      trained: { type: 'test-value', config: { value: 3 }, inputs: { base: 'base.value' } },
      first: { type: 'test-worker', config: { workMs: 15 } },
      second: { type: 'test-worker', config: { workMs: 1 }, inputs: { input: 'trained.value' }, after: ['first'] },
    });
    assert.equal(result.status, 'completed', result.error?.message);
    const ev = probe.events;
    assert.ok(idx(ev, 'resolved:base') < idx(ev, 'create:trained'));
    assert.equal(probe.received.trained, 2);
    assert.equal(probe.received.second, 5);
    assert.ok(idx(ev, 'run-end:first') < idx(ev, 'create:second'));
    // Every created node disposed exactly once, in reverse creation order.
    const created = ev.filter((e) => e.startsWith('create:')).map((e) => e.slice(7));
    const disposed = ev.filter((e) => e.startsWith('dispose:')).map((e) => e.slice(8));
    assert.deepEqual(disposed, [...created].reverse());
    assert.ok(idx(ev, 'run-end:second') < idx(ev, 'dispose:second'));
    assert.deepEqual(result.nodes.map((n) => [n.id, n.status]), [['base', 'completed'], ['trained', 'completed'], ['first', 'completed'], ['second', 'completed']]);
    assert.ok(result.nodes.every((n) => typeof n.durationMs === 'number' && n.durationMs >= 0));
  });

  it('streams batches with backpressure through the graph and leaks no tensors', async () => {
    const probe = newProbe();
    const before = tf.memory().numTensors;
    const { result } = await run(probe, {
      source: { type: 'test-batch-source', config: { count: 12, highWaterMark: 2 } },
      sink: { type: 'test-slow-sink', config: { delayMs: 3 }, inputs: { batches: 'source.batches' } },
    });
    assert.equal(result.status, 'completed', result.error?.message);
    assert.equal(probe.consumed.sink, 12);
    assert.equal(probe.received.sink, 4 * (0 + 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + 11)); // sum of x: 4 pixels of value i
    assert.ok(probe.maxAhead.sink <= 3, `producer ran ${probe.maxAhead.sink} ahead`);
    const counts = probe.tensorCounts;
    assert.ok(Math.max(...counts) - before <= 2 * 3 + 1, `tensor count grew to ${Math.max(...counts) - before}`);
    assert.equal(tf.memory().numTensors, before);
  });

  it('a stream consumer created late (waiting on a Promise resource) still sees every item; fan-out to two sinks', async () => {
    const probe = newProbe();
    const before = tf.memory().numTensors;
    const { result } = await run(probe, {
      source: { type: 'test-batch-source', config: { count: 6 } },
      gate: { type: 'test-worker', config: { workMs: 20 } },
      early: { type: 'test-slow-sink', config: { delayMs: 0 }, inputs: { batches: 'source.batches' } },
      late: { type: 'test-slow-sink', config: { delayMs: 2 }, inputs: { batches: 'source.batches' }, after: ['gate'] },
    });
    assert.equal(result.status, 'completed', result.error?.message);
    assert.equal(probe.consumed.early, 6);
    assert.equal(probe.consumed.late, 6);
    assert.equal(tf.memory().numTensors, before);
  });

  it('a failing node: NodeRuntimeError names it, the others see the abort, everything is disposed', async () => {
    const probe = newProbe();
    const before = tf.memory().numTensors;
    const { result, output } = await run(probe, {
      source: { type: 'test-batch-source', config: { count: 1000 } },
      sink: { type: 'test-slow-sink', config: { delayMs: 1 }, inputs: { batches: 'source.batches' } },
      bystander: { type: 'test-worker', config: { waitForAbort: true } },
      broken: { type: 'test-worker', config: { workMs: 10, failMessage: 'out of paper' } },
      downstream: { type: 'test-worker', inputs: { input: 'broken.done' } },
    });
    assert.equal(result.status, 'failed');
    assert.ok(result.error instanceof NodeRuntimeError);
    assert.equal(result.error.message, 'node "broken": out of paper');
    assert.equal((result.error as NodeRuntimeError).nodeId, 'broken');
    assert.ok(probe.events.includes('abort:bystander'));
    assert.ok(probe.events.includes('abort:sink'));
    assert.ok(!probe.events.includes('create:downstream'), 'a node whose input failed is never created');
    for (const id of ['source', 'sink', 'bystander', 'broken']) {
      assert.equal(probe.events.filter((e) => e === `dispose:${id}`).length, 1, `${id} disposed once`);
    }
    assert.ok(!probe.events.some((e) => e.startsWith('save:')), 'saveState is for cancellation only');
    const status = Object.fromEntries(result.nodes.map((n) => [n.id, n.status]));
    assert.deepEqual(status, { source: 'completed', sink: 'cancelled', bystander: 'cancelled', broken: 'failed', downstream: 'cancelled' });
    assert.equal(tf.memory().numTensors, before);
    const manifest = JSON.parse(fs.readFileSync(path.join(result.runDir, 'manifest.json'), 'utf8'));
    assert.equal(manifest.status, 'failed');
    assert.equal(manifest.error, 'node "broken": out of paper');
    assert.match(output, /^backend: /);
  });

  it('a failing stream producer is named with its port; a failing handler with the consumer and its input port', async () => {
    const before = tf.memory().numTensors;
    let probe = newProbe();
    let { result } = await run(probe, {
      source: { type: 'test-batch-source', config: { count: 10, failAt: 3 } },
      sink: { type: 'test-slow-sink', config: { delayMs: 1 }, inputs: { batches: 'source.batches' } },
    });
    assert.equal(result.status, 'failed');
    assert.equal(result.error?.message, 'node "source" port "batches": stream failed: batch 3 is unreadable');
    assert.equal((result.error as NodeRuntimeError).port, 'batches');
    assert.equal(result.nodes.find((n) => n.id === 'source')?.status, 'failed');
    assert.equal(tf.memory().numTensors, before, 'no leak after a producer failure');

    probe = newProbe();
    ({ result } = await run(probe, {
      source: { type: 'test-batch-source', config: { count: 10 } },
      sink: { type: 'test-slow-sink', config: { delayMs: 1, failAt: 2 }, inputs: { batches: 'source.batches' } },
    }));
    assert.equal(result.status, 'failed');
    assert.equal(result.error?.message, 'node "sink" port "batches": cannot digest batch 2');
    assert.deepEqual(probe.events.filter((e) => e.startsWith('dispose:')), ['dispose:sink', 'dispose:source']);
    assert.equal(tf.memory().numTensors, before);
  });

  it('errors in create and in a resource Promise name the node and port', async () => {
    let probe = newProbe();
    let { result } = await run(probe, {
      ok: { type: 'test-worker', config: { waitForAbort: true } },
      bad: { type: 'test-worker', config: { failMessage: 'no such file: weights.bin', failIn: 'create' } },
    });
    assert.equal(result.error?.message, 'node "bad": no such file: weights.bin');
    assert.ok(!probe.events.includes('dispose:bad'), 'a node whose create threw has nothing to dispose');
    assert.equal(probe.events.filter((e) => e === 'dispose:ok').length, 1);

    probe = newProbe();
    ({ result } = await run(probe, {
      teacher: { type: 'test-value', config: { delayMs: 5, failMessage: 'diverged at step 40' } },
      student: { type: 'test-value', inputs: { base: 'teacher.value' } },
    }));
    assert.equal(result.error?.message, 'node "teacher" port "value": resource output failed: diverged at step 40');
    assert.ok(!probe.events.includes('create:student'));
  });

  it('a dispose error fails an otherwise good run, after every node was disposed', async () => {
    const probe = newProbe();
    const { result } = await run(probe, {
      a: { type: 'test-worker' },
      b: { type: 'test-worker', config: { failMessage: 'handle already closed', failIn: 'dispose' } },
      c: { type: 'test-worker' },
    });
    assert.equal(result.status, 'failed');
    assert.equal(result.error?.message, 'node "b": dispose failed: handle already closed');
    assert.deepEqual(probe.events.filter((e) => e.startsWith('dispose:')), ['dispose:c', 'dispose:b', 'dispose:a']);
  });

  it('cancellation mid-stream: saveState then dispose for every node, status cancelled, no leaks', async () => {
    const probe = newProbe();
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    const pending = run(probe, {
      source: { type: 'test-batch-source', config: { count: 100000 } },
      sink: { type: 'test-slow-sink', config: { delayMs: 2 }, inputs: { batches: 'source.batches' } },
      trainer: { type: 'test-worker', config: { waitForAbort: true } },
    }, { signal: controller.signal });
    while ((probe.consumed.sink ?? 0) < 5) await new Promise((r) => setTimeout(r, 2));
    controller.abort();
    const { result } = await pending;
    assert.equal(result.status, 'cancelled');
    assert.ok(result.error instanceof CancelledError);
    const ev = probe.events;
    for (const id of ['sink', 'trainer']) assert.ok(idx(ev, `save:${id}`) < idx(ev, `dispose:${id}`));
    for (const id of ['source', 'sink', 'trainer']) assert.equal(ev.filter((e) => e === `dispose:${id}`).length, 1);
    const lastSave = Math.max(...ev.map((e, i) => (e.startsWith('save:') ? i : -1)));
    const firstDispose = ev.findIndex((e) => e.startsWith('dispose:'));
    assert.ok(lastSave < firstDispose, 'all states saved before anything is disposed');
    assert.ok(probe.consumed.sink < 100000);
    assert.equal(tf.memory().numTensors, before);
    const manifest = JSON.parse(fs.readFileSync(path.join(result.runDir, 'manifest.json'), 'utf8'));
    assert.equal(manifest.status, 'cancelled');
  });

  it('writes the run folder: resolved graph, manifest, logs.jsonl with metrics, node folders on demand', async () => {
    const probe = newProbe();
    const { result, output } = await run(probe, {
      source: { type: 'test-batch-source', config: { count: 3 } },
      sink: { type: 'test-slow-sink', config: { delayMs: 0, saveFile: false }, inputs: { batches: 'source.batches' } },
    }, { progress: 'lines' });
    assert.equal(result.status, 'completed');
    assert.equal(path.dirname(result.runDir), tmp);
    assert.match(path.basename(result.runDir), /^fixture-\d{8}-\d{6}$/);
    assert.deepEqual(fs.readdirSync(result.runDir).sort(), ['graph.resolved.json', 'logs.jsonl', 'manifest.json', 'tensorboard']);
    const resolved = JSON.parse(fs.readFileSync(path.join(result.runDir, 'graph.resolved.json'), 'utf8'));
    assert.equal(resolved.name, 'fixture');
    const manifest = JSON.parse(fs.readFileSync(path.join(result.runDir, 'manifest.json'), 'utf8'));
    assert.equal(manifest.status, 'completed');
    assert.equal(manifest.graph.seed, 7);
    assert.equal(manifest.node, process.version);
    assert.equal(manifest.distillery, JSON.parse(fs.readFileSync('package.json', 'utf8')).version);
    assert.deepEqual(manifest.argv, ['node', 'test']);
    assert.equal(manifest.backend.name, 'cpu');
    assert.ok(Date.parse(manifest.endedAt) >= Date.parse(manifest.startedAt));
    const lines = fs.readFileSync(path.join(result.runDir, 'logs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const metrics = lines.filter((l) => l.kind === 'metrics');
    assert.deepEqual(metrics.map((m) => [m.node, m.step, m.values.sum]), [['sink', 1, 0], ['sink', 2, 4], ['sink', 3, 12]]);
    assert.deepEqual(lines.filter((l) => l.kind === 'event' && l.node === 'sink').map((l) => l.event), ['created', 'run-started', 'finished', 'disposed']);
    assert.equal(lines[lines.length - 1].event, 'run-completed');
    // Lines mode prints the progress label with step/total and the final line.
    assert.match(output, /\[sink\] batches 3\/0 .*done sum=12/);
  });

  it('resumes into an existing run folder: ctx.resume, appended logs, attempts in the manifest', async () => {
    const outDir = path.join(tmp, 'my-run');
    const probe = newProbe();
    const controller = new AbortController();
    const first = run(probe, {
      source: { type: 'test-batch-source', config: { count: 100000 } },
      sink: { type: 'test-slow-sink', config: { delayMs: 1, saveFile: true }, inputs: { batches: 'source.batches' } },
    }, { outDir, signal: controller.signal });
    while ((probe.consumed.sink ?? 0) < 3) await new Promise((r) => setTimeout(r, 2));
    controller.abort();
    const { result } = await first;
    assert.equal(result.status, 'cancelled');
    const saved = JSON.parse(fs.readFileSync(path.join(outDir, 'sink', 'state.json'), 'utf8'));
    assert.ok(saved.consumed >= 3);
    const logLines = fs.readFileSync(path.join(outDir, 'logs.jsonl'), 'utf8').trim().split('\n').length;

    // Without --resume an existing run folder is refused.
    await assert.rejects(run(newProbe(), { a: { type: 'test-worker' } }, { outDir }),
      (err: unknown) => err instanceof UsageError && err.message === `--out ${outDir} exists and is not empty; add --resume to continue that run, or choose another folder`);

    const probe2 = newProbe();
    const second = await run(probe2, { a: { type: 'test-worker' } }, { outDir, resume: true });
    assert.equal(second.result.status, 'completed');
    assert.ok(probe2.events.includes('resume:a'), 'nodes see ctx.resume = true');
    assert.equal(second.result.runDir, outDir);
    const manifest = JSON.parse(fs.readFileSync(path.join(outDir, 'manifest.json'), 'utf8'));
    assert.equal(manifest.status, 'completed');
    assert.deepEqual(manifest.attempts.map((a: { status: string }) => a.status), ['cancelled']);
    const lines = fs.readFileSync(path.join(outDir, 'logs.jsonl'), 'utf8').trim().split('\n');
    assert.ok(lines.length > logLines);
    assert.equal(JSON.parse(lines[logLines]).event, 'run-resumed');
  });

  it('resuming needs an existing run folder', async () => {
    await assert.rejects(run(newProbe(), { a: { type: 'test-worker' } }, { outDir: path.join(tmp, 'nope'), resume: true }),
      (err: unknown) => err instanceof UsageError && err.message === `cannot resume: ${path.join(tmp, 'nope')} is not a run folder (no manifest.json)`);
  });

  it('gives each node a stable seed derived from the graph seed and its id', () => {
    // Expected values: 32-bit FNV-1a of the UTF-8 strings "7:a" and "7:b", computed with an independent
    // Python loop (h ^= byte; h = h * 16777619 mod 2^32, from 2166136261).
    assert.equal(nodeSeed(7, 'a'), 1037474463);
    assert.equal(nodeSeed(7, 'b'), 1054252082);
    assert.notEqual(nodeSeed(8, 'a'), nodeSeed(7, 'a'));
  });

  it('runs a graph of more than ten nodes without a MaxListenersExceededWarning (each node listens to the run signal)', async () => {
    const probe = newProbe();
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w.name);
    };
    process.on('warning', onWarning);
    try {
      const nodes: Record<string, NodeSpec> = {};
      for (let i = 0; i < 14; i++) nodes[`w${i}`] = { type: 'test-worker', config: { workMs: 1 } };
      const { result } = await run(probe, nodes);
      assert.equal(result.status, 'completed', result.error?.message);
      await new Promise((r) => setImmediate(r)); // process warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(warnings.filter((n) => n === 'MaxListenersExceededWarning'), []);
  });
});
