/**
 * Runs Distillery's bench (dist/bench/bench.js, `--backend libtorch` by default) and the PyTorch twin
 * (bench/pytorch_twin.py) alternately, round after round, and prints each round's training-step and
 * sampling medians with the ratio, then the median over rounds. Alternating in one run is how
 * docs/benchmarks.md compares the two on a machine whose speed drifts.
 *
 * `--precision bf16` runs Distillery with `--precision bf16` and the twin with `--autocast bf16`;
 * `--precision both` runs fp32 and bf16 of each in every round (four runs per round) and also prints
 * each side's bf16 / fp32 step ratio (issue 17's target: Distillery's ≤ 0.7, and its bf16 step faster
 * than PyTorch's autocast bf16 step).
 *
 *   npm run build && node dist/bench/compare-pytorch.js --rounds 6 --threads 2
 *   node dist/bench/compare-pytorch.js --rounds 3 --precision both
 *   node dist/bench/compare-pytorch.js --python /usr/bin/python3 --backend wasm --rounds 2
 *
 * Both children inherit the environment (e.g. OMP_WAIT_POLICY applies to both).
 */
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { median, positiveInt } from './stats';

interface Options { rounds: number; threads: number; steps: number; sampleIters: number; backend: string; python: string; precision: string }

interface Row { ours: number; torch: number; oursSample: number; torchSample: number }

function main(argv: string[]): void {
  const program = new Command('compare-pytorch')
    .description('Distillery bench and the PyTorch twin, alternately')
    .option('--rounds <n>', 'alternating rounds', positiveInt, 4)
    .option('--threads <n>', 'threads for both', positiveInt, 2)
    .option('--steps <n>', 'timed training steps per run', positiveInt, 20)
    .option('--sample-iters <n>', 'timed sampling passes per run', positiveInt, 5)
    .option('--backend <name>', 'Distillery backend', 'libtorch')
    .option('--precision <p>', 'fp32, bf16 (Distillery --precision bf16 against the twin\'s --autocast bf16) or both', 'fp32')
    .option('--python <file>', 'Python with torch', '/usr/bin/python3');
  program.parse(argv);
  const o = program.opts<Options>();
  if (!['fp32', 'bf16', 'both'].includes(o.precision)) throw new InvalidArgumentError(`--precision must be fp32, bf16 or both, found "${o.precision}"`);
  const precisions = o.precision === 'both' ? ['fp32', 'bf16'] : [o.precision];
  const root = path.resolve(__dirname, '..', '..');
  const common = ['--threads', String(o.threads), '--steps', String(o.steps), '--warmup', '3', '--sample-iters', String(o.sampleIters), '--json'];
  const rows: Record<string, Row[]> = Object.fromEntries(precisions.map((p) => [p, []]));
  process.stdout.write(`CPU: ${os.cpus()[0]?.model ?? 'unknown'} (${os.cpus().length} cpus), ${o.threads} threads, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  process.stdout.write(`round | precision | ${o.backend} step ms | PyTorch step ms | ratio | ${o.backend} sampling img/s | PyTorch sampling img/s\n`);
  for (let r = 1; r <= o.rounds; r++) {
    for (const p of precisions) {
      const ours = JSON.parse(execFileSync(process.execPath, [path.join(root, 'dist', 'bench', 'bench.js'), '--backend', o.backend, '--precision', p, ...common],
        { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
      const torch = JSON.parse(execFileSync(o.python, [path.join(root, 'bench', 'pytorch_twin.py'), '--autocast', p === 'bf16' ? 'bf16' : 'none', ...common],
        { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
      const row = { ours: ours.train.median, torch: torch.train.median_ms, oursSample: ours.sample.imagesPerSecond, torchSample: torch.sample.images_per_second };
      rows[p].push(row);
      process.stdout.write(`${r} | ${p} | ${row.ours.toFixed(1)} | ${row.torch.toFixed(1)} | ${(row.ours / row.torch).toFixed(3)} | ` +
        `${row.oursSample.toFixed(1)} | ${row.torchSample.toFixed(1)}${r === 1 ? `   (${ours.backend.description}; torch ${torch.torch})` : ''}\n`);
    }
  }
  const med = (p: string, k: keyof Row): number => median(rows[p].map((x) => x[k]));
  for (const p of precisions) {
    process.stdout.write(`median | ${p} | ${med(p, 'ours').toFixed(1)} | ${med(p, 'torch').toFixed(1)} | ${median(rows[p].map((x) => x.ours / x.torch)).toFixed(3)} | ` +
      `${med(p, 'oursSample').toFixed(1)} | ${med(p, 'torchSample').toFixed(1)}\n`);
  }
  if (precisions.length === 2) {
    const ratio = (k: 'ours' | 'torch'): string => median(rows.bf16.map((x, i) => x[k] / rows.fp32[i][k])).toFixed(3);
    process.stdout.write(`bf16 / fp32 training step (median of per-round ratios): ${o.backend} ${ratio('ours')}, PyTorch ${ratio('torch')}\n`);
    const sampleRatio = (k: 'oursSample' | 'torchSample'): string => median(rows.bf16.map((x, i) => x[k] / rows.fp32[i][k])).toFixed(3);
    process.stdout.write(`bf16 / fp32 sampling throughput: ${o.backend} ${sampleRatio('oursSample')}, PyTorch ${sampleRatio('torchSample')}\n`);
  }
}

main(process.argv);
