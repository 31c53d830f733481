/**
 * Runs Distillery's bench (dist/bench/bench.js, `--backend libtorch` by default) and the PyTorch twin
 * (bench/pytorch_twin.py) alternately, round after round, and prints each round's training-step and
 * sampling medians with the ratio, then the median over rounds. Alternating in one run is how
 * docs/benchmarks.md compares the two on a machine whose speed drifts.
 *
 *   npm run build && node dist/bench/compare-pytorch.js --rounds 6 --threads 2
 *   node dist/bench/compare-pytorch.js --python /usr/bin/python3 --backend wasm --rounds 2
 *
 * Both children inherit the environment (e.g. OMP_WAIT_POLICY applies to both).
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { Command } from 'commander';
import { median, positiveInt } from './stats';

interface Options { rounds: number; threads: number; steps: number; sampleIters: number; backend: string; python: string }

function main(argv: string[]): void {
  const program = new Command('compare-pytorch')
    .description('Distillery bench and the PyTorch twin, alternately')
    .option('--rounds <n>', 'alternating rounds', positiveInt, 4)
    .option('--threads <n>', 'threads for both', positiveInt, 2)
    .option('--steps <n>', 'timed training steps per run', positiveInt, 20)
    .option('--sample-iters <n>', 'timed sampling passes per run', positiveInt, 5)
    .option('--backend <name>', 'Distillery backend', 'libtorch')
    .option('--python <file>', 'Python with torch', '/usr/bin/python3');
  program.parse(argv);
  const o = program.opts<Options>();
  const root = path.resolve(__dirname, '..', '..');
  const common = ['--threads', String(o.threads), '--steps', String(o.steps), '--warmup', '3', '--sample-iters', String(o.sampleIters), '--json'];
  const rows: Array<{ ours: number; torch: number; oursSample: number; torchSample: number }> = [];
  process.stdout.write(`round | ${o.backend} step ms | PyTorch step ms | ratio | ${o.backend} sampling img/s | PyTorch sampling img/s\n`);
  for (let r = 1; r <= o.rounds; r++) {
    const ours = JSON.parse(execFileSync(process.execPath, [path.join(root, 'dist', 'bench', 'bench.js'), '--backend', o.backend, ...common],
      { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
    const torch = JSON.parse(execFileSync(o.python, [path.join(root, 'bench', 'pytorch_twin.py'), ...common],
      { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
    const row = { ours: ours.train.median, torch: torch.train.median_ms, oursSample: ours.sample.imagesPerSecond, torchSample: torch.sample.images_per_second };
    rows.push(row);
    process.stdout.write(`${r} | ${row.ours.toFixed(1)} | ${row.torch.toFixed(1)} | ${(row.ours / row.torch).toFixed(3)} | ` +
      `${row.oursSample.toFixed(1)} | ${row.torchSample.toFixed(1)}${r === 1 ? `   (${ours.backend.description})` : ''}\n`);
  }
  const m = (k: keyof (typeof rows)[number]): number => median(rows.map((x) => x[k]));
  process.stdout.write(`median | ${m('ours').toFixed(1)} | ${m('torch').toFixed(1)} | ${median(rows.map((x) => x.ours / x.torch)).toFixed(3)} | ` +
    `${m('oursSample').toFixed(1)} | ${m('torchSample').toFixed(1)}\n`);
}

main(process.argv);
