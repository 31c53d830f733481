/**
 * The training side of the report, read back from the run's `logs.jsonl`: each stage's loss and
 * evaluation loss against its optimizer step (one series per round for stage two, whose metrics carry
 * `round` and `steps`), and the validation grids the stages logged as images.
 */
import * as fs from 'node:fs';
import { FileFormatError } from '../errors';
import type { ChartSeries } from './svg';

/** The run folder's log (the runtime writes it: src/runtime/run-folder.ts, LOGS_FILE). */
export const RUN_LOGS_FILE = 'logs.jsonl';

export interface StageCurves {
  node: string;
  /** Training loss, one series per round (a single series `loss` for one-round stages). */
  loss: ChartSeries[];
  /** Evaluation loss, likewise (empty when the stage measured none). */
  evalLoss: ChartSeries[];
}

export interface LoggedImage {
  node: string;
  tag: string;
  step: number;
  /** Relative to the run folder. */
  file: string;
}

export interface RunLogs {
  stages: StageCurves[];
  /** The newest image of each (node, tag), in first-appearance order. */
  images: LoggedImage[];
}

interface MetricsRecord { kind: 'metrics'; node: string; step: number; values: Record<string, number> }
interface ImageRecord { kind: 'image'; node: string; tag: string; step: number; file?: string }

function seriesName(values: Record<string, number>, what: string): string {
  if (values.round === undefined) return what;
  return `round ${values.round}${values.steps !== undefined ? ` (${values.steps} step${values.steps === 1 ? '' : 's'})` : ''}`;
}

/** Reads `logs.jsonl`; an absent file gives empty curves (a report of evaluation only). */
export function readRunLogs(file: string): RunLogs {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { stages: [], images: [] };
    throw new FileFormatError(file, `cannot be read: ${(err as Error).message}`, { cause: err });
  }
  // node → metric → series → step → value (a resumed run may log a step twice: the later value wins).
  const curves = new Map<string, { loss: Map<string, Map<number, number>>; evalLoss: Map<string, Map<number, number>> }>();
  const images = new Map<string, LoggedImage>();
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let record: MetricsRecord | ImageRecord | { kind?: string };
    try {
      record = JSON.parse(line);
    } catch (err) {
      // A crash can cut the last line short; anything else is a damaged file.
      if (i >= text.split('\n').length - 2) return;
      throw new FileFormatError(file, `line ${i + 1} is not JSON: ${(err as Error).message}`, { cause: err });
    }
    if (record.kind === 'metrics') {
      const r = record as MetricsRecord;
      for (const metric of ['loss', 'evalLoss'] as const) {
        const v = r.values?.[metric];
        if (typeof v !== 'number' || !Number.isFinite(v)) continue;
        if (!curves.has(r.node)) curves.set(r.node, { loss: new Map(), evalLoss: new Map() });
        const byName = curves.get(r.node)![metric];
        const name = seriesName(r.values, metric === 'loss' ? 'loss' : 'evaluation loss');
        if (!byName.has(name)) byName.set(name, new Map());
        byName.get(name)!.set(r.step, v);
      }
    } else if (record.kind === 'image') {
      const r = record as ImageRecord;
      // Only training stages' validation grids: the evaluate node logs its cells' grids too (TensorBoard),
      // and the report shows those in its side-by-side table already.
      if (r.file && r.tag.startsWith('validation')) images.set(`${r.node}\u0000${r.tag}`, { node: r.node, tag: r.tag, step: r.step, file: r.file });
    }
  });
  const toSeries = (m: Map<string, Map<number, number>>): ChartSeries[] =>
    [...m].map(([name, points]) => ({ name, points: [...points].sort((a, b) => a[0] - b[0]).map(([x, y]) => ({ x, y })) }));
  return {
    stages: [...curves].map(([node, c]) => ({ node, loss: toSeries(c.loss), evalLoss: toSeries(c.evalLoss) })),
    images: [...images.values()],
  };
}
