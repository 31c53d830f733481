/**
 * graphs/imagenet end to end on the tiny-cin checkpoint and four tiny images: import → encode →
 * v-finetune → stage one (g = 5) → stage two (64 → 32 → … → 1), each graph run through the CLI with
 * the seed's hyper-parameters except sizes and iteration counts, overridden with --set so that it
 * fits CI time. Checks that each step starts from the previous step's model and writes its own.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSafetensorsHeader } from '../../src/io/safetensors';
import { importLdmCheckpoint } from '../../src/ldm/import';
import { encodeImageFolder } from '../../src/ldm/encode-folder';
import { main, type CliIO } from '../../src/cli/main';
import { TINY_CKPT, TINY_YAML, writeTinyImageNet } from './helpers';

const GRAPHS = path.join(__dirname, '..', '..', 'graphs', 'imagenet');

function captureIO(): CliIO & { stdout: string; stderr: string } {
  const io = {
    stdout: '', stderr: '',
    out(t: string) { io.stdout += t; },
    err(t: string) { io.stderr += t; },
    progressStream: fs.createWriteStream('/dev/null'),
    handleSignals: false,
  };
  return io;
}

async function configOf(file: string): Promise<{ prediction_type: string; guidance_embed: boolean }> {
  return JSON.parse((await readSafetensorsHeader(file)).metadata.config);
}

describe('graphs/imagenet (tiny checkpoint, four images)', function () {
  this.timeout(600_000);
  let dir: string;
  let sets: string[];
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-imagenet-graphs-'));
    const model = path.join(dir, 'models', 'cin256-v2');
    await importLdmCheckpoint({ config: TINY_YAML, ckpt: TINY_CKPT, out: model });
    const [root, classes] = writeTinyImageNet(dir);
    const latents = path.join(dir, 'latents');
    await encodeImageFolder({ model, images: root, classes, out: latents, shardSize: 2, dtype: 'F32' });
    sets = [
      '--set', `teacher.config.model=${JSON.stringify(model)}`,
      '--set', `latents.config.path=${JSON.stringify(latents)}`,
      '--set', 'latents.config.testSize=1',
      '--set', 'latents.config.batchSize=2',
    ];
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function run(graph: string, extra: string[]): Promise<string> {
    const out = path.join(dir, 'runs', graph);
    const io = captureIO();
    const code = await main(['run', path.join(GRAPHS, `${graph}.json5`), ...sets, ...extra, '--backend', 'cpu', '--out', out], io);
    assert.equal(code, 0, `${graph}: ${io.stderr}\n${io.stdout}`);
    return out;
  }

  it('v-finetune → stage one → stage two (64 → 1, every round\'s student written) run in sequence, each from the previous result', async () => {
    const stage = ['accumulation=1', 'evalBatches=0', 'checkpointEvery=0', 'logEvery=0'];
    const v = await run('v-finetune', [...stage.flatMap((s) => ['--set', `vfinetune.config.${s}`]), '--set', 'vfinetune.config.iterations=2']);
    const vFile = path.join(v, 'vfinetune', 'model.safetensors');
    assert.equal((await configOf(vFile)).prediction_type, 'v_prediction');

    const one = await run('stage-one', [...stage.flatMap((s) => ['--set', `stageone.config.${s}`]),
      '--set', 'stageone.config.iterations=2', '--set', `teacher.config.weights=${JSON.stringify(vFile)}`]);
    const oneFile = path.join(one, 'stageone', 'model.safetensors');
    const oneConfig = await configOf(oneFile);
    assert.deepEqual([oneConfig.prediction_type, oneConfig.guidance_embed], ['v_prediction', false]);

    const rounds = [32, 16, 8, 4, 2, 1].map((steps) => ({ steps, iterations: 1 }));
    const two = await run('stage-two', [...stage.flatMap((s) => ['--set', `stagetwo.config.${s}`]),
      '--set', `stagetwo.config.rounds=${JSON.stringify(rounds)}`, '--set', 'stagetwo.config.replay={blockBatches: 1, times: 1}',
      '--set', `teacher.config.weights=${JSON.stringify(oneFile)}`]);
    const students = [32, 16, 8, 4, 2, 1].map((n, r) => path.join(two, 'stagetwo', `round-${r}-${n}steps`, 'student.safetensors'));
    for (const f of students) {
      assert.ok(fs.existsSync(f), `missing ${f}`);
      assert.equal((await configOf(f)).prediction_type, 'v_prediction');
    }
  });
});
