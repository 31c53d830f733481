/**
 * `distillery run --nproc-per-node 2` end to end on 127.0.0.1, on a tiny whole pipeline (fixtures/tiny-graph.ts)
 * with every stage type: teacher training (24 optimizer steps, accumulation 2, label dropout, EMA,
 * clipping) → v-finetune → guidance distillation (fixed variant) → progressive distillation (2 rounds with
 * replay blocks, each rank computing the teacher targets of its shard) → ddim-sampling and evaluate
 * (sampling and scoring sharded), plus guidance distillation's w-range variant, classifier training and
 * autoencoder training (one launcher run covers them all):
 * - equivalence: 2 workers × batch 4 against 1 worker × batch 8 — the same examples, labels and noise
 *   per global batch (sharded batch plan and sharded random draws), so the weights differ only by float
 *   summation order: the mean of two per-rank gradient means instead of one mean over 8 examples. That is
 *   a relative rounding difference of a few float32 ulps per step, and AdamW's normalised update keeps it
 *   that size; over 24 steps, for weights up to ~3, it stays below 1e-6 absolute (measured: 4.5e-8 on a
 *   12-step MNIST teacher; 1.9e-6 for the last progressive student, whose teacher already differs).
 *   The bound is 1e-5 — ~100× below the change of one AdamW step (≈ lr = 1e-3 per weight).
 * - the ranks hold bit-identical weights (Gloo's ring all-reduce hands every rank the same sums);
 * - a worker SIGKILLed in stage two (the second distillation round): the launcher exits 137 (that worker's
 *   128 + SIGKILL), rank 0 names rank 1, no worker is left, the printed resume command finishes the run,
 *   and every model and the evaluate node's metrics are bit-identical to the uninterrupted 2-worker run's;
 * - Ctrl-C: one cancellation, exit 130, no worker left.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadC10d } from '../../src/distributed/gloo';
import type { EvaluationMetrics } from '../../src/report/metrics';
import { readSafetensors, TINY_RUN_DATA, TINY_RUN_MODELS, writeTinyRun } from './fixtures/tiny-graph';

const ROOT = path.join(__dirname, '..', '..');
const live = new Set<ChildProcess>();

function cli(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'src/cli/main.ts', 'run', ...args, '--progress', 'none'], {
    cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  live.add(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => {
    clearTimeout(timer);
    live.delete(child);
    resolve({ code, stderr });
  }));
  return { child, done };
}

/** The launcher's worker processes, by rank (read from /proc: their parent and RANK variable). */
function workersOf(launcher: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== launcher) continue;
      const rank = fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').find((v) => v.startsWith('RANK='));
      if (rank) out.set(Number(rank.slice(5)), Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function metrics(run: string): EvaluationMetrics {
  return JSON.parse(fs.readFileSync(path.join(run, 'evaluate', 'metrics.json'), 'utf8')) as EvaluationMetrics;
}

function maxAbsDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): { max: number; identical: boolean } {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  let max = 0;
  let identical = true;
  for (const [k, va] of a) {
    const vb = b.get(k)!;
    for (let i = 0; i < va.length; i++) {
      if (!Object.is(va[i], vb[i])) identical = false;
      max = Math.max(max, Math.abs(va[i] - vb[i]));
    }
  }
  return { max, identical };
}

