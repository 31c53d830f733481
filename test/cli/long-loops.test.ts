/**
 * Guard for issue 13: every long loop gives the event loop its turns, so that progress lines (a timer)
 * appear while it runs and Ctrl-C (a signal handler) stops it at the next step instead of at its end.
 *
 * Each case runs a real node type on the tiny test models in a child process (`distillery run`, CPU
 * backend, progress lines every 0.2 s), waits until its progress line has been printed twice with
 * different counts (or, for the replay-target loop, whose count stands still, three times), sends SIGINT,
 * and checks the outcome: exit 130, the cancel message, the resume command, the stage stopped far from its
 * last step, and (training) a checkpoint of the step it reached that `--resume` continues from exactly.
 * Without the event-loop turns the child prints no progress line until the loop ends, and the loops are
 * sized to take far longer than the test's own time limit, so these tests fail instead of passing late.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeLatentShard } from '../../src/io/shards';
import { listCheckpoints } from '../../src/training/checkpoint';
import { tinyLatents } from '../helpers/tiny';

const PLUGIN = path.resolve('test/fixtures/long-loops/plugin');

interface ChildRun {
  code: number | null;
  output: string;
  /** `[node] label k/total` lines of the watched node, in order. */
  counts: Array<{ current: number; total: number }>;
}

function progressCounts(output: string, node: string, label: string): Array<{ current: number; total: number }> {
  const re = new RegExp(`^\\[${node}\\] ${label} (\\d+)/(\\d+)`, 'gm');
  return [...output.matchAll(re)].map((m) => ({ current: Number(m[1]), total: Number(m[2]) }));
}

/**
 * Runs `graph` in a child; once `ready(counts)` holds for the watched progress track, sends SIGINT
 * (unless `interrupt` is false) and waits for the exit. The child is SIGKILLed if it outlives `limitMs`.
 */
