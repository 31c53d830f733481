/**
 * Per-stage wall times of a run, from its run folder's logs.jsonl: for every node, when it started
 * (its `run-started` event, else `created`) and `finished`, relative to the run's start, its duration and
 * its share of the run's wall time; then the evaluation cells (seconds per cell from any
 * `<node>/metrics.json` that has them). Nodes overlap (a data stream runs beside the stage that reads
 * it), so shares do not add up to 100 %.
 *
 *   npx tsx bench/stage-times.ts <run folder> [--all]      (built: node dist/bench/stage-times.js …)
 *
 * Without --all, only nodes with a run of their own are listed (stages, encoding, evaluation), not
 * stream producers that work inside their reader's time (latent-dataset: created → stream finished), nor
 * nodes shorter than 0.5 s (model loaders, the schedule).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileFormatError, UsageError } from '../src/errors';

export interface StageTime {
  node: string;
  startS: number;
  endS: number;
  seconds: number;
  /** seconds / the run's wall time. */
  share: number;
  status: string;
  /** Whether the node ran a run() of its own (else: created → finished, e.g. a stream producer). */
  ran: boolean;
}

export interface RunTimes {
  wallS: number;
  status: string;
  stages: StageTime[];
  cells: Array<{ node: string; model: string; steps: number; seconds: number }>;
}

interface LogEvent {
  time: string;
  kind: string;
  node?: string;
  event?: string;
}

const END_EVENTS = new Set(['finished', 'failed', 'cancelled']);

/** Reads `<runDir>/logs.jsonl` (and the nodes' metrics.json) into per-stage times. */
export function runTimes(runDir: string): RunTimes {
  const file = path.join(runDir, 'logs.jsonl');
  if (!fs.existsSync(file)) throw new UsageError(`${runDir} is not a run folder: it has no logs.jsonl`);
  const events: LogEvent[] = [];
  fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let e: LogEvent;
    try {
      e = JSON.parse(line) as LogEvent;
    } catch (err) {
      throw new FileFormatError(file, `line ${i + 1} is not JSON: ${(err as Error).message}`, { cause: err });
    }
    if (e.kind === 'event') events.push(e);
  });
  const runStart = events.find((e) => e.node === undefined && (e.event === 'run-started' || e.event === 'run-resumed'));
  if (!runStart) throw new FileFormatError(file, 'has no run-started event');
  const t0 = Date.parse(runStart.time);
  const runEnd = [...events].reverse().find((e) => e.node === undefined && e.event?.startsWith('run-') && e.event !== 'run-started' && e.event !== 'run-resumed');
  const last = Date.parse((runEnd ?? events[events.length - 1]).time);
  const wallS = (last - t0) / 1000;
  const starts = new Map<string, { created?: number; run?: number }>();
  const stages: StageTime[] = [];
  for (const e of events) {
    if (e.node === undefined) continue;
    const at = (Date.parse(e.time) - t0) / 1000;
    const s = starts.get(e.node) ?? {};
    if (e.event === 'created' && s.created === undefined) s.created = at;
    if (e.event === 'run-started' && s.run === undefined) s.run = at;
    starts.set(e.node, s);
    if (e.event && END_EVENTS.has(e.event)) {
      const startS = s.run ?? s.created ?? at;
      stages.push({ node: e.node, startS, endS: at, seconds: at - startS, share: wallS > 0 ? (at - startS) / wallS : 0, status: e.event, ran: s.run !== undefined });
    }
  }
  const cells: RunTimes['cells'] = [];
  for (const st of stages) {
    const metrics = path.join(runDir, st.node, 'metrics.json');
    if (!fs.existsSync(metrics)) continue;
    const m = JSON.parse(fs.readFileSync(metrics, 'utf8')) as { cells?: Array<{ model: string; steps: number; seconds?: number }> };
    for (const c of m.cells ?? []) if (typeof c.seconds === 'number') cells.push({ node: st.node, model: c.model, steps: c.steps, seconds: c.seconds });
  }
  return { wallS, status: runEnd?.event?.slice(4) ?? 'unfinished', stages, cells };
}

export function formatRunTimes(t: RunTimes, all = false): string {
  const lines = [`run wall time ${t.wallS.toFixed(1)} s (${t.status})`, `${'node'.padEnd(20)} ${'start s'.padStart(8)} ${'end s'.padStart(8)} ${'seconds'.padStart(8)} ${'share'.padStart(6)}`];
  for (const s of t.stages) {
    if (!all && (!s.ran || s.seconds < 0.5)) continue;
    lines.push(`${s.node.padEnd(20)} ${s.startS.toFixed(1).padStart(8)} ${s.endS.toFixed(1).padStart(8)} ${s.seconds.toFixed(1).padStart(8)} ${`${(100 * s.share).toFixed(1)}%`.padStart(6)}` +
      (s.status === 'finished' ? '' : ` (${s.status})`));
  }
  if (t.cells.length) {
    lines.push('', `${'evaluation cell'.padEnd(28)} ${'seconds'.padStart(8)} ${'share'.padStart(6)}`);
    for (const c of t.cells) {
      lines.push(`${`${c.node}/${c.model}`.padEnd(28)} ${c.seconds.toFixed(1).padStart(8)} ${`${(100 * c.seconds / t.wallS).toFixed(1)}%`.padStart(6)}`);
    }
  }
  return lines.join('\n');
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const dirs = args.filter((a) => !a.startsWith('--'));
  try {
    if (dirs.length !== 1) throw new UsageError('usage: stage-times <run folder> [--all]');
    console.log(formatRunTimes(runTimes(dirs[0]), args.includes('--all')));
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    process.exit(2);
  }
}