describe('distributed: run --nproc-per-node 2 (tiny pipeline with every stage type)', function () {
  this.timeout(400_000);
  let dir: string;
  let graph: string;
  const workerPids: number[] = [];

  before(function () {
    try {
      loadC10d();
    } catch {
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-dist-'));
    graph = writeTinyRun(dir, { iterations: 24, checkpointEvery: 4 });
  });

  after(() => {
    for (const c of live) c.kill('SIGKILL');
    for (const pid of workerPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('2 workers × batch 4 equal 1 worker × batch 8 within 1e-5; both ranks bit-identical; one header; rank 0 alone writes checkpoints', async () => {
    const [two, one] = [path.join(dir, 'two'), path.join(dir, 'one')];
    const r2 = await cli([graph, '--out', two, '--nproc-per-node', '2']).done;
    assert.equal(r2.code, 0, r2.stderr);
    const r1 = await cli([graph, '--out', one, ...TINY_RUN_DATA.flatMap((d) => ['--set', `${d}.config.batchSize=8`]), '--threads', '1']).done;
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(r2.stderr.split('\n').filter((l) => l.startsWith('run folder:')).length, 1, r2.stderr);
    assert.match(r2.stderr, /distributed: 2 processes \(gloo\), global batch = 2 × the per-process batch size/);
    for (const model of TINY_RUN_MODELS) {
      const rank0 = readSafetensors(path.join(two, model));
      const rank1 = readSafetensors(path.join(two, 'rank-1', model));
      const single = readSafetensors(path.join(one, model));
      assert.ok(maxAbsDiff(rank0, rank1).identical, `${model}: ranks differ`);
      const { max } = maxAbsDiff(rank0, single);
      assert.ok(max < 1e-5, `${model}: 2×4 vs 1×8: max |Δw| = ${max}`);
    }
    // The evaluate node (sampling and scoring sharded): the 1-process numbers. Its models (the classifier
    // too) differ by < 1e-5 (above), which moves the 4-d classifier features of 12 samples by ~1e-5 at
    // most: FID within 1e-4 (measured: 1.4e-12 for the real half-split FID), the same class decisions.
    const m2 = metrics(two);
    const m1 = metrics(one);
    assert.deepEqual(m2.cells.map((c) => [c.model, c.accuracy]), m1.cells.map((c) => [c.model, c.accuracy]));
    assert.equal(m2.cells.length, 3);
    for (const [i, c] of m2.cells.entries()) assert.ok(Math.abs(c.fid - m1.cells[i].fid) < 1e-4, `${c.model}: FID ${c.fid} vs ${m1.cells[i].fid}`);
    assert.ok(Math.abs(m2.realFid! - m1.realFid!) < 1e-4, `real FID ${m2.realFid} vs ${m1.realFid}`);
    assert.equal(m2.realAccuracy, m1.realAccuracy);
    // The logged training loss (every stage's last step) is averaged across ranks: the loss of the global
    // batch, i.e. the 1-process loss up to the < 1e-5 weight differences above: relative tolerance 1e-4
    // (measured ≤ 1.3e-6, for stage-one's loss of 6e-5; rank 0's own half of the batch alone is off by percents).
    const logged = (run: string) => fs.readFileSync(path.join(run, 'logs.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; node: string; step: number; values: { loss?: number } })
      .filter((e) => e.kind === 'metrics' && e.values.loss !== undefined).map((e) => [e.node, e.step, e.values.loss!] as const).sort();
    const [l2, l1] = [logged(two), logged(one)];
    assert.deepEqual(l2.map(([n, st]) => [n, st]), l1.map(([n, st]) => [n, st]));
    assert.equal(l2.length, 7, `logged losses: ${JSON.stringify(l2)}`); // one per training node
    for (const [i, [node, step, loss]] of l2.entries()) assert.ok(Math.abs(loss - l1[i][2]) <= 1e-4 * Math.abs(l1[i][2]), `${node} step ${step}: loss ${loss} vs ${l1[i][2]}`);
    // The logged loss components of stage one (distillLoss, targetLoss) are averaged across ranks like the loss.
    const parts = (run: string) => fs.readFileSync(path.join(run, 'logs.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; node: string; step: number; values: Record<string, number> })
      .filter((e) => e.kind === 'metrics' && e.node === 'stage-one' && e.values.distillLoss !== undefined).map((e) => [e.step, e.values.distillLoss, e.values.targetLoss] as const);
    const [p2, p1] = [parts(two), parts(one)];
    assert.equal(p2.length, 1, JSON.stringify(p2));
    assert.deepEqual(p2.map(([st]) => st), p1.map(([st]) => st));
    for (const [i, [step, ...values]] of p2.entries()) {
      values.forEach((v, k) => assert.ok(Math.abs(v - p1[i][k + 1]) <= 1e-4 * Math.abs(p1[i][k + 1]), `stage-one step ${step}: part ${k} ${v} vs ${p1[i][k + 1]}`));
    }
    // Validation grids and TensorBoard: rank 0 alone.
    for (const k of [3, 6]) assert.ok(fs.existsSync(path.join(two, 'stage-one', 'validation', `step-${k}.png`)), `no validation grid at step ${k}`);
    assert.ok(!fs.existsSync(path.join(two, 'rank-1', 'stage-one', 'validation')), 'rank 1 drew validation grids');
    assert.ok(fs.existsSync(path.join(two, 'tensorboard')));
    assert.ok(!fs.existsSync(path.join(two, 'rank-1', 'tensorboard')), 'rank 1 wrote a TensorBoard log');
    // ddim-sampling, sharded: rank 0 alone writes the grids.
    assert.ok(fs.existsSync(path.join(two, 'samples', 'samples-2steps.png')));
    assert.ok(!fs.existsSync(path.join(two, 'rank-1', 'samples', 'samples-2steps.png')), 'rank 1 wrote a grid');
    assert.ok(fs.existsSync(path.join(two, 'teacher', 'checkpoints', 'checkpoint-000000024.safetensors')));
    assert.ok(!fs.existsSync(path.join(two, 'rank-1', 'teacher', 'checkpoints')), 'rank 1 wrote checkpoints');
  });

  it('a worker SIGKILLed in stage two: exit 137 (rank 1\'s), rank 0 names rank 1, no worker left, and the printed resume command ends where the uninterrupted run did', async () => {
    const out = path.join(dir, 'killed');
    const run = cli([graph, '--out', out, '--nproc-per-node', '2', '--dist-timeout', '10']);
    // Mid stage two: after the first checkpoint of the second distillation round (step 3 of 12).
    const first = path.join(out, 'distill', 'round-1-2steps', 'checkpoints', 'checkpoint-000000003.safetensors');
    let workers = new Map<number, number>();
    while (!fs.existsSync(first)) {
      if (run.child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
      if (workers.size < 2) workers = workersOf(run.child.pid!);
    }
    assert.equal(workers.size, 2, 'both workers seen');
    workerPids.push(...workers.values());
    process.kill(workers.get(1)!, 'SIGKILL');
    const r = await run.done;
    // The first failing worker is rank 1, killed by SIGKILL: 128 + 9, the shell's convention.
    assert.equal(r.code, 137, r.stderr);
    assert.match(r.stderr, /\[launcher\] rank 1 exited with SIGKILL/);
    assert.match(r.stderr, /rank 0: allReduce failed \(timeout 10 s\): rank 1 stopped responding/);
    for (const pid of workers.values()) assert.ok(!alive(pid), `worker ${pid} left behind`);
    const resume = r.stderr.match(/to resume: npx distillery run (.*)$/m);
    assert.ok(resume, r.stderr);
    assert.match(resume[1], /--resume/);
    assert.match(resume[1], /--nproc-per-node 2/);
    const resumed = await cli([graph, '--out', out, '--resume', '--nproc-per-node', '2']).done;
    assert.equal(resumed.code, 0, resumed.stderr);
    for (const model of TINY_RUN_MODELS) {
      const uninterrupted = readSafetensors(path.join(dir, 'two', model));
      const afterResume = readSafetensors(path.join(out, model));
      assert.ok(maxAbsDiff(uninterrupted, afterResume).identical, `${model}: the resumed run differs from the uninterrupted one`);
    }
    assert.deepEqual(metrics(out).cells.map((c) => [c.model, c.fid, c.accuracy]), metrics(path.join(dir, 'two')).cells.map((c) => [c.model, c.fid, c.accuracy]));
  });

  it('Ctrl-C (SIGINT to the launcher): one cancellation — rank 0 saves its state once, every worker exits, code 130', async () => {
    const out = path.join(dir, 'cancelled');
    const run = cli([graph, '--out', out, '--nproc-per-node', '2']);
    const first = path.join(out, 'teacher', 'checkpoints', 'checkpoint-000000004.safetensors');
    let workers = new Map<number, number>();
    while (!fs.existsSync(first) && run.child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 50));
      if (workers.size < 2) workers = workersOf(run.child.pid!);
    }
    assert.equal(workers.size, 2, 'both workers seen');
    workerPids.push(...workers.values());
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.equal(r.code, 130, r.stderr);
    assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('SIGINT: cancelling the run')).length, 1, r.stderr);
    assert.match(r.stderr, /to resume: npx distillery run .* --resume --nproc-per-node 2/);
    for (const pid of workers.values()) assert.ok(!alive(pid), `worker ${pid} left behind`);
    const saved = fs.readdirSync(path.join(out, 'teacher', 'checkpoints')).filter((f) => f.startsWith('checkpoint-'));
    assert.ok(saved.length >= 1, 'no checkpoint');
    assert.ok(!fs.existsSync(path.join(out, 'rank-1', 'teacher', 'checkpoints')), 'rank 1 wrote checkpoints');
  });
});
