/**
 * `distillery run … --nproc-per-node K`: a local launcher like `torchrun --standalone`. It spawns K copies
 * of the same command as workers with torchrun's variables (WORLD_SIZE, RANK, LOCAL_RANK,
 * LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT: the one given or a free one), shows rank 0's
 * output (rank 0 prints the one header and the progress), and exits with the first failing worker's
 * exit code. Other ranks' stderr is kept and its tail printed when that rank fails.
 *
 * Processes: workers run in their own process group (so one Ctrl-C reaches them once, forwarded by the
 * launcher) and each watches the launcher: a worker whose launcher is gone exits (no orphans, even if the
 * launcher is SIGKILLed). When a worker fails, the others get the collective timeout to fail on their own
 * (rank 0 then prints the error and the resume command); survivors after that are SIGKILLed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as os from 'node:os';
import { UsageError } from '../errors';
import { EXIT_CANCELLED, EXIT_FAILURE, type CliIO } from './io';

/** Set in each worker: the launcher's pid (the worker exits when its parent is no longer it). */
export const LAUNCHER_PID_ENV = 'DISTILLERY_LAUNCHER_PID';
/** Set in each worker: K, so that rank 0's resume command repeats `--nproc-per-node K`. */
export const NPROC_ENV = 'DISTILLERY_NPROC_PER_NODE';

export function parseNproc(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`--nproc-per-node must be a positive integer (found "${value}")`);
  return Number(value);
}

/** A TCP port free on 127.0.0.1 at the time of asking. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** The worker's argument list: the launcher's, without --nproc-per-node, with --threads when not given. */
export function workerArgs(args: readonly string[], threads: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--nproc-per-node') {
      i += 1;
      continue;
    }
    if (args[i].startsWith('--nproc-per-node=')) continue;
    out.push(args[i]);
  }
  if (!out.some((a) => a === '--threads' || a.startsWith('--threads='))) out.push('--threads', String(threads));
  return out;
}

export interface LaunchOptions {
  nproc: number;
  /** The run command's arguments after the script (process.argv.slice(2)). */
  args: readonly string[];
  /** Seconds a worker waits for a peer before failing (the grace given to survivors, plus 15 s). */
  timeoutSeconds: number;
  io: CliIO;
  handleSignals: boolean;
}

/** Runs the workers; resolves to the launcher's exit code. */
export async function launchLocal(o: LaunchOptions): Promise<number> {
  if (process.env.RANK !== undefined || process.env.WORLD_SIZE !== undefined) {
    throw new UsageError('--nproc-per-node starts its own workers; it cannot be used inside a launcher that already set RANK / WORLD_SIZE');
  }
  const port = process.env.MASTER_PORT ? Number(process.env.MASTER_PORT) : await freePort();
  const threads = Math.max(1, Math.floor(os.cpus().length / o.nproc));
  const args = workerArgs(o.args, threads);
  const children: ChildProcess[] = [];
  const tails: string[] = [];
  let firstFailure: { rank: number; code: number } | undefined;
  let cancelled = false;
  let killTimer: NodeJS.Timeout | undefined;

  const killAll = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (cancelled) {
      killAll();
      return;
    }
    cancelled = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  };
  const onExit = (): void => killAll();
  if (o.handleSignals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  process.on('exit', onExit);

  const exits = Array.from({ length: o.nproc }, (_, rank) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...args], {
      env: {
        ...process.env,
        WORLD_SIZE: String(o.nproc), RANK: String(rank), LOCAL_RANK: String(rank), LOCAL_WORLD_SIZE: String(o.nproc),
        MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port),
        [LAUNCHER_PID_ENV]: String(process.pid), [NPROC_ENV]: String(o.nproc),
      },
      stdio: rank === 0 ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    children.push(child);
    tails[rank] = '';
    child.stderr?.on('data', (d: Buffer) => {
      tails[rank] = (tails[rank] + d.toString()).slice(-4000);
    });
    return new Promise<void>((resolve) => {
      child.on('exit', (code, signal) => {
        const failed = code !== 0;
        if (failed && !firstFailure) {
          firstFailure = { rank, code: code ?? (signal === 'SIGINT' ? EXIT_CANCELLED : 128 + (os.constants.signals[signal!] ?? 1)) };
          if (rank !== 0 || signal) {
            o.io.err(`[launcher] rank ${rank} exited with ${code ?? signal}${tails[rank] ? `; its last output:\n${tails[rank].trimEnd().split('\n').map((l) => `  [rank ${rank}] ${l}`).join('\n')}\n` : '\n'}`);
          }
          killTimer = setTimeout(killAll, (o.timeoutSeconds + 15) * 1000);
        }
        resolve();
      });
    });
  });
  try {
    await Promise.all(exits);
  } finally {
    if (killTimer) clearTimeout(killTimer);
    if (o.handleSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    process.off('exit', onExit);
  }
  if (cancelled) return EXIT_CANCELLED;
  return firstFailure ? firstFailure.code || EXIT_FAILURE : 0;
}

/** In a worker started by launchLocal: exit when the launcher is gone (its pid is no longer our parent). */
export function watchLauncher(): void {
  const launcher = process.env[LAUNCHER_PID_ENV];
  if (!launcher) return;
  const timer = setInterval(() => {
    if (String(process.ppid) !== launcher) process.kill(process.pid, 'SIGKILL');
  }, 1000);
  timer.unref();
}
