/** docs/graph-file.md is checked against the schemas and against what the loader really prints. */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { GraphValidationError } from '../../src/errors';
import { graphFileValidator, loadGraph } from '../../src/graph';
import { parseSource } from '../../src/graph/source';
import { definitionsSchema, graphFileSchema } from '../../src/schema';
import { makeTestRegistry } from '../fixtures/graphs/node-types';

const doc = fs.readFileSync('docs/graph-file.md', 'utf8');

function section(heading: string): string {
  const start = doc.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `no "## ${heading}" section`);
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

function tableFields(text: string): string[] {
  return [...text.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]);
}

describe('docs/graph-file.md', () => {
  it('documents exactly the top-level properties of the graph-file schema, required ones marked', () => {
    const schema = graphFileSchema() as any;
    const top = section('Top-level fields');
    assert.deepEqual(tableFields(top), Object.keys(schema.properties));
    for (const name of Object.keys(schema.properties)) {
      const row = top.split('\n').find((l) => l.startsWith(`| \`${name}\` |`))!;
      assert.equal(row.split('|')[2].trim(), schema.required.includes(name) ? 'yes' : 'no', name);
    }
  });

  it('documents exactly the node properties, required ones marked', () => {
    const node = (graphFileSchema() as any).$defs.node;
    const nodes = section('Nodes');
    assert.deepEqual(tableFields(nodes), Object.keys(node.properties));
    for (const name of Object.keys(node.properties)) {
      const row = nodes.split('\n').find((l) => l.startsWith(`| \`${name}\` |`))!;
      assert.equal(row.split('|')[2].trim(), node.required.includes(name) ? 'yes' : 'no', name);
    }
  });

  it('quotes the patterns and limits of the schema as they are', () => {
    const defs = (definitionsSchema() as any).$defs;
    for (const name of ['graph-name', 'node-id', 'node-type-name', 'port-name', 'port-reference']) {
      assert.ok(doc.includes('`' + defs[name].pattern + '`'), `pattern of ${name} (${defs[name].pattern})`);
    }
    const seed = (graphFileSchema() as any).properties.seed;
    assert.ok(doc.includes(`from ${seed.minimum} to ${seed.maximum}`));
    assert.ok(doc.includes(`default \`${seed.default}\``));
    assert.ok(doc.includes(`must be \`${(graphFileSchema() as any).properties.version.const}\``));
  });

  it('has examples that are valid graph files (syntax and graph-file schema)', () => {
    const blocks = [...doc.matchAll(/```json5\n([\s\S]*?)```/g)].map((m) => m[1]);
    assert.ok(blocks.length >= 1);
    for (const block of blocks) {
      const parsed = parseSource(block, 'docs/graph-file.md');
      assert.deepEqual(parsed.problems, []);
      const validate = graphFileValidator();
      assert.ok(validate(parsed.source!.value), JSON.stringify(validate.errors));
    }
  });

  it('shows the loader\'s real output for the multiple-errors fixture', async () => {
    const m = /<!-- problems: (\S+) -->\n```\n([\s\S]*?)```/.exec(doc);
    assert.ok(m, 'no problems example');
    const [, file, shown] = m;
    await assert.rejects(loadGraph(file, { registry: makeTestRegistry() }), (err: unknown) => {
      assert.ok(err instanceof GraphValidationError);
      assert.equal(err.message + '\n', shown);
      return true;
    });
  });
});