async function runChild(graph: string, out: string, watch: { node: string; label: string }, o: {
  interrupt: boolean; ready?: (counts: ChildRun['counts']) => boolean; extra?: string[]; limitMs?: number;
}): Promise<ChildRun> {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'src/cli/main.ts', 'run', graph, '--backend', 'cpu', '--out', out,
    '--progress', 'lines', '--progress-interval', '0.2', ...(o.extra ?? [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let signalled = false;
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), o.limitMs ?? 90_000);
  const onData = (d: Buffer): void => {
    output += d.toString();
    if (o.interrupt && !signalled && o.ready?.(progressCounts(output, watch.node, watch.label))) {
      signalled = true;
      child.kill('SIGINT');
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  try {
    const code = await exited;
    return { code, output, counts: progressCounts(output, watch.node, watch.label) };
  } finally {
    clearTimeout(killer);
  }
}

/** At least two lines of the track strictly inside the loop, with different counts: the count moved on screen. */
function movedTwice(counts: ChildRun['counts']): boolean {
  const inside = counts.filter((c) => c.current > 0 && c.current < c.total);
  return new Set(inside.map((c) => c.current)).size >= 2;
}

function assertCancelled(run: ChildRun, graph: string, out: string): void {
  assert.equal(run.code, 130, run.output);
  assert.match(run.output, /SIGINT: cancelling the run; nodes save their state/);
  assert.match(run.output, /run cancelled in/);
  assert.ok(run.output.includes(`to resume: npx distillery run ${path.relative(process.cwd(), graph)} --out ${path.relative(process.cwd(), out)} --resume --backend cpu`)
    || run.output.includes('--resume --backend cpu'), run.output);
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')).status, 'cancelled');
}

describe('long loops: progress lines while they run, and Ctrl-C stops them at the next step (child processes)', function () {
  this.timeout(180_000);
  let tmp: string;
  let shards: string;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'long-loops-'));
    shards = path.join(tmp, 'shards');
    await writeLatentShard(path.join(shards, 'train', 'a.safetensors'), tinyLatents(64, 1), { dtype: 'F32' });
    await writeLatentShard(path.join(shards, 'test.safetensors'), tinyLatents(12, 2), { dtype: 'F32' });
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  function writeGraph(name: string, nodes: string): string {
    const file = path.join(tmp, `${name}.json5`);
    fs.writeFileSync(file, `{
  version: 1, name: '${name}', seed: 5, plugins: ['${PLUGIN}'],
  nodes: {
    schedule: { type: 'noise-schedule', config: { betaSchedule: 'linear', predictionType: 'v_prediction' } },
    unet: { type: 'test-tiny-unet', config: { predictionType: 'v_prediction' } },
    data: { type: 'latent-dataset', config: { path: '${shards}/train', testPath: '${shards}/test.safetensors', batchSize: 8, numClasses: 3, nullClass: 3, labelDropout: 0.1 } },
    ${nodes}
  },
}`);
    return file;
  }

  it('a training stage: lines during the stage; SIGINT saves a checkpoint of the step reached, exits 130; --resume ends exactly as an uninterrupted run', async () => {
    const stage = (iterations: number) => `train: { type: 'v-finetune', config: { iterations: ${iterations}, lr: 1e-3, evalBatches: 0, logEvery: 0 },
      inputs: { model: 'unet.model', schedule: 'schedule.schedule', batches: 'data.batches' } },`;
    // Interrupted far from the end of a stage too long to finish within the test's limit.
    const long = writeGraph('long-train', stage(1_000_000));
    const out = path.join(tmp, 'run-long-train');
    const run = await runChild(long, out, { node: 'train', label: 'v-finetune' }, { interrupt: true, ready: movedTwice });
    assertCancelled(run, long, out);
    assert.ok(movedTwice(run.counts), `progress lines during the stage: ${JSON.stringify(run.counts)}`);
    const reached = Math.max(...run.counts.map((c) => c.current));
    // The state is saved once: one checkpoint, of a step at or after the last one shown, far from the end.
    const saved = await listCheckpoints(path.join(out, 'train', 'checkpoints'));
    assert.equal(saved.length, 1, JSON.stringify(saved));
    assert.ok(saved[0].step >= reached && saved[0].step < 1_000_000 / 100, `checkpoint step ${saved[0].step}, last progress ${reached}`);

    // Resume: a short stage interrupted, resumed, and compared with the same stage run through.
    const short = writeGraph('short-train', stage(80));
    const cut = path.join(tmp, 'run-short-cut');
    const first = await runChild(short, cut, { node: 'train', label: 'v-finetune' }, { interrupt: true, ready: movedTwice });
    assertCancelled(first, short, cut);
    const resumed = await runChild(short, cut, { node: 'train', label: 'v-finetune' }, { interrupt: false, extra: ['--resume'] });
    assert.equal(resumed.code, 0, resumed.output);
    assert.match(resumed.output, /\(resumed\)/);
    const whole = path.join(tmp, 'run-short-whole');
    const through = await runChild(short, whole, { node: 'train', label: 'v-finetune' }, { interrupt: false });
    assert.equal(through.code, 0, through.output);
    assert.ok(fs.readFileSync(path.join(cut, 'train', 'model.safetensors')).equals(fs.readFileSync(path.join(whole, 'train', 'model.safetensors'))),
      'the resumed stage\'s model file is byte-identical to the uninterrupted one');
  });

  it('stage two computing replay targets: heartbeat lines while the count stands still; SIGINT stops it, exits 130', async () => {
    const graph = writeGraph('long-replay', `distil: { type: 'progressive-distillation',
      config: { baseSteps: 4, rounds: [{ steps: 2, iterations: 100 }], lr: 1e-3, evalBatches: 0, logEvery: 0, replay: { blockBatches: 100000, times: 1 } },
      inputs: { model: 'unet.model', schedule: 'schedule.schedule', batches: 'data.batches' } },`);
    const out = path.join(tmp, 'run-replay');
    const run = await runChild(graph, out, { node: 'distil', label: 'stage two' }, { interrupt: true, ready: (c) => c.length >= 3 });
    assertCancelled(run, graph, out);
    assert.ok(run.counts.length >= 3, `heartbeat lines: ${JSON.stringify(run.counts)}`);
    // Stopped inside the first block: no block of 100,000 targets was written.
    assert.deepEqual(fs.existsSync(path.join(out, 'distil', 'replay', 'round-0')) ? fs.readdirSync(path.join(out, 'distil', 'replay', 'round-0')) : [], []);
  });

  it('evaluate: lines while a long sampling cell runs; SIGINT stops it mid-cell, exits 130', async () => {
    const graph = writeGraph('long-evaluate', `scorer: { type: 'test-flat-scorer' },
    evaluate: { type: 'evaluate', config: { teacherSteps: [64], samplesPerClass: 4000, classes: 3, batchSize: 12, guidanceScale: 2 },
      inputs: { schedule: 'schedule.schedule', classifier: 'scorer.classifier', data: 'data.data', teacher: 'unet.model' } },`);
    const out = path.join(tmp, 'run-evaluate');
    const run = await runChild(graph, out, { node: 'evaluate', label: 'evaluate' }, { interrupt: true, ready: movedTwice });
    assertCancelled(run, graph, out);
    const last = run.counts[run.counts.length - 1];
    assert.ok(last.current < last.total / 10, `stopped at ${last.current}/${last.total}`);
    assert.ok(!fs.existsSync(path.join(out, 'evaluate', 'metrics.json')));
  });

  it('ddim-sampling: lines while it samples; SIGINT stops it mid-way, exits 130', async () => {
    const graph = writeGraph('long-sampling', `sample: { type: 'ddim-sampling', config: { steps: [1000], classes: 3, samplesPerClass: 400, batchSize: 12, latentShape: [4, 4, 2] },
      inputs: { model: 'unet.model', schedule: 'schedule.schedule' } },`);
    const out = path.join(tmp, 'run-sampling');
    const run = await runChild(graph, out, { node: 'sample', label: 'sample' }, { interrupt: true, ready: movedTwice });
    assertCancelled(run, graph, out);
    const last = run.counts[run.counts.length - 1];
    assert.ok(last.current < last.total / 10, `stopped at ${last.current}/${last.total}`);
  });
});
