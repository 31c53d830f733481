import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatRunTimes, runTimes } from '../../bench/stage-times';

function runFolder(lines: unknown[], metrics?: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-stage-times-'));
  fs.writeFileSync(path.join(dir, 'logs.jsonl'), lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  if (metrics) {
    fs.mkdirSync(path.join(dir, 'evaluate'));
    fs.writeFileSync(path.join(dir, 'evaluate', 'metrics.json'), JSON.stringify(metrics));
  }
  return dir;
}

const at = (s: number): string => new Date(Date.UTC(2026, 11, 6, 4, 0, 0) + s * 1000).toISOString();
const ev = (s: number, event: string, node?: string): Record<string, unknown> => ({ time: at(s), kind: 'event', ...(node ? { node } : {}), event });

describe('bench/stage-times', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('per node: start (run-started, else created), end (finished), seconds and share of the run; evaluation cells from metrics.json', () => {
    const dir = runFolder([
      ev(0, 'run-started'),
      ev(0.1, 'created', 'teacher'), ev(0.2, 'finished', 'teacher'),
      ev(1, 'created', 'latents'),
      ev(1, 'created', 'train'), ev(2, 'run-started', 'train'),
      { time: at(30), kind: 'log', node: 'train', level: 'info', message: 'step 10' },
      ev(61, 'finished', 'latents'), ev(62, 'finished', 'train'),
      ev(62, 'created', 'evaluate'), ev(62, 'run-started', 'evaluate'), ev(100, 'finished', 'evaluate'),
      ev(100, 'run-completed'),
    ], { cells: [{ model: 'teacher-64', steps: 64, seconds: 25 }, { model: 'student-1', steps: 1, seconds: 2.5 }] });
    dirs.push(dir);
    const t = runTimes(dir);
    assert.equal(t.wallS, 100);
    assert.equal(t.status, 'completed');
    const byNode = Object.fromEntries(t.stages.map((s) => [s.node, s]));
    assert.deepEqual([byNode.train.startS, byNode.train.endS, byNode.train.seconds, byNode.train.share], [2, 62, 60, 0.6]);
    assert.equal(byNode.latents.ran, false);
    assert.equal(byNode.latents.seconds, 60);
    assert.deepEqual(t.cells, [{ node: 'evaluate', model: 'teacher-64', steps: 64, seconds: 25 }, { node: 'evaluate', model: 'student-1', steps: 1, seconds: 2.5 }]);
    const text = formatRunTimes(t);
    assert.match(text, /^run wall time 100\.0 s \(completed\)/);
    assert.match(text, /\ntrain +2\.0 +62\.0 +60\.0 +60\.0%/);
    assert.match(text, /\nevaluate +62\.0 +100\.0 +38\.0 +38\.0%/);
    assert.match(text, /\nevaluate\/teacher-64 +25\.0 +25\.0%/);
    // Stream producers and sub-second nodes only with --all.
    assert.doesNotMatch(text, /\nlatents|\nteacher /);
    assert.match(formatRunTimes(t, true), /\nlatents +1\.0 +61\.0 +60\.0 +60\.0%/);
  });

  it('errors name the folder or the line', () => {
    const dir = runFolder([ev(0, 'run-started'), '{not json']);
    dirs.push(dir);
    assert.throws(() => runTimes(dir), (e: Error) => e.message.includes('logs.jsonl') && e.message.includes('line 2 is not JSON'));
    assert.throws(() => runTimes(path.join(dir, 'missing')), (e: Error) => e.message === `${path.join(dir, 'missing')} is not a run folder: it has no logs.jsonl`);
    const empty = runFolder([ev(1, 'created', 'x')]);
    dirs.push(empty);
    assert.throws(() => runTimes(empty), /has no run-started event/);
  });
});
