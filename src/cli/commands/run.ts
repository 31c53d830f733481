/**
 * `distillery run <graph> [--set …] [--backend …] [--threads N] [--out dir] [--resume] [--progress …]`.
 * First SIGINT/SIGTERM: cancel (nodes save state, then are disposed), exit 130. Second: exit at once.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { UsageError } from '../../errors';
import { loadGraph } from '../../graph/validate';
import { BACKEND_CHOICES, shutdownBackend } from '../../backends';
import { createRegistry } from '../../runtime/create-registry';
import { runGraph, type RunResult } from '../../runtime/executor';
import { displayPath } from '../../registry/plugins';
import { PROGRESS_MODES, type ProgressMode } from '../../runtime/progress';
import { readDistributedEnv } from '../../distributed/env';
import { GlooProcessGroup } from '../../distributed/gloo';
import type { ProcessGroup } from '../../distributed/process-group';
import { launchLocal, NPROC_ENV, parseNproc, watchLauncher } from '../launch';
import { collect, EXIT_CANCELLED, EXIT_FAILURE, EXIT_OK, shellQuote, type CliIO } from '../io';

export interface RunCommandOptions {
  set: string[];
  backend: string;
  threads?: string;
  out?: string;
  resume?: boolean;
  progress: ProgressMode;
  nprocPerNode?: string;
  distTimeout?: string;
  checksumEvery?: string;
}

function parseThreads(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`--threads must be a positive integer (found "${value}")`);
  return Number(value);
}

/** The command that continues a failed or cancelled run in the same folder. */
export function resumeCommand(file: string, options: RunCommandOptions, runDir: string): string {
  const words = ['npx', 'distillery', 'run', displayPath(path.resolve(file)), '--out', displayPath(runDir), '--resume'];
  for (const s of options.set) words.push('--set', s);
  if (options.backend !== 'auto') words.push('--backend', options.backend);
  if (options.threads !== undefined && !process.env[NPROC_ENV]) words.push('--threads', options.threads);
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
    .addOption(new Option('--backend <name>', 'compute backend').choices([...BACKEND_CHOICES]).default('auto'))
    .option('--threads <N>', 'threads for the backend (default: all cores)')
    .option('--out <dir>', 'run folder (default runs/<graph-name>-<timestamp>)')
    .option('--resume', 'continue the run in --out: nodes resume from their saved state; logs are appended')
    .addOption(new Option('--progress <mode>', 'progress display: bars on a terminal, lines elsewhere (auto)').choices([...PROGRESS_MODES]).default('auto'))
    .option('--nproc-per-node <K>', 'data-parallel training on K local worker processes (like torchrun --standalone); see docs/distributed.md')
    .option('--dist-timeout <seconds>', 'data-parallel runs: seconds a worker waits for a missing or hung peer before failing (default 60; the first rendezvous waits 5 min)')
    .option('--checksum-every <N>', 'data-parallel runs: compare a checksum of the parameters across ranks every N optimizer steps (default 100; always at the end of each stage)')
    .action(async (file: string, options: RunCommandOptions) => {
      const threadsFlag = parseThreads(options.threads);
      const nproc = parseNproc(options.nprocPerNode);
      const distTimeout = positiveInt('--dist-timeout', options.distTimeout, 60);
      const checksumEvery = positiveInt('--checksum-every', options.checksumEvery, 100);
      const registry = createRegistry();
      const graph = await loadGraph(file, { registry, sets: options.set });
      if (nproc !== undefined && nproc > 1 && !process.env[NPROC_ENV]) {
        // The graph is valid (checked above, before any worker starts): start the workers.
        setExit(await launchLocal({ nproc, args: process.argv.slice(2), timeoutSeconds: distTimeout, io, handleSignals: io.handleSignals }));
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
      if (io.handleSignals) {
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      }
      let result: RunResult;
      try {
        result = await runGraph(graph, {
          registry,
          backend: options.backend,
          threads,
          outDir: options.out,
          resume: options.resume,
          signal: controller.signal,
          progress: options.progress,
          output: io.progressStream,
          argv: process.argv,
          ...(group ? { distributed: { group, checksumEvery } } : {}),
        });
        if (group && result.status === 'completed') await group.barrier();
      } finally {
        group?.close();
        if (io.handleSignals) {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
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
