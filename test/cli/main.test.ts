import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { main, type CliIO } from '../../src/cli/main';
import { describeError, exitCodeFor } from '../../src/cli/io';
import { resumeCommand } from '../../src/cli/commands/run';
import { CancelledError, ConfigError, GraphValidationError, NodeRuntimeError, UsageError } from '../../src/errors';

const FIX = 'test/fixtures/runtime/graphs';
const PIPELINE = `${FIX}/pipeline.json5`;

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const progress = new PassThrough();
  progress.on('data', (d: Buffer) => (err += d.toString()));
  const io: CliIO = { out: (t) => (out += t), err: (t) => (err += t), progressStream: progress, handleSignals: false };
  const code = await main(args, io);
  return { code, out, err };
}

let tmp: string;

describe('cli', () => {
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-cli-'));
  });
  afterEach(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('validate: ok and a summary of the resolved graph', async () => {
    const r = await cli('validate', PIPELINE);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, [
      `ok: ${PIPELINE}`,
      'graph "fixture-pipeline"',
      'seed: 3',
      'plugins: plugin "runtime-fixtures" (test/fixtures/runtime/plugin)',
      'nodes (4, in run order):',
      '  base     test-value',
      '  trained  test-value',
      '  source   test-batch-source',
      '  sink     test-slow-sink  after: trained',
      'edges (2: 1 resource, 1 stream):',
      '  base.value -> trained.base  (resource: number)',
      '  source.batches -> sink.batches  (stream: batch)',
      '',
    ].join('\n'));
  });

  it('validate: every problem with file:line:col, exit 2', async () => {
    const r = await cli('validate', `${FIX}/bad-config.json5`);
    assert.equal(r.code, 2);
    const file = `${FIX}/bad-config.json5`;
    assert.equal(r.err, [
      `${file}:7:21: nodes.source.type: unknown node type "test-batch-sorce" — did you mean "test-batch-source"?`,
      `${file}:8:11: nodes.sink: missing required input "batches" (expected a stream of batch) — no node in this graph outputs a stream of batch`,
      `${file}:10:26: nodes.sink.config.delayMs: must be >= 0 (found -1)`,
      `${file}: 3 problems found`,
      '',
    ].join('\n'));
    assert.equal(r.out, '');
  });

  it('nodes --json: types, ports with kinds and types, config keys with defaults and descriptions', async () => {
    const r = await cli('nodes', '--json', '--plugin', './test/fixtures/runtime/plugin');
    assert.equal(r.code, 0, r.err);
    const infos = JSON.parse(r.out) as Array<Record<string, any>>;
    const sink = infos.find((i) => i.type === 'test-slow-sink')!;
    assert.equal(sink.source, 'plugin "runtime-fixtures" (test/fixtures/runtime/plugin)');
    assert.deepEqual(sink.inputs.batches, { kind: 'stream', type: 'batch', description: 'Batches to consume.' });
    assert.deepEqual(sink.config.find((c: { key: string }) => c.key === 'delayMs'),
      { key: 'delayMs', type: 'integer', required: false, default: 5, description: 'Time spent on each batch.' });
    const worker = infos.find((i) => i.type === 'test-worker')!;
    assert.equal(worker.config.find((c: { key: string }) => c.key === 'failIn').type, '"create" | "run" | "dispose"');
    // Built-ins are listed too, from their schemas.
    const schedule = infos.find((i) => i.type === 'noise-schedule');
    assert.ok(schedule, 'built-in noise-schedule listed');
    assert.equal(schedule.source, 'built-in');
    assert.equal(schedule.outputs.schedule.kind, 'resource');
    assert.deepEqual(infos.map((i) => i.type), [...infos.map((i) => i.type)].sort());

    const text = await cli('nodes', '--plugin', './test/fixtures/runtime/plugin');
    assert.match(text.out, /^test-slow-sink — Consumes batches slowly, summing x; records how far ahead the producer got\.$/m);
    assert.match(text.out, /^ {4}batches {2}stream<batch> {2}Batches to consume\.$/m);
    assert.match(text.out, /^ {4}delayMs +integer {2}\(default 5\) {2}Time spent on each batch\.$/m);
  });

  it('graph --format mermaid and dot', async () => {
    const m = await cli('graph', PIPELINE, '--format', 'mermaid');
    assert.equal(m.code, 0, m.err);
    assert.match(m.out, /^flowchart LR$/m);
    assert.match(m.out, /n3 ==>\|"batches \(stream: batch\)"\| n4/);
    const d = await cli('graph', PIPELINE, '--format', 'dot');
    assert.equal(d.code, 0);
    assert.match(d.out, /^digraph "fixture-pipeline" \{$/m);
    assert.match(d.out, /"trained" -> "sink" \[label="after", style=dotted, arrowhead=odot\];/);
    const bad = await cli('graph', PIPELINE, '--format', 'png');
    assert.equal(bad.code, 2);
    assert.match(bad.err, /argument 'png' is invalid\. Allowed choices are mermaid, dot\./);
  });

  it('run with --set: completes, exit 0, the override reaches the node and the run folder', async () => {
    const out = path.join(tmp, 'run');
    const r = await cli('run', PIPELINE, '--set', 'source.config.count=6', '--backend', 'cpu', '--out', out, '--progress', 'lines');
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /^backend: cpu \(pure JavaScript, 1 thread; slow: a last resort\)$/m);
    assert.match(r.err, /^run completed in \d+\.\d s — base: completed/m);
    const resolved = JSON.parse(fs.readFileSync(path.join(out, 'graph.resolved.json'), 'utf8'));
    assert.equal(resolved.nodes.source.config.count, 6);
    const metrics = fs.readFileSync(path.join(out, 'logs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.kind === 'metrics');
    assert.equal(metrics.length, 6);
    // sum over batches i = 0..5 of 4 pixels of value i
    assert.equal(metrics[5].values.sum, 4 * 15);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    assert.equal(manifest.status, 'completed');
    assert.equal(manifest.backend.name, 'cpu');
  });

  it('--seed overrides the graph seed; --resume without --out continues the newest run folder of the graph and keeps its seed', async () => {
    const graph = path.resolve(PIPELINE);
    const cwd = process.cwd();
    process.chdir(tmp);
    try {
      let r = await cli('run', graph, '--resume', '--backend', 'cpu', '--progress', 'none');
      assert.equal(r.code, 2);
      assert.match(r.err, /--resume without --out: no run folder of graph "fixture-pipeline" under .*runs; name one with --out/);
      r = await cli('run', graph, '--seed', '9', '--backend', 'cpu', '--progress', 'none');
      assert.equal(r.code, 0, r.err);
      r = await cli('run', graph, '--seed', '4', '--backend', 'cpu', '--progress', 'none');
      assert.equal(r.code, 0, r.err);
      const dirs = fs.readdirSync(path.join(tmp, 'runs')).sort();
      assert.equal(dirs.length, 2);
      const seedOf = (d: string) => JSON.parse(fs.readFileSync(path.join(tmp, 'runs', d, 'manifest.json'), 'utf8')).graph.seed;
      assert.deepEqual(dirs.map(seedOf).sort(), [4, 9]);
      const newest = dirs.find((d) => seedOf(d) === 4)!;
      assert.equal(JSON.parse(fs.readFileSync(path.join(tmp, 'runs', newest, 'graph.resolved.json'), 'utf8')).seed, 4);
      r = await cli('run', graph, '--resume', '--backend', 'cpu', '--progress', 'none');
      assert.equal(r.code, 0, r.err);
      assert.ok(r.err.includes(`resuming the newest run of "fixture-pipeline": runs/${newest}\n`), r.err);
      const manifest = JSON.parse(fs.readFileSync(path.join(tmp, 'runs', newest, 'manifest.json'), 'utf8'));
      assert.equal(manifest.graph.seed, 4, 'the resumed run keeps the seed it started with');
      assert.equal(manifest.attempts.length, 1);
      r = await cli('run', graph, '--resume', '--seed', '5', '--backend', 'cpu', '--progress', 'none');
      assert.equal(r.code, 2);
      assert.ok(r.err.includes(`error: --seed 5 differs from the seed 4 of the run being resumed (runs/${newest}); a resumed run keeps its seed\n`), r.err);
      r = await cli('run', graph, '--seed', '-1');
      assert.equal(r.code, 2);
      assert.equal(r.err, 'error: --seed must be a non-negative integer (found "-1")\n');
    } finally {
      process.chdir(cwd);
    }
  });

  it('run --help shows the --seed and --resume examples', async () => {
    const r = await cli('run', '--help');
    assert.match(r.out, /--seed <N>/);
    assert.match(r.out, /distillery run graphs\/mnist\/distill\.json5 --resume +# continue the newest runs\/mnist-distill-… folder/);
    assert.match(r.out, /distillery run graphs\/mnist\/distill\.json5 --seed 7/);
  });

  it('bad --set, bad --threads, unknown backend: exit 2 with the reason', async () => {
    let r = await cli('run', PIPELINE, '--set', 'source.count=6');
    assert.equal(r.code, 2);
    assert.equal(r.err, '1 problem found:\n  --set "source.count=6": only node config can be set: the path must be <nodeId>.config.<key>, found "source.count" — did you mean "source.config.count"?\n');
    r = await cli('run', PIPELINE, '--set', 'source.config.count=-3');
    assert.equal(r.code, 2);
    assert.match(r.err, /source\.config\.count: must be >= 0 \(found -3\)/);
    r = await cli('run', PIPELINE, '--threads', 'many');
    assert.equal(r.code, 2);
    assert.equal(r.err, 'error: --threads must be a positive integer (found "many")\n');
    r = await cli('run', PIPELINE, '--backend', 'gpu');
    assert.equal(r.code, 2);
    assert.match(r.err, /argument 'gpu' is invalid\. Allowed choices are auto, tensorflow-gpu, webgpu, tensorflow, libtorch, wasm, cpu\./);
    r = await cli('frobnicate');
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown command 'frobnicate'/);
  });

  it('--precision: bf16 on a backend without autocast is refused before the run (exit 2); fp32 runs; bad values are usage errors', async () => {
    const out = path.join(tmp, 'bf16');
    let r = await cli('run', PIPELINE, '--backend', 'cpu', '--precision', 'bf16', '--out', out, '--progress', 'none');
    assert.equal(r.code, 2);
    assert.equal(r.err, 'error: precision bf16 is not available on the cpu backend (it computes in float32 only); ' +
      'bf16 autocast runs on --backend libtorch, or use --precision fp32\n');
    assert.ok(!fs.existsSync(out), 'no run folder before the backend is settled');
    r = await cli('run', PIPELINE, '--backend', 'cpu', '--precision', 'fp16');
    assert.equal(r.code, 2);
    assert.match(r.err, /argument 'fp16' is invalid\. Allowed choices are fp32, bf16\./);
    const ok = path.join(tmp, 'fp32');
    r = await cli('run', PIPELINE, '--backend', 'cpu', '--precision', 'fp32', '--out', ok, '--progress', 'none');
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(fs.readFileSync(path.join(ok, 'manifest.json'), 'utf8')).backend.precision, 'fp32');
  });

  it('the graph\'s precision key applies to the run; --precision overrides it', async () => {
    const graph = path.join(tmp, 'bf16.json5');
    fs.writeFileSync(graph, fs.readFileSync(PIPELINE, 'utf8').replace(/seed: 3,/, "seed: 3,\n  precision: 'bf16',")
      .replace("'../plugin'", JSON.stringify(path.resolve(FIX, '../plugin'))));
    let r = await cli('run', graph, '--backend', 'cpu', '--out', path.join(tmp, 'a'), '--progress', 'none');
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /^error: precision bf16 is not available on the cpu backend/);
    r = await cli('run', graph, '--backend', 'cpu', '--precision', 'fp32', '--out', path.join(tmp, 'b'), '--progress', 'none');
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(fs.readFileSync(path.join(tmp, 'b', 'graph.resolved.json'), 'utf8')).precision, 'bf16');
  });

  it('a failing run: exit 1, names the node and port, prints the resume command', async () => {
    const out = path.join(tmp, 'failing');
    const r = await cli('run', PIPELINE, '--set', 'sink.config.failAt=1', '--backend', 'cpu', '--out', out, '--progress', 'none');
    assert.equal(r.code, 1);
    assert.match(r.err, /^error: node "sink" port "batches": cannot digest batch 1$/m);
    assert.ok(r.err.includes(`to resume: npx distillery run ${PIPELINE} --out ${out} --resume --set sink.config.failAt=1 --backend cpu\n`), r.err);
    const again = await cli('run', PIPELINE, '--backend', 'cpu', '--out', out, '--resume', '--progress', 'none');
    assert.equal(again.code, 0, again.err);
    assert.match(again.err, /\(resumed\)/);
  });

  it('schema writes the full graph schema; --check exits 1 when it is stale', async () => {
    const file = path.join(tmp, 'graph.full.schema.json');
    let r = await cli('schema', '--out', file);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^wrote .*graph\.full\.schema\.json \(\d+ node types\)\n$/);
    const schema = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.ok(JSON.stringify(schema).includes('"noise-schedule"'));
    r = await cli('schema', '--check', '--out', file);
    assert.equal(r.code, 0);
    assert.match(r.out, /is current/);
    fs.appendFileSync(file, ' ');
    r = await cli('schema', '--check', '--out', file);
    assert.equal(r.code, 1);
    assert.match(r.err, /graph\.full\.schema\.json is stale or missing: regenerate it with `npx distillery schema` and commit it\n$/);
    // A plugin's types make a different schema.
    r = await cli('schema', '--check', '--out', file, '--plugin', './test/fixtures/runtime/plugin');
    assert.equal(r.code, 1);
  });

  it('maps errors to exit codes and prints stacks only for unexpected errors', () => {
    assert.equal(exitCodeFor(new UsageError('x')), 2);
    assert.equal(exitCodeFor(new GraphValidationError([{ path: '', message: 'x' }])), 2);
    assert.equal(exitCodeFor(new ConfigError('thing', [])), 2);
    assert.equal(exitCodeFor(new NodeRuntimeError('n', 'x')), 1);
    assert.equal(exitCodeFor(new CancelledError()), 130);
    assert.equal(exitCodeFor(new TypeError('x')), 1);
    assert.equal(describeError(new UsageError('bad flag')), 'error: bad flag');
    assert.match(describeError(new TypeError('oops')), /^unexpected error: TypeError: oops\n {4}at /);
    assert.equal(resumeCommand('g.json5', { set: ["a.config.b=it's"], backend: 'auto', progress: 'auto' }, path.resolve('runs/x')),
      "npx distillery run g.json5 --out runs/x --resume --set 'a.config.b=it'\\''s'");
  });

  it('SIGINT: the run saves state, disposes, prints the resume command, exits 130', async function () {
    this.timeout(60_000);
    const out = path.join(tmp, 'slow');
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'src/cli/main.ts', 'run', `${FIX}/slow.json5`, '--backend', 'cpu', '--out', out, '--progress', 'none'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Wait until the sink has consumed a few batches (its metrics are in the run's log).
    const logs = path.join(out, 'logs.jsonl');
    const deadline = Date.now() + 45_000;
    while (!(fs.existsSync(logs) && (fs.readFileSync(logs, 'utf8').match(/"kind":"metrics"/g) ?? []).length >= 3)) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        assert.fail(`the slow graph did not start: ${err}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 130, err);
    assert.match(err, /SIGINT: cancelling the run; nodes save their state \(press Ctrl-C again to exit now\)/);
    assert.match(err, /run cancelled in/);
    assert.ok(err.includes(`to resume: npx distillery run ${FIX}/slow.json5 --out ${out} --resume --backend cpu`), err);
    const state = JSON.parse(fs.readFileSync(path.join(out, 'sink', 'state.json'), 'utf8'));
    assert.ok(state.consumed >= 3);
    const events = fs.readFileSync(logs, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.kind === 'event');
    const names = events.map((e) => `${e.node ?? 'run'}:${e.event}`);
    assert.ok(names.indexOf('sink:state-saved') < names.indexOf('sink:disposed'));
    assert.equal(names[names.length - 1], 'run:run-cancelled');
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')).status, 'cancelled');
  });

  it('a run that stops making progress (every node waiting, nothing left to run) fails with exit 1 instead of exiting 0', async function () {
    this.timeout(60_000);
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'src/cli/main.ts', 'run', 'test/fixtures/stall/stuck.json5', '--backend', 'cpu',
      '--out', path.join(tmp, 'stuck'), '--progress', 'none'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 50_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearTimeout(killer);
    assert.equal(code, 1, err);
    assert.match(err, /error: the run stopped making progress: every unfinished node is waiting on another, and nothing is left to run/);
  });
});
