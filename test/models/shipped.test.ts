/**
 * The shipped MNIST models match their manifests (models/mnist/<name>.json): the file's sha256 and size,
 * and the model config in the file's metadata; every manifest names the graph that reproduces it.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import JSON5 from 'json5';
import { readSafetensors } from '../../src/io/safetensors';

const DIR = path.join(__dirname, '..', '..', 'models', 'mnist');

describe('models/mnist: shipped files match their manifests', () => {
  const manifests = fs.readdirSync(DIR).filter((f) => f.endsWith('.json'));
  it('ships the autoencoder, the classifier and the teacher, each with a manifest', () => {
    assert.deepEqual(manifests.sort(), ['autoencoder.json', 'classifier.json', 'teacher.json']);
  });
  for (const file of manifests) {
    it(`${file}: sha256, size, config and graph`, async () => {
      const m = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')) as { file: string; sha256: string; bytes: number; graph: string; config: unknown; curve?: unknown[] };
      const bytes = fs.readFileSync(path.join(DIR, m.file));
      assert.equal(bytes.length, m.bytes);
      assert.equal(createHash('sha256').update(bytes).digest('hex'), m.sha256);
      assert.ok(fs.existsSync(path.join(DIR, '..', '..', m.graph)), `${m.graph} exists`);
      const st = await readSafetensors(path.join(DIR, m.file));
      assert.deepEqual(JSON.parse(st.metadata.config), m.config);
    });
  }

  it('teacher.json: the config and iterations are what graphs/mnist/teacher.json5 trains, and its curve ends at the last step', () => {
    const m = JSON.parse(fs.readFileSync(path.join(DIR, 'teacher.json'), 'utf8')) as { graph: string; iterations: number; config: Record<string, unknown>; curve: Array<{ step: number; loss?: number; evalLoss?: number }> };
    const graph = JSON5.parse(fs.readFileSync(path.join(DIR, '..', '..', m.graph), 'utf8')) as { nodes: Record<string, { config: Record<string, unknown> }> };
    const init = graph.nodes.init.config.config as Record<string, unknown>;
    for (const [key, value] of Object.entries(init)) assert.deepEqual(m.config[key], value, key);
    assert.equal(m.iterations, graph.nodes.teacher.config.iterations);
    assert.equal(m.config.prediction_type, 'v_prediction');
    assert.equal(m.curve.filter((c) => c.loss !== undefined).at(-1)!.step, m.iterations);
    assert.equal(m.curve.filter((c) => c.evalLoss !== undefined).at(-1)!.step, m.iterations);
  });
});
