import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cellRole, renderReportHtml, renderSummary, writeReport } from '../../src/report/report';
import { lineChartSvg } from '../../src/report/svg';
import type { EvaluationMetrics } from '../../src/report/metrics';
import { encodeImageGrid } from '../../src/io/png';

function metrics(): EvaluationMetrics {
  return {
    title: 'toy run', createdAt: '2026-01-01T00:00:00Z', backend: 'cpu', seed: 1, realFid: 0.5,
    cells: [
      { series: 'teacher', model: 't', steps: 4, guidanceScale: 3, fid: 9, accuracy: 0.9, samples: 10 },
      { series: 'teacher', model: 't', steps: 1, guidanceScale: 3, fid: 30, accuracy: 0.5, samples: 10, grid: 'g/t1.png' },
      { series: 'student <s>', model: 's', steps: 1, guidanceScale: 1, fid: 10, accuracy: 0.95, samples: 10 },
    ],
  };
}

describe('report', () => {
  it('draws one polyline per series with at least two points and a legend entry per series', () => {
    const svg = lineChartSvg([{ name: 'a', points: [{ x: 1, y: 1 }, { x: 8, y: 2 }] }, { name: 'b', points: [{ x: 2, y: 3 }] }], { title: 't', yLabel: 'y' });
    assert.equal((svg.match(/<polyline/g) ?? []).length, 1);
    assert.equal((svg.match(/<circle/g) ?? []).length, 3);
    assert.match(svg, />a<\/text>/);
    assert.match(svg, />b<\/text>/);
    // x ticks at the distinct step counts.
    for (const x of [1, 2, 8]) assert.match(svg, new RegExp(`text-anchor="middle">${x}</text>`));
  });

  it('a linear x axis (training steps) has 5 ticks from the first to the last step; y ticks are told apart in a narrow range', () => {
    const svg = lineChartSvg([{ name: 'loss', points: [{ x: 0, y: 0.6101 }, { x: 100, y: 0.6104 }] }], { title: 't', yLabel: 'y', xScale: 'linear', id: 'c' });
    assert.match(svg, /data-chart="c"/);
    for (const x of [0, 25, 50, 75, 100]) assert.match(svg, new RegExp(`text-anchor="middle">${x}</text>`));
    const yTicks = [...svg.matchAll(/text-anchor="end">([^<]+)<\/text>/g)].map((t) => t[1]);
    assert.equal(new Set(yTicks).size, 5, yTicks.join(' '));
  });

  it('writes a self-contained report.html with embedded grids, escaped names and the metrics.json', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'report-'));
    fs.mkdirSync(path.join(dir, 'g'));
    fs.writeFileSync(path.join(dir, 'g/t1.png'), encodeImageGrid(new Float32Array(4), [1, 2, 2, 1], { rows: 1, cols: 1 }));
    const { html, json } = writeReport(metrics(), path.join(dir, 'report'), dir);
    const text = fs.readFileSync(html, 'utf8');
    assert.match(text, /<img alt="teacher, 1 steps" src="data:image\/png;base64,iVBOR/);
    assert.doesNotMatch(text, /src="(?!data:)/); // nothing external
    assert.match(text, /student &lt;s&gt;/);
    assert.equal((text.match(/<svg/g) ?? []).length, 2);
    assert.deepEqual(JSON.parse(fs.readFileSync(json, 'utf8')), metrics());
    fs.rmSync(dir, { recursive: true });
  });

  it('puts teacher and student side by side, one row per step count (most steps first), and draws training curves from the logs', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'report-'));
    fs.mkdirSync(path.join(dir, 'g'));
    fs.writeFileSync(path.join(dir, 'g/t1.png'), encodeImageGrid(new Float32Array(4), [1, 2, 2, 1], { rows: 1, cols: 1 }));
    // The student series is listed first in the cells; the teacher still gets the first column.
    const m = metrics();
    m.cells = [m.cells[2], m.cells[0], m.cells[1]];
    assert.deepEqual(m.cells.map(cellRole), ['student', 'teacher', 'teacher']);
    const html = renderReportHtml(m, dir, {
      stages: [{ node: 'stage-two', loss: [{ name: 'round 0 (2 steps)', points: [{ x: 1, y: 0.5 }, { x: 2, y: 0.4 }] }], evalLoss: [] }],
      images: [{ node: 'stage-two', tag: 'validation/round-0-2steps', step: 2, file: 'g/t1.png' }, { node: 'stage-two', tag: 'validation/x', step: 3, file: 'gone.png' }],
    });
    const side = html.slice(html.indexOf('<table class="side">'), html.indexOf('</table>'));
    assert.match(side, /<th>steps<\/th><th>teacher<br><small>teacher<\/small><\/th><th>student &lt;s&gt;<br><small>student<\/small><\/th>/);
    const rows = side.split('<tr><th>').slice(2).map((r) => r.slice(0, r.indexOf('<')));
    assert.deepEqual(rows, ['4', '1']);
    assert.match(side, /<tr><th>4<\/th><td><div class="nogrid">no grid<\/div><div class="score">FID <b>9\.00<\/b> · accuracy <b>90\.0%<\/b> · g=3<\/div><\/td><td class="empty">—<\/td><\/tr>/);
    assert.match(html, /<h2>Training<\/h2>\n<section class="stage"><h3>stage-two<\/h3>/);
    assert.match(html, /data-chart="stage-two\/loss"/);
    assert.match(html, /<polyline data-series="round 0 \(2 steps\)" data-points="2"/);
    assert.match(html, /<figcaption>validation\/round-0-2steps — step 2<\/figcaption>/);
    assert.match(html, /gone\.png is missing/);
    fs.rmSync(dir, { recursive: true });
  });

  it('summarises every cell, sorted by steps within a series', () => {
    const s = renderSummary(metrics()).split('\n');
    assert.equal(s[0], 'toy run (backend cpu)');
    assert.match(s[2], /^teacher\s+1\s+30\.000\s+50\.0%\s+10$/);
    assert.match(s[3], /^teacher\s+4\s+9\.000\s+90\.0%/);
    assert.match(s[4], /^student <s>\s+1\s+10\.000\s+95\.0%/);
  });

  it('names a missing grid file', () => {
    assert.throws(() => renderReportHtml(metrics(), '/nonexistent-dir'), /nonexistent-dir\/g\/t1\.png: grid image named in the metrics cannot be read/);
  });
});
