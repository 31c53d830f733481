import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readRunLogs } from '../../src/report/curves';

const lines = [
  { kind: 'event', event: 'run-started' },
  { kind: 'metrics', node: 'finetune', step: 1, values: { loss: 0.5, lr: 1 } },
  { kind: 'metrics', node: 'finetune', step: 1, values: { evalLoss: 0.7 } },
  { kind: 'image', node: 'finetune', tag: 'validation', step: 1, bytes: 10, file: 'finetune/validation/step-1.png' },
  { kind: 'metrics', node: 'finetune', step: 2, values: { loss: 0.4 } },
  { kind: 'image', node: 'finetune', tag: 'validation', step: 2, bytes: 10, file: 'finetune/validation/step-2.png' },
  // A resumed run logs step 2 again: the later value wins.
  { kind: 'metrics', node: 'finetune', step: 2, values: { loss: 0.3 } },
  { kind: 'metrics', node: 'stage-two', step: 1, values: { round: 0, steps: 2, loss: 0.2 } },
  { kind: 'metrics', node: 'stage-two', step: 2, values: { round: 1, steps: 1, loss: 0.1 } },
  { kind: 'metrics', node: 'stage-two', step: 2, values: { round: 1, steps: 1, evalLoss: 0.15 } },
  { kind: 'metrics', node: 'evaluate', step: 1, values: { fid: 3 } },
];

describe('report/curves', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'curves-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads each stage\'s loss and evaluation loss (per round for stage two) and the newest image per tag', () => {
    const file = path.join(dir, 'logs.jsonl');
    // The last line is cut short, as a crash mid-write leaves it: ignored.
    fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n{"kind":"metr');
    const logs = readRunLogs(file);
    assert.deepEqual(logs.stages, [
      { node: 'finetune', loss: [{ name: 'loss', points: [{ x: 1, y: 0.5 }, { x: 2, y: 0.3 }] }], evalLoss: [{ name: 'evaluation loss', points: [{ x: 1, y: 0.7 }] }] },
      { node: 'stage-two', loss: [{ name: 'round 0 (2 steps)', points: [{ x: 1, y: 0.2 }] }, { name: 'round 1 (1 step)', points: [{ x: 2, y: 0.1 }] }], evalLoss: [{ name: 'round 1 (1 step)', points: [{ x: 2, y: 0.15 }] }] },
    ]);
    assert.deepEqual(logs.images, [{ node: 'finetune', tag: 'validation', step: 2, file: 'finetune/validation/step-2.png' }]);
  });

  it('gives nothing for a run without logs.jsonl, and names a damaged line', () => {
    assert.deepEqual(readRunLogs(path.join(dir, 'absent.jsonl')), { stages: [], images: [] });
    const file = path.join(dir, 'logs.jsonl');
    fs.writeFileSync(file, '{"kind":"event"}\nnot json\n{"kind":"event"}\n{"kind":"event"}\n');
    assert.throws(() => readRunLogs(file), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: line 2 is not JSON`));
  });
});
