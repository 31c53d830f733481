/**
 * The run report: `report.html` (self-contained: grids as data URIs, charts as inline SVG),
 * `metrics.json` (the same numbers), and a one-screen text summary for the console.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileFormatError } from '../errors';
import { seriesCells, seriesNames, type EvaluationMetrics } from './metrics';
import { lineChartSvg } from './svg';

function escapeHtml(s: string): string {
  return s.replace(/[<>&"]/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' }[ch]!));
}

function num(v: number | undefined, digits = 2): string {
  return v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

/** The HTML report; `runDir` is where the grid files named in the cells are read from. */
export function renderReportHtml(m: EvaluationMetrics, runDir: string): string {
  const names = seriesNames(m);
  const fidChart = lineChartSvg(names.map((name) => ({ name, points: seriesCells(m, name).map((c) => ({ x: c.steps, y: c.fid })) })),
    { title: 'FID (classifier features) vs sampling steps — lower is better', yLabel: 'FID' });
  const accChart = lineChartSvg(names.map((name) => ({ name, points: seriesCells(m, name).map((c) => ({ x: c.steps, y: c.accuracy * 100 })) })),
    { title: 'Class accuracy of samples vs steps', yLabel: 'accuracy (%)', yRange: [0, 100] });
  const rows = names.flatMap((name) => seriesCells(m, name).map((c) =>
    `<tr><td>${escapeHtml(name)}</td><td>${c.steps}</td><td>${c.guidanceScale}</td><td>${num(c.fid, 3)}</td><td>${num(c.accuracy * 100, 1)}%</td><td>${c.samples}</td><td>${num(c.seconds, 1)}</td></tr>`));
  const grids = names.flatMap((name) => seriesCells(m, name).filter((c) => c.grid).map((c) => {
    const file = path.join(runDir, c.grid!);
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (err) {
      throw new FileFormatError(file, `grid image named in the metrics cannot be read: ${(err as Error).message}`, { cause: err });
    }
    return `<figure><img alt="${escapeHtml(`${name}, ${c.steps} steps`)}" src="data:image/png;base64,${bytes.toString('base64')}"/>` +
      `<figcaption>${escapeHtml(name)} — ${c.steps} step${c.steps === 1 ? '' : 's'} (FID ${num(c.fid)}, acc ${num(c.accuracy * 100, 1)}%)</figcaption></figure>`;
  }));
  const notes = Object.entries(m.notes ?? {}).map(([k, v]) => `<li><b>${escapeHtml(k)}</b>: ${escapeHtml(String(v))}</li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(m.title)}</title>
<style>
body{font-family:sans-serif;margin:24px;max-width:1100px}
table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
td:first-child,th:first-child{text-align:left}
figure{display:inline-block;margin:8px;vertical-align:top}figcaption{font-size:12px;text-align:center}
img{image-rendering:pixelated}
</style></head><body>
<h1>${escapeHtml(m.title)}</h1>
<p>Created ${escapeHtml(m.createdAt)}${m.backend ? `, backend ${escapeHtml(m.backend)}` : ''}${m.seed !== undefined ? `, seed ${m.seed}` : ''}.
${m.realFid !== undefined ? `Real held-out images against each other: FID ${num(m.realFid, 3)}${m.realAccuracy !== undefined ? `, classifier accuracy ${num(m.realAccuracy * 100, 1)}%` : ''}.` : ''}</p>
<div>${fidChart}</div>
<div>${accChart}</div>
<h2>Numbers</h2>
<table><thead><tr><th>series</th><th>steps</th><th>guidance</th><th>FID</th><th>accuracy</th><th>samples</th><th>seconds</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>
${notes ? `<h2>Run</h2><ul>${notes}</ul>` : ''}
<h2>Samples (rows = classes)</h2>
${grids.join('\n')}
</body></html>
`;
}

/** A fixed-width table of every cell, at most one screen. */
export function renderSummary(m: EvaluationMetrics): string {
  const lines = [`${m.title}${m.backend ? ` (backend ${m.backend})` : ''}`];
  const names = seriesNames(m);
  const width = Math.max(6, ...names.map((n) => n.length));
  lines.push(`${'series'.padEnd(width)}  steps      FID  accuracy  samples`);
  for (const name of names) {
    for (const c of seriesCells(m, name)) {
      lines.push(`${name.padEnd(width)}  ${String(c.steps).padStart(5)}  ${num(c.fid, 3).padStart(7)}  ${(num(c.accuracy * 100, 1) + '%').padStart(8)}  ${String(c.samples).padStart(7)}`);
    }
  }
  if (m.realFid !== undefined) lines.push(`real held-out vs real held-out: FID ${num(m.realFid, 3)}`);
  return lines.join('\n');
}

/** Writes `metrics.json` and `report.html` into `dir`, returns their paths. */
export function writeReport(m: EvaluationMetrics, dir: string, runDir: string): { html: string; json: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, 'metrics.json');
  const html = path.join(dir, 'report.html');
  fs.writeFileSync(json, JSON.stringify(m, null, 2) + '\n');
  fs.writeFileSync(html, renderReportHtml(m, runDir));
  return { html, json };
}
