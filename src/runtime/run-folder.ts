/**
 * The run folder: one per run, holding everything needed to understand or resume it.
 *
 *   graph.resolved.json  the graph with defaults filled in and overrides applied
 *   manifest.json        versions, backend, seed, argv, start/end, status, git commit
 *   logs.jsonl           every log record, metrics line and lifecycle event, one JSON object per line
 *   tensorboard/         TensorBoard event files: every metric and image, tagged `<node id>/<name>`
 *   <nodeId>/            whatever a node writes (created when the node first asks for its folder)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { UsageError } from '../errors';
import { readManifestFile } from './manifest-schema';

export const RESOLVED_GRAPH_FILE = 'graph.resolved.json';
export const MANIFEST_FILE = 'manifest.json';
export const LOGS_FILE = 'logs.jsonl';
export const TENSORBOARD_DIR = 'tensorboard';

export type RunStatus = 'running' | 'completed' | 'cancelled' | 'failed';

export interface ManifestAttempt {
  startedAt: string;
  endedAt?: string;
  status: RunStatus;
  argv: string[];
  error?: string;
}

export interface RunManifest {
  graph: { name: string; file: string; seed: number };
  distillery: string;
  node: string;
  platform: string;
  backend: { name: string; description: string; threads: number; precision?: 'fp32' | 'bf16' };
  argv: string[];
  /** The commit of the repository holding the graph file, when it is in one. */
  git?: { commit: string; dirty: boolean };
  startedAt: string;
  endedAt?: string;
  status: RunStatus;
  error?: string;
  /** Earlier attempts of this run folder (each `--resume` adds the previous one here). */
  attempts: ManifestAttempt[];
  /** Data-parallel runs: the number of processes and the engine (absent: one process). */
  distributed?: { worldSize: number; backend: string };
}

let cachedVersion: string | undefined;

/** This package's version, read from its package.json (found from `src/` and from `dist/src/`). */
export function distilleryVersion(): string {
  if (cachedVersion) return cachedVersion;
  let dir = __dirname;
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'distillery' && pkg.version) return (cachedVersion = pkg.version);
    }
    const parent = path.dirname(dir);
    if (parent === dir) return (cachedVersion = 'unknown');
    dir = parent;
  }
}

/** `git rev-parse HEAD` of the repository holding `dir`, or undefined outside one (or without git). */
export function gitInfo(dir: string): { commit: string; dirty: boolean } | undefined {
  try {
    const opts = { cwd: dir, encoding: 'utf8' as const, stdio: ['ignore', 'pipe', 'ignore'] as ['ignore', 'pipe', 'ignore'], timeout: 5000 };
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], opts).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], opts).trim();
    return /^[0-9a-f]{40}$/.test(commit) ? { commit, dirty: status.length > 0 } : undefined;
  } catch {
    return undefined;
  }
}

/** `20261127-215501` (UTC): sorts by time, safe in file names. */
export function timestamp(date: Date): string {
  const iso = date.toISOString();
  return `${iso.slice(0, 10).replace(/-/g, '')}-${iso.slice(11, 19).replace(/:/g, '')}`;
}

/** Characters other than letters, digits, `.`, `_` and `-` become `-` in run-folder names. */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'graph';
}

/**
 * Picks and creates the run folder. Without `outDir`: `<runsDir>/<graph-name>-<timestamp>` (a `-2`, `-3`
 * suffix when that exists). With `outDir`: that folder, which must be new or empty unless resuming;
 * resuming needs an existing run folder (one with a manifest).
 */
export function prepareRunDir(options: { graphName: string; outDir?: string; runsDir?: string; resume?: boolean; now: Date }): string {
  if (options.outDir === undefined) {
    if (options.resume) throw new UsageError('--resume needs --out <run folder> naming the run to continue');
    const base = path.resolve(options.runsDir ?? 'runs', `${safeName(options.graphName)}-${timestamp(options.now)}`);
    let dir = base;
    for (let i = 2; fs.existsSync(dir); i++) dir = `${base}-${i}`;
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }
  const dir = path.resolve(options.outDir);
  if (options.resume) {
    if (!fs.existsSync(path.join(dir, MANIFEST_FILE))) {
      throw new UsageError(`cannot resume: ${options.outDir} is not a run folder (no ${MANIFEST_FILE})`);
    }
    return dir;
  }
  if (fs.existsSync(dir)) {
    if (!fs.statSync(dir).isDirectory()) throw new UsageError(`--out ${options.outDir} exists and is not a folder`);
    if (fs.readdirSync(dir).length > 0) {
      throw new UsageError(`--out ${options.outDir} exists and is not empty; add --resume to continue that run, or choose another folder`);
    }
  }
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * The newest run folder of a graph under `runsDir` (default `runs`): a folder named
 * `<graph-name>-<timestamp>…` whose manifest names the same graph, newest by the time the folder's first
 * attempt started (then by name). Undefined when there is none.
 */
export function newestRunDir(graphName: string, runsDir = 'runs'): string | undefined {
  const root = path.resolve(runsDir);
  if (!fs.existsSync(root)) return undefined;
  const prefix = `${safeName(graphName)}-`;
  const found: Array<{ dir: string; created: string }> = [];
  for (const entry of fs.readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory() || !entry.name.startsWith(prefix)) continue;
    const dir = path.join(root, entry.name);
    let manifest: RunManifest | undefined;
    try {
      manifest = readManifest(dir);
    } catch {
      continue; // a half-written or foreign manifest is not a run of this graph
    }
    if (!manifest || manifest.graph?.name !== graphName) continue;
    found.push({ dir, created: manifest.attempts?.[0]?.startedAt ?? manifest.startedAt });
  }
  found.sort((a, b) => (a.created === b.created ? a.dir.localeCompare(b.dir) : a.created.localeCompare(b.created)));
  return found.at(-1)?.dir;
}

export function readManifest(runDir: string): RunManifest | undefined {
  const file = path.join(runDir, MANIFEST_FILE);
  if (!fs.existsSync(file)) return undefined;
  return readManifestFile(file) as RunManifest;
}

/** Appends JSON lines to `logs.jsonl`; synchronous so that a crash loses at most the line being written. */
export class JsonLinesWriter {
  private fd: number | undefined;
  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'a');
  }
  write(record: Record<string, unknown>): void {
    if (this.fd === undefined) return;
    fs.writeSync(this.fd, JSON.stringify(record, jsonReplacer) + '\n');
  }
  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}
