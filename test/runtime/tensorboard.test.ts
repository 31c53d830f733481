import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { runGraph, type RunOptions } from '../../src/runtime/executor';
import { LOGS_FILE, TENSORBOARD_DIR } from '../../src/runtime/run-folder';
import { fixtureNodeTypes, newProbe } from '../fixtures/runtime/node-types';
import { tensorboardNodeTypes } from '../fixtures/tensorboard/node-types';
import { buildGraph, type NodeSpec } from '../fixtures/runtime/graph';
import { assertTensorBoardMatchesLogs, requireReader } from '../helpers/tensorboard-reader';

let tmp: string;

async function run(nodes: Record<string, NodeSpec>, options: RunOptions = {}) {
  const probe = newProbe();
  const graph = buildGraph('tb', [...fixtureNodeTypes(probe), ...tensorboardNodeTypes()], nodes, 5);
  const result = await runGraph(graph, { runsDir: tmp, progress: 'none', output: new PassThrough(), argv: ['node', 'test'], ...options });
  return { result, probe };
}

describe('runtime/tensorboard', () => {
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-tbrun-'));
  });
  afterEach(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a run writes every metric and image of logs.jsonl to <run>/tensorboard, tagged <node>/<name> (read by the Python reader)', async function () {
    const python = requireReader(this);
    const { result } = await run({
      source: { type: 'test-batch-source', config: { count: 3 } },
      sink: { type: 'test-slow-sink', config: { delayMs: 1 }, inputs: { batches: 'source.batches' } },
      'stage-two': { type: 'test-image-logger', config: { count: 4, every: 2 } },
    });
    assert.equal(result.status, 'completed', result.error?.message);
    const read = assertTensorBoardMatchesLogs(python, result.runDir);
    // Spot values, from the fixtures: sink sums x (4 pixels of value i) → 0, 4, 12; the logger's loss is 1/(step+0.3).
    assert.deepEqual(read.scalars.filter((s) => s.tag === 'sink/sum').map((s) => [s.step, s.value]), [[1, 0], [2, 4], [3, 12]]);
    assert.deepEqual(read.scalars.filter((s) => s.step === 2 && s.tag.startsWith('stage-two/')).map((s) => s.tag), ['stage-two/loss', 'stage-two/parts/extra']);
    assert.deepEqual(read.images.map((i) => [i.tag, i.step, i.width, i.height]), [['stage-two/validation/grid', 2, 5, 2], ['stage-two/validation/grid', 4, 7, 2]]);
  });

  it('a failed run and a cancelled run still close the file with everything logged before the end', async function () {
    const python = requireReader(this);
    const failed = await run({ logger: { type: 'test-image-logger', config: { count: 3, every: 1, failMessage: 'diverged' } } });
    assert.equal(failed.result.status, 'failed');
    assert.match(failed.result.error!.message, /diverged/);
    const readFailed = assertTensorBoardMatchesLogs(python, failed.result.runDir);
    assert.equal(readFailed.images.length, 3);

    const controller = new AbortController();
    const pending = run({
      source: { type: 'test-batch-source', config: { count: 100000 } },
      sink: { type: 'test-slow-sink', config: { delayMs: 1 }, inputs: { batches: 'source.batches' } },
    }, { signal: controller.signal });
    // The cancelled run's metrics: wait until some are in logs.jsonl, then cancel.
    const logsOf = () => fs.readdirSync(tmp).map((d) => path.join(tmp, d, LOGS_FILE)).filter((f) => fs.existsSync(f) && fs.readFileSync(f, 'utf8').includes('"node":"sink","step":5'));
    while (logsOf().length === 0) await new Promise((r) => setTimeout(r, 2));
    controller.abort();
    const cancelled = await pending;
    assert.equal(cancelled.result.status, 'cancelled');
    const readCancelled = assertTensorBoardMatchesLogs(python, cancelled.result.runDir);
    assert.ok(readCancelled.scalars.length >= 5);
  });

  it('tensorboard: false writes no TensorBoard folder (ranks other than 0)', async () => {
    const { result } = await run({ logger: { type: 'test-image-logger', config: { count: 2 } } }, { tensorboard: false });
    assert.equal(result.status, 'completed', result.error?.message);
    assert.equal(fs.existsSync(path.join(result.runDir, TENSORBOARD_DIR)), false);
    assert.ok(fs.existsSync(path.join(result.runDir, 'logger', 'validation', 'step-2.png')));
  });
});
