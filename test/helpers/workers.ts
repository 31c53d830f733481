/** Spawning local worker processes for the distributed tests: a free loopback port, bounded runs, no orphans. */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export const REPO_ROOT = path.join(__dirname, '..', '..');

/** A TCP port that was free a moment ago on 127.0.0.1 (the launcher's own helper). */
export { freePort } from '../../src/cli/launch';

export interface WorkerResult {
  rank: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const live = new Set<ChildProcess>();

/** Kills every worker still running (call from afterEach). */
export function killAllWorkers(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.clear();
}

/**
 * Runs `script` (TypeScript, through tsx) as `world` ranks with torchrun's variables; resolves when all
 * have exited (with `killRestAfter: r`, the others are SIGKILLed once rank r exits); after `limitMs` every survivor is SIGKILLed (the result then shows signal SIGKILL).
 */
export function runWorkers(script: string, world: number, opts: { port: number; args?: string[]; env?: Record<string, string>; limitMs: number; killRestAfter?: number }): Promise<WorkerResult[]> {
  const children: ChildProcess[] = [];
  const runs = Array.from({ length: world }, (_, rank) => {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', script, ...(opts.args ?? [])], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        WORLD_SIZE: String(world),
        RANK: String(rank),
        LOCAL_RANK: String(rank),
        LOCAL_WORLD_SIZE: String(world),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(opts.port),
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    return new Promise<WorkerResult>((resolve) => {
      child.on('exit', (code, signal) => {
        live.delete(child);
        if (rank === opts.killRestAfter) for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        resolve({ rank, code, signal, stdout, stderr });
      });
    });
  });
  const timer = setTimeout(killAllWorkers, opts.limitMs);
  return Promise.all(runs).finally(() => clearTimeout(timer));
}
