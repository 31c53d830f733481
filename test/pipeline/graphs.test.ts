/**
 * The shipped graph files: every MNIST and latent-data-set graph validates against the registry, and the
 * three graphs/latents steps run one after the other — each reading the model file the previous one
 * wrote — on tiny latent shards and a tiny safetensors teacher (sizes overridden with --set).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry } from '../../nodes/builtin-registry';
import { loadGraph, validateGraph } from '../../src/graph/validate';
import { runGraph } from '../../src/runtime/executor';
import { writeLatentShard } from '../../src/io/shards';
import { readSafetensors } from '../../src/io/safetensors';
import { saveModelFile } from '../../src/stage-engine/node-support';
import { perturbWeights, tinyLatents, tinyUNet } from '../helpers/tiny';

const ROOT = path.join(__dirname, '..', '..');

describe('graphs/mnist and graphs/latents', () => {
  for (const dir of ['graphs/mnist', 'graphs/latents']) {
    for (const file of fs.readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith('.json5'))) {
      it(`${dir}/${file} validates`, async () => {
        const result = await validateGraph(path.join(ROOT, dir, file), { registry: createRegistry() });
        assert.deepEqual(result.problems, []);
      });
    }
  }

  it('runs the three graphs/latents steps in sequence on tiny shards and a tiny safetensors teacher', async function () {
    this.timeout(300000);
    const before = tf.memory().numTensors;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latent-graphs-'));
    const cwd = process.cwd();
    const quiet = new PassThrough();
    quiet.resume();
    try {
      process.chdir(tmp);
      await writeLatentShard(path.join(tmp, 'data/latents/train/shard-0.safetensors'), tinyLatents(24, 1));
      // The tiny teacher has 4 label embeddings: 3 classes and the null class 3.
      const teacher = perturbWeights(tinyUNet('epsilon'));
      await saveModelFile(teacher, path.join(tmp, 'models/teacher.safetensors'));
      teacher.dispose();
      const common = ['latents.config.numClasses=3', 'latents.config.batchSize=4', 'latents.config.testSize=4'];
      const small = (node: string) => [`${node}.config.accumulation=1`, `${node}.config.evalBatches=1`, `${node}.config.evalBatchSize=4`, `${node}.config.checkpointEvery=2`];
      const steps: Array<[string, string[]]> = [
        ['v-finetune', [...common, 'latents.config.nullClass=3', 'vfinetune.config.iterations=2', ...small('vfinetune')]],
        ['stage-one', [...common, 'latents.config.nullClass=3', 'stageone.config.iterations=2', ...small('stageone')]],
        ['stage-two', [...common, 'stagetwo.config.baseSteps=4', 'stagetwo.config.rounds=[{steps: 2, iterations: 2}, {steps: 1, iterations: 2}]',
          'stagetwo.config.replay={blockBatches: 1, times: 2}', ...small('stagetwo')]],
      ];
      for (const [name, sets] of steps) {
        const registry = createRegistry();
        const graph = await loadGraph(path.join(ROOT, 'graphs/latents', `${name}.json5`), { registry, sets });
        const result = await runGraph(graph, { registry, outDir: path.join(tmp, 'runs', `latents-${name}`), progress: 'none', output: quiet, argv: ['test'] });
        assert.equal(result.status, 'completed', `${name}: ${result.error?.message}`);
      }
      const v = await readSafetensors(path.join(tmp, 'runs/latents-v-finetune/vfinetune/model.safetensors'));
      assert.equal(JSON.parse(v.metadata.config).prediction_type, 'v_prediction');
      assert.ok(fs.existsSync(path.join(tmp, 'runs/latents-stage-two/stagetwo/round-1-1steps/student.safetensors')));
    } finally {
      process.chdir(cwd);
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    assert.equal(tf.memory().numTensors, before);
  });
});
