import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { renderReportHtml, renderSummary, writeReport } from '../../src/report/report';
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
