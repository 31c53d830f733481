/**
 * The run report: `report.html` (self-contained: grids as data URIs, charts as inline SVG) — teacher
 * and student side by side per step count, the FID/accuracy charts, the numbers, then each stage's
 * training curves and validation grids from logs.jsonl —
 * `metrics.json` (the same numbers), and a one-screen text summary for the console.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileFormatError } from '../errors';
import { seriesCells, seriesNames, type EvaluationCell, type EvaluationMetrics } from './metrics';
import type { RunLogs } from './curves';
import { lineChartSvg } from './svg';
import { writeFileAtomicSync } from '../io/atomic-write';

function escapeHtml(s: string): string {
  return s.replace(/[<>&"]/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' }[ch]!));
}

function num(v: number | undefined, digits = 2): string {
  return v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

/** Which side of the comparison a cell is on: its `role`, else guessed from the series / model name. */
export function cellRole(c: EvaluationCell): 'teacher' | 'student' {
  return c.role ?? (/^teacher/i.test(c.series) || /^teacher/i.test(c.model) ? 'teacher' : 'student');
}

function readImage(runDir: string, rel: string): Buffer {
  const file = path.join(runDir, rel);
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new FileFormatError(file, `grid image named in the metrics cannot be read: ${(err as Error).message}`, { cause: err });
  }
}

function dataUri(bytes: Buffer): string {
  return `data:image/png;base64,${bytes.toString('base64')}`;
}

function stepsText(n: number): string {
  return `${n} step${n === 1 ? '' : 's'}`;
}

/** One row per step count (most steps first); one column per series, teachers first: grid, FID, accuracy. */
function sideBySide(m: EvaluationMetrics, runDir: string): string {
  const names = seriesNames(m);
  const roleOf = new Map(names.map((n) => [n, cellRole(m.cells.find((c) => c.series === n)!)]));
  const columns = [...names.filter((n) => roleOf.get(n) === 'teacher'), ...names.filter((n) => roleOf.get(n) !== 'teacher')];
  const steps = [...new Set(m.cells.map((c) => c.steps))].sort((a, b) => b - a);
  const head = `<tr><th>steps</th>${columns.map((n) => `<th>${escapeHtml(n)}<br><small>${roleOf.get(n)}</small></th>`).join('')}</tr>`;
  const rows = steps.map((n) => {
    const cells = columns.map((name) => {
      const c = m.cells.find((x) => x.series === name && x.steps === n);
      if (!c) return '<td class="empty">—</td>';
      const img = c.grid
        ? `<img alt="${escapeHtml(`${name}, ${n} steps`)}" src="${dataUri(readImage(runDir, c.grid))}"/>`
        : '<div class="nogrid">no grid</div>';
      return `<td>${img}<div class="score">FID <b>${num(c.fid, 2)}</b> · accuracy <b>${num(c.accuracy * 100, 1)}%</b>` +
        `${c.guidanceScale !== 1 ? ` · g=${c.guidanceScale}` : ''}</div></td>`;
    });
    return `<tr><th>${n}</th>${cells.join('')}</tr>`;
  });
  return `<table class="side"><thead>${head}</thead><tbody>${rows.join('\n')}</tbody></table>`;
}

/** Each stage's loss and evaluation-loss curves, and its newest validation grids. */
function trainingSection(logs: RunLogs, runDir: string): string {
  const nodes = [...new Set([...logs.stages.map((s) => s.node), ...logs.images.map((i) => i.node)])];
  return nodes.map((node) => {
    const curves = logs.stages.find((s) => s.node === node);
    const charts: string[] = [];
    if (curves?.loss.length) {
      charts.push(lineChartSvg(curves.loss, { title: `${node}: training loss`, yLabel: 'loss', xLabel: 'optimizer step', xScale: 'linear', id: `${node}/loss` }));
    }
    if (curves?.evalLoss.length) {
      charts.push(lineChartSvg(curves.evalLoss, { title: `${node}: evaluation loss (held-out)`, yLabel: 'evaluation loss', xLabel: 'optimizer step', xScale: 'linear', id: `${node}/evalLoss` }));
    }
    const grids = logs.images.filter((i) => i.node === node).map((i) => {
      let bytes: Buffer | undefined;
      try {
        bytes = fs.readFileSync(path.join(runDir, i.file));
      } catch {
        bytes = undefined;
      }
      const caption = `${escapeHtml(i.tag)} — step ${i.step}`;
      return bytes
        ? `<figure><img alt="${escapeHtml(`${node} ${i.tag} step ${i.step}`)}" src="${dataUri(bytes)}"/><figcaption>${caption}</figcaption></figure>`
        : `<figure><div class="nogrid">${escapeHtml(i.file)} is missing</div><figcaption>${caption}</figcaption></figure>`;
    });
    return `<section class="stage"><h3>${escapeHtml(node)}</h3><div class="charts">${charts.join('\n')}</div>` +
      (grids.length ? `<p class="note">Newest validation grid${grids.length === 1 ? '' : 's'} (EMA weights, fixed noise; rows = classes):</p><div>${grids.join('\n')}</div>` : '') +
      '</section>';
  }).join('\n');
}

