/**
 * Progress output for a run: cli-progress bars on a terminal, plain periodic lines elsewhere (CI, logs
 * piped to a file), or nothing. Every line a run prints to the user goes through one reporter, so log
 * lines do not tear the bars.
 */
import { MultiBar, type SingleBar } from 'cli-progress';
import type { ProgressHandle } from '../registry/types';

export type ProgressMode = 'auto' | 'bars' | 'lines' | 'none';
export const PROGRESS_MODES: readonly ProgressMode[] = ['auto', 'bars', 'lines', 'none'];

export interface ProgressReporterOptions {
  mode: ProgressMode;
  output: NodeJS.WritableStream;
  /** Lines mode: how often active progress is printed (default 10 s). */
  intervalMs?: number;
}

/** Resolves `auto`: bars when the output is a terminal and not under CI, else lines. */
export function resolveProgressMode(mode: ProgressMode, output: NodeJS.WritableStream): Exclude<ProgressMode, 'auto'> {
  if (mode !== 'auto') return mode;
  const isTty = (output as NodeJS.WriteStream).isTTY === true;
  const ci = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
  return isTty && !ci ? 'bars' : 'lines';
}

/** `3m05s`, `1h02m`, `12s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toPrecision(4);
}

export function formatMetrics(values: Record<string, number> | undefined): string {
  if (!values) return '';
  return Object.entries(values).map(([k, v]) => `${k}=${formatNumber(v)}`).join(' ');
}

interface Track {
  node: string;
  label: string;
  total: number;
  current: number;
  /** First reported value and when: the rate is measured from there (a resumed loop starts mid-way). */
  baseValue?: number;
  baseTime?: number;
  metrics?: Record<string, number>;
  printed: number;
  done: boolean;
  bar?: SingleBar;
}

export class ProgressReporter {
  readonly mode: Exclude<ProgressMode, 'auto'>;
  private readonly output: NodeJS.WritableStream;
  private readonly intervalMs: number;
  private readonly tracks = new Set<Track>();
  private readonly nodeMetrics = new Map<string, { step: number; values: Record<string, number>; printed: boolean }>();
  private multibar?: MultiBar;
  private timer?: NodeJS.Timeout;

  constructor(options: ProgressReporterOptions) {
    this.output = options.output;
    this.mode = resolveProgressMode(options.mode, options.output);
    this.intervalMs = options.intervalMs ?? 10_000;
    if (this.mode === 'lines') {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** A line for the user (log records, the backend line); keeps bars intact. */
  line(text: string): void {
    if (this.multibar) this.multibar.log(text + '\n');
    else this.output.write(text + '\n');
  }

  handle(node: string, label: string, total: number): ProgressHandle {
    const track: Track = { node, label, total, current: 0, printed: -1, done: false };
    this.tracks.add(track);
    if (this.mode === 'bars') {
      this.multibar ??= new MultiBar({
        stream: this.output as NodeJS.WriteStream,
        format: '{node} {label} |{bar}| {value}/{total} {rate} ETA {eta_formatted} {metrics}',
        hideCursor: false,
        clearOnComplete: false,
        stopOnComplete: false,
        etaBuffer: 50,
        forceRedraw: true,
      });
      track.bar = this.multibar.create(total, 0, { node: `[${node}]`, label, rate: '', metrics: this.latestMetricsText(node) });
    } else if (this.mode === 'lines') {
      this.printTrack(track);
    }
    return {
      update: (current: number, metrics?: Record<string, number>) => {
        if (track.done) return;
        const now = Date.now();
        if (track.baseTime === undefined) {
          track.baseTime = now;
          track.baseValue = current;
        }
        track.current = current;
        if (metrics) track.metrics = metrics;
        track.bar?.update(current, { rate: this.rateText(track), metrics: formatMetrics(track.metrics ?? this.nodeMetrics.get(node)?.values) });
      },
      done: () => {
        if (track.done) return;
        track.done = true;
        if (track.bar) track.bar.update(track.current, { rate: this.rateText(track) });
        else if (this.mode === 'lines') this.printTrack(track, true);
        this.tracks.delete(track);
      },
    };
  }

  /** Metrics reported through `ctx.log.metrics`: shown with the node's bar or in the next progress line. */
  metrics(node: string, step: number, values: Record<string, number>): void {
    this.nodeMetrics.set(node, { step, values, printed: false });
    for (const t of this.tracks) {
      if (t.node === node && !t.metrics) t.bar?.update(t.current, { metrics: formatMetrics(values) });
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.mode === 'lines') this.tick();
    this.multibar?.stop();
    this.multibar = undefined;
  }

  private latestMetricsText(node: string): string {
    return formatMetrics(this.nodeMetrics.get(node)?.values);
  }

  private rate(track: Track): number | undefined {
    if (track.baseTime === undefined || track.baseValue === undefined) return undefined;
    const seconds = (Date.now() - track.baseTime) / 1000;
    const advanced = track.current - track.baseValue;
    return seconds > 0 && advanced > 0 ? advanced / seconds : undefined;
  }

  private rateText(track: Track): string {
    const r = this.rate(track);
    return r === undefined ? '' : `${formatNumber(r)}/s`;
  }

  private printTrack(track: Track, final = false): void {
    const pct = track.total > 0 ? ` ${((100 * track.current) / track.total).toFixed(1)}%` : '';
    const r = this.rate(track);
    const parts = [`[${track.node}] ${track.label} ${track.current}/${track.total}${pct}`];
    if (r !== undefined) parts.push(`${formatNumber(r)}/s`);
    if (final) parts.push('done');
    else if (r !== undefined && track.total > track.current) parts.push(`ETA ${formatDuration((track.total - track.current) / r)}`);
    const m = formatMetrics(track.metrics ?? this.nodeMetrics.get(track.node)?.values);
    if (m) parts.push(m);
    this.output.write(parts.join(' ') + '\n');
    track.printed = track.current;
    const nm = this.nodeMetrics.get(track.node);
    if (nm) nm.printed = true;
  }

  private tick(): void {
    // Every active track, changed or not: a line every interval is the heartbeat that says the work is alive
    // (a stage computing replay targets or a long sampling cell does not advance its count for a while).
    for (const t of this.tracks) this.printTrack(t);
    for (const [node, m] of this.nodeMetrics) {
      if (m.printed) continue;
      m.printed = true;
      this.output.write(`[${node}] step ${m.step} ${formatMetrics(m.values)}\n`);
    }
  }
}
