import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { validateNodeConfig } from '../../src/schema/config';
import type { EvaluationMetrics } from '../../src/report/metrics';
import { builtinNodeTypes } from '../index';
import { nodeContext } from '../../test/helpers/node-context';
import { reportNode, type ReportConfig } from './index';

describe('nodes/report', () => {
  it('is registered and writes report.html and metrics.json into the run folder with the notes', async () => {
    assert.ok(builtinNodeTypes.includes(reportNode));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rep-'));
    const metrics: EvaluationMetrics = { title: 'm', createdAt: 'now', cells: [{ series: 's', model: 's', steps: 1, guidanceScale: 1, fid: 2, accuracy: 0.5, samples: 4 }] };
    const config = validateNodeConfig(reportNode, { title: 'My run', print: false, notes: { iterations: 12 } }).config as unknown as ReportConfig;
    const ctx = nodeContext(config, { runDir: dir, resources: { metrics } });
    const instance = await reportNode.create(ctx);
    await instance.run!();
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'metrics.json'), 'utf8'));
    assert.equal(json.title, 'My run');
    assert.deepEqual(json.notes, { iterations: 12 });
    const html = fs.readFileSync(path.join(dir, 'report.html'), 'utf8');
    assert.match(html, /<h1>My run<\/h1>/);
    assert.match(html, /<li><b>iterations<\/b>: 12<\/li>/);
    assert.match(ctx.logged[0].message, /report written/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
