/**
 * `distillery run <graph> [--set …] [--seed N] [--backend …] [--threads N] [--precision fp32|bf16] [--out dir] [--resume] [--progress …]`.
 * First SIGINT/SIGTERM: cancel (nodes save state, then are disposed), exit 130. Second: exit at once.
 * `--resume` without `--out` continues the newest run folder of the graph under runs/ (and says which);
 * a resumed run keeps the seed its manifest records (a different `--seed` is refused: the numbers would change).
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { UsageError } from '../../errors';
import { loadGraph } from '../../graph/validate';
import { BACKEND_CHOICES, PRECISION_CHOICES, shutdownBackend, type Precision } from '../../backends';
import { createRegistry } from '../../../nodes/builtin-registry';
import { runGraph, type RunResult } from '../../runtime/executor';
import { displayPath } from '../../registry/plugins';
import { PROGRESS_MODES, type ProgressMode } from '../../runtime/progress';
import { newestRunDir, readManifest } from '../../runtime/run-folder';
import { readDistributedEnv } from '../../distributed/env';
import { GlooProcessGroup } from '../../distributed/gloo';
import type { ProcessGroup } from '../../distributed/process-group';
import { launchLocal, NPROC_ENV, parseNproc, watchLauncher } from '../launch';
import { collect, EXIT_CANCELLED, EXIT_FAILURE, EXIT_OK, shellQuote, type CliIO } from '../io';

export interface RunCommandOptions {
  set: string[];
  seed?: string;
  backend: string;
  threads?: string;
  /** Overrides the graph's `precision` key (absent: the graph's, else fp32). */
  precision?: Precision;
  out?: string;
  resume?: boolean;
  progress: ProgressMode;
  progressInterval?: string;
  nprocPerNode?: string;
  distTimeout?: string;
  checksumEvery?: string;
}

function parseProgressInterval(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!(Number.isFinite(seconds) && seconds > 0)) throw new UsageError(`--progress-interval must be a positive number of seconds (found "${value}")`);
  return Math.round(seconds * 1000);
}

function parseThreads(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`--threads must be a positive integer (found "${value}")`);
  return Number(value);
}

function parseSeed(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new UsageError(`--seed must be a non-negative integer (found "${value}")`);
  return Number(value);
}

/** The command that continues a failed or cancelled run in the same folder. */
export function resumeCommand(file: string, options: RunCommandOptions, runDir: string): string {
  const words = ['npx', 'distillery', 'run', displayPath(path.resolve(file)), '--out', displayPath(runDir), '--resume'];
  for (const s of options.set) words.push('--set', s);
  if (options.seed !== undefined) words.push('--seed', options.seed);
  if (options.backend !== 'auto') words.push('--backend', options.backend);
  if (options.threads !== undefined && !process.env[NPROC_ENV]) words.push('--threads', options.threads);
  if (options.precision !== undefined) words.push('--precision', options.precision);
  if (process.env[NPROC_ENV]) words.push('--nproc-per-node', process.env[NPROC_ENV]!);
  return words.map(shellQuote).join(' ');
}

function positiveInt(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`${flag} must be a positive integer (found "${value}")`);
  return Number(value);
}

function summary(result: RunResult): string {
  const secs = (result.durationMs / 1000).toFixed(1);
  const nodes = result.nodes.map((n) => `${n.id}: ${n.status}${n.durationMs !== undefined ? ` (${(n.durationMs / 1000).toFixed(1)} s)` : ''}`);
  return `run ${result.status} in ${secs} s — ${nodes.join(', ')}\n`;
}

