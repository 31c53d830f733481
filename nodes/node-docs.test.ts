/**
 * The doc page of every pipeline node type (nodes/<folder>/README.md) documents every port and every
 * config key of its schema, with the schema's default.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { builtinNodeTypes } from './index';

const PIPELINE_NODES: Record<string, string> = {
  'autoencoder': 'autoencoder', 'autoencoder-training': 'autoencoder-training', 'classifier': 'classifier',
  'classifier-training': 'classifier-training', 'ddim-sampling': 'ddim-sampling', 'encode-latents': 'encode-latents',
  'evaluate': 'evaluate', 'guidance-distillation': 'guidance-distillation', 'idx-dataset': 'idx-dataset',
  'latent-dataset': 'latent-dataset', 'mnist-dataset': 'mnist-dataset', 'progressive-distillation': 'progressive-distillation',
  'report': 'report', 'teacher-training': 'teacher-training', 'unet': 'unet', 'v-finetune': 'v-finetune',
};

describe('pipeline node doc pages', () => {
  for (const [type, folder] of Object.entries(PIPELINE_NODES)) {
    it(`nodes/${folder}/README.md documents every port and config key of ${type}`, () => {
      const def = builtinNodeTypes.find((d) => d.type === type);
      assert.ok(def, `${type} is registered`);
      const text = fs.readFileSync(path.join(__dirname, folder, 'README.md'), 'utf8');
      assert.ok(text.startsWith(`# \`${type}\``));
      for (const port of [...Object.keys(def.inputs), ...Object.keys(def.outputs)]) assert.match(text, new RegExp(`\\| \`${port}\` \\((input|output)`), `port ${port}`);
      const props = (def.configSchema as { properties: Record<string, { default?: unknown }> }).properties;
      for (const [key, prop] of Object.entries(props)) {
        const row = text.split('\n').find((l) => l.startsWith(`| \`${key}\` |`));
        assert.ok(row, `config key ${key}`);
        if (prop.default !== undefined) assert.ok(row.includes(`\`${JSON.stringify(prop.default)}\``), `default of ${key}`);
      }
    });
  }
});