/**
 * The HTML report; `runDir` is where the grid files named in the cells (and in the logs) are read from,
 * `logs` the run's training curves and validation grids (src/report/curves.ts).
 */
export function renderReportHtml(m: EvaluationMetrics, runDir: string, logs: RunLogs = { stages: [], images: [] }): string {
  const names = seriesNames(m);
  const fidChart = lineChartSvg(names.map((name) => ({ name, points: seriesCells(m, name).map((c) => ({ x: c.steps, y: c.fid })) })),
    { title: 'FID (classifier features) vs sampling steps — lower is better', yLabel: 'FID', id: 'fid' });
  const accChart = lineChartSvg(names.map((name) => ({ name, points: seriesCells(m, name).map((c) => ({ x: c.steps, y: c.accuracy * 100 })) })),
    { title: 'Class accuracy of samples vs steps', yLabel: 'accuracy (%)', yRange: [0, 100], id: 'accuracy' });
  const rows = names.flatMap((name) => seriesCells(m, name).map((c) =>
    `<tr><td>${escapeHtml(name)}</td><td>${c.steps}</td><td>${c.guidanceScale}</td><td>${num(c.fid, 3)}</td><td>${num(c.accuracy * 100, 1)}%</td><td>${c.samples}</td><td>${num(c.seconds, 1)}</td></tr>`));
  const notes = Object.entries(m.notes ?? {}).map(([k, v]) => `<li><b>${escapeHtml(k)}</b>: ${escapeHtml(String(v))}</li>`).join('');
  const training = trainingSection(logs, runDir);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(m.title)}</title>
<style>
body{font-family:sans-serif;margin:24px;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
td:first-child,th:first-child{text-align:left}
table.side td{text-align:center;vertical-align:top}table.side img{width:min(360px,38vw);height:auto}table.side th{vertical-align:middle;text-align:center}
table.side th small{font-weight:normal;color:#777}
.score{font-size:13px;margin-top:4px}.empty{color:#999}.nogrid{color:#999;font-size:12px;padding:20px}
figure{display:inline-block;margin:8px;vertical-align:top}figcaption{font-size:12px;text-align:center}
img{image-rendering:pixelated;min-width:96px}.charts svg{margin-right:12px}.note{font-size:13px;color:#555}
section.stage{border-top:1px solid #ddd;margin-top:12px}
</style></head><body>
<h1>${escapeHtml(m.title)}</h1>
<p>Created ${escapeHtml(m.createdAt)}${m.backend ? `, backend ${escapeHtml(m.backend)}` : ''}${m.seed !== undefined ? `, seed ${m.seed}` : ''}.
${m.split ? `FID reference: the ${m.referenceSize !== undefined ? `${m.referenceSize} ` : ''}${escapeHtml(m.split)} images. ` : ''}${m.choice ? `<b>Chosen guidance scale: g = ${m.choice.guidanceScale}</b> (${escapeHtml(m.choice.rule)}, on the ${escapeHtml(m.choice.split)} part). ` : ''}${m.realFid !== undefined ? `Real held-out images against each other: FID ${num(m.realFid, 3)}${m.realAccuracy !== undefined ? `, classifier accuracy ${num(m.realAccuracy * 100, 1)}%` : ''}.` : ''}</p>
<h2>Teacher and student at equal step counts</h2>
<p class="note">One row per sampling step count; each grid has one row per class, sampled from the same noise for every model.</p>
${sideBySide(m, runDir)}
<h2>FID and accuracy</h2>
<div class="charts">${fidChart}
${accChart}</div>
<h2>Numbers</h2>
<table><thead><tr><th>series</th><th>steps</th><th>guidance</th><th>FID</th><th>accuracy</th><th>samples</th><th>seconds</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>
${training ? `<h2>Training</h2>\n${training}` : ''}
${notes ? `<h2>Run</h2><ul>${notes}</ul>` : ''}
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
  if (m.split) lines.push(`FID reference: the ${m.referenceSize ?? ''}${m.referenceSize !== undefined ? ' ' : ''}${m.split} images`);
  if (m.realFid !== undefined) lines.push(`real held-out vs real held-out: FID ${num(m.realFid, 3)}`);
  if (m.choice) lines.push(`chosen: g = ${m.choice.guidanceScale} (${m.choice.rule}, ${m.choice.split} part)`);
  return lines.join('\n');
}

/** Writes `metrics.json` and `report.html` into `dir`, returns their paths. */
export function writeReport(m: EvaluationMetrics, dir: string, runDir: string, logs?: RunLogs): { html: string; json: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, 'metrics.json');
  const html = path.join(dir, 'report.html');
  writeFileAtomicSync(json, JSON.stringify(m, null, 2) + '\n');
  writeFileAtomicSync(html, renderReportHtml(m, runDir, logs));
  return { html, json };
}
