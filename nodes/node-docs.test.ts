/**
 * The doc page of every node type in the registry's built-in list (nodes/<folder>/README.md, the folder
 * whose config.ts declares its config schema) documents every port and every config key of its schema,
 * with the schema's default.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { builtinNodeTypes } from './index';
import { nodeFolders } from '../src/schema/node-folders';

const root = path.join(__dirname, '..');

function readmeOf(configSchema: unknown): string | undefined {
  for (const folder of nodeFolders(root)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    if ((require(path.join(folder, 'config.ts')) as { configSchema?: unknown }).configSchema === configSchema) return path.join(folder, 'README.md');
  }
  return undefined;
}

describe('node doc pages', () => {
  it('cover every registered built-in type (20)', () => assert.equal(builtinNodeTypes.length, 20));

  for (const def of builtinNodeTypes) {
    it(`the README of ${def.type} documents every port and config key`, () => {
      const file = readmeOf(def.configSchema);
      assert.ok(file, `${def.type}: no node folder's config.ts declares its schema`);
      const text = fs.readFileSync(file, 'utf8');
      assert.ok(text.startsWith(`# \`${def.type}\``));
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