export function registerRunCommand(program: Command, io: CliIO, setExit: (code: number) => void): Command {
  return program
    .command('run')
    .description('run a graph: creates a run folder with the resolved graph, a manifest, logs and node outputs')
    .argument('<graph>', 'graph file (.json5 or .json)')
    .option('--set <nodeId.config.key=value>', 'override a node config value (repeatable; value parsed as JSON5)', collect, [])
    .option('--seed <N>', 'override the graph\'s seed (every node\'s seed derives from it); a resumed run keeps its own')
    .addOption(new Option('--backend <name>', 'compute backend').choices([...BACKEND_CHOICES]).default('auto'))
    .option('--threads <N>', 'threads for the backend (default: all cores)')
    .addOption(new Option('--precision <p>', 'compute precision: bf16 = autocast of convolutions and matmuls on libtorch with native bf16 (default: the graph\'s precision, else fp32)')
      .choices([...PRECISION_CHOICES]))
    .option('--out <dir>', 'run folder (default runs/<graph-name>-<timestamp>)')
    .option('--resume', 'continue the run in --out (default: the newest run folder of this graph under runs/): nodes resume from their saved state; logs are appended')
    .addOption(new Option('--progress <mode>', 'progress display: bars on a terminal, lines elsewhere (auto)').choices([...PROGRESS_MODES]).default('auto'))
    .option('--progress-interval <seconds>', 'lines mode: seconds between progress lines (default 10)')
    .addHelpText('after', [
      '',
      'Examples:',
      '  $ distillery run graphs/mnist/distill.json5 --seed 7          # the same graph with another seed',
      '  $ distillery run graphs/mnist/distill.json5 --resume          # continue the newest runs/mnist-distill-… folder',
      '  $ distillery run graphs/mnist/distill.json5 --out runs/a --resume   # continue that run folder',
    ].join('\n'))
    .option('--nproc-per-node <K>', 'data-parallel training on K local worker processes (like torchrun --standalone); see docs/distributed.md')
    .option('--dist-timeout <seconds>', 'data-parallel runs: seconds a worker waits for a missing or hung peer before failing (default 60; the first rendezvous waits 5 min)')
    .option('--checksum-every <N>', 'data-parallel runs: compare a checksum of the parameters across ranks every N optimizer steps (default 100; always at the end of each stage)')
    .action(async (file: string, options: RunCommandOptions) => {
      const threadsFlag = parseThreads(options.threads);
      const nproc = parseNproc(options.nprocPerNode);
      const distTimeout = positiveInt('--dist-timeout', options.distTimeout, 60);
      const checksumEvery = positiveInt('--checksum-every', options.checksumEvery, 100);
      const seed = parseSeed(options.seed);
      const progressIntervalMs = parseProgressInterval(options.progressInterval);
      const registry = createRegistry();
      const graph = await loadGraph(file, { registry, sets: options.set });
      let resolvedOut = false;
      if (options.resume && options.out === undefined) {
        const newest = newestRunDir(graph.name);
        if (!newest) throw new UsageError(`--resume without --out: no run folder of graph "${graph.name}" under ${displayPath(path.resolve('runs'))}; name one with --out`);
        options.out = displayPath(newest);
        resolvedOut = true;
        io.err(`resuming the newest run of "${graph.name}": ${options.out}\n`);
      }
      const previousSeed = options.resume && options.out !== undefined ? readManifest(path.resolve(options.out))?.graph.seed : undefined;
      if (seed !== undefined && previousSeed !== undefined && seed !== previousSeed) {
        throw new UsageError(`--seed ${seed} differs from the seed ${previousSeed} of the run being resumed (${options.out}); a resumed run keeps its seed`);
      }
      const runSeed = seed ?? previousSeed;
      if (runSeed !== undefined && runSeed !== graph.seed) {
        graph.seed = runSeed;
        (graph.raw as { seed: number }).seed = runSeed;
      }
      if (nproc !== undefined && nproc > 1 && !process.env[NPROC_ENV]) {
        // The graph is valid (checked above, before any worker starts): start the workers.
        // Workers get the run folder chosen here (--resume without --out), so every rank resumes the same one.
        const args = resolvedOut ? [...process.argv.slice(2), '--out', options.out!] : process.argv.slice(2);
        setExit(await launchLocal({ nproc, args, timeoutSeconds: distTimeout, io, handleSignals: io.handleSignals }));
        return;
      }
      const launch = readDistributedEnv();
      let group: ProcessGroup | undefined;
      if (launch) {
        watchLauncher();
        group = await GlooProcessGroup.connect({
          ...launch, timeoutMs: distTimeout * 1000, rendezvousTimeoutMs: Math.max(300, distTimeout) * 1000,
          ...(process.env.GLOO_SOCKET_IFNAME ? { socketInterface: process.env.GLOO_SOCKET_IFNAME } : {}),
        });
      }
      const threads = threadsFlag ?? (launch ? Math.max(1, Math.floor(os.cpus().length / launch.localWorldSize)) : undefined);
      const quiet = group !== undefined && group.rank !== 0;

      const controller = new AbortController();
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals): void => {
        signals += 1;
        if (signals === 1) {
          io.err(`\n${signal}: cancelling the run; nodes save their state (press Ctrl-C again to exit now)\n`);
          controller.abort();
        } else {
          io.err(`${signal} again: exiting now\n`);
          process.exit(EXIT_CANCELLED);
        }
      };
      // Node exits (code 0) when its event loop is empty; with the run unfinished that means every node is
      // waiting on another (a deadlock `validate` did not foresee). Say so and fail instead of exiting quietly.
      const onStall = (): void => {
        io.err('error: the run stopped making progress: every unfinished node is waiting on another, and nothing is left to run ' +
          '(e.g. two nodes reading one stream where one also waits for the other)\n');
        process.exit(EXIT_FAILURE);
      };
      if (io.handleSignals) {
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        process.on('beforeExit', onStall);
      }
      let result: RunResult;
      try {
        result = await runGraph(graph, {
          registry,
          backend: options.backend,
          threads,
          precision: options.precision,
          outDir: options.out,
          resume: options.resume,
          signal: controller.signal,
          progress: options.progress,
          ...(progressIntervalMs !== undefined ? { progressIntervalMs } : {}),
          output: io.progressStream,
          argv: process.argv,
          ...(group ? { distributed: { group, checksumEvery } } : {}),
          // TensorBoard on rank 0 only (the executor also refuses it on scratch ranks).
          ...(quiet ? { tensorboard: false } : {}),
        });
        if (group && result.status === 'completed') await group.barrier();
      } finally {
        group?.close();
        if (io.handleSignals) {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          process.off('beforeExit', onStall);
        }
        await shutdownBackend();
      }
      if (!quiet) io.err(summary(result));
      if (result.status === 'completed') {
        setExit(EXIT_OK);
        return;
      }
      if (result.status === 'failed') io.err(`${quiet ? `rank ${group!.rank}: ` : ''}error: ${result.error?.message ?? 'run failed'}\n`);
      if (!quiet) io.err(`to resume: ${resumeCommand(file, options, result.runDir)}\n`);
      setExit(result.status === 'cancelled' ? EXIT_CANCELLED : EXIT_FAILURE);
    });
}
