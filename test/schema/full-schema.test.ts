/** The generated full graph-file schema: it compiles, accepts valid graphs and refuses what the validator refuses. */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import JSON5 from 'json5';
import { NodeRegistry } from '../../src/registry';
import {
  buildGraphJsonSchema, createAjv, isGraphJsonSchemaCurrent, renderGraphJsonSchema, writeGraphJsonSchema,
} from '../../src/schema';
import { makeTestRegistry, testModel } from '../fixtures/graphs/node-types';

function compileFull(registry: NodeRegistry) {
  return createAjv().compile(buildGraphJsonSchema(registry));
}

function graphWith(nodes: Record<string, unknown>): unknown {
  return { version: 1, name: 'g', nodes };
}

describe('buildGraphJsonSchema', () => {
  it('accepts the valid fixture graph (strict ajv compiles the schema)', () => {
    const validate = compileFull(makeTestRegistry());
    const doc = JSON5.parse(fs.readFileSync('test/fixtures/graphs/valid/basic.json5', 'utf8'));
    assert.ok(validate(doc), JSON.stringify(validate.errors, null, 1));
  });

  it('checks each node\'s config and inputs against its own type', () => {
    const validate = compileFull(makeTestRegistry());
    const cases: [unknown, string][] = [
      [graphWith({ m: { type: 'test-model', config: { widht: 3 } } }), '/nodes/m/config additionalProperties'],
      [graphWith({ m: { type: 'test-model', config: { width: 'x' } } }), '/nodes/m/config/width type'],
      [graphWith({ m: { type: 'test-unknown' } }), '/nodes/m/type anyOf'],
      [graphWith({ t: { type: 'test-trainer', inputs: { model: 'm.model' } } }), '/nodes/t/inputs required'],
      [graphWith({ t: { type: 'test-sink', inputs: { items: 'a.b', other: 'a.b' } } }), '/nodes/t/inputs additionalProperties'],
      [graphWith({ t: { type: 'test-sink', inputs: { items: 'ab' } } }), '/nodes/t/inputs/items pattern'],
    ];
    for (const [doc, expected] of cases) {
      assert.equal(validate(doc), false, expected);
      const found = (validate.errors ?? []).map((e) => `${e.instancePath} ${e.keyword}`);
      assert.ok(found.includes(expected), `${expected} not in ${found.join(', ')}`);
    }
    assert.ok(validate(graphWith({ m: { type: 'test-model', config: { width: 3 } } })));
  });

  it('carries descriptions for editors: node types, config keys and input ports', () => {
    const schema = buildGraphJsonSchema(makeTestRegistry()) as any;
    const types = schema.$defs.node.properties.type.anyOf;
    assert.deepEqual(types.find((t: any) => t.const === 'test-model'), { const: 'test-model', description: 'Builds a test model.' });
    assert.equal(schema.$defs['config-test-trainer'].properties.lr.description, 'Learning rate.');
    assert.equal(schema.$defs['inputs-test-trainer'].properties.scheduler.description, 'Resource of scheduler (optional): Noise schedule.');
    assert.deepEqual(schema.$defs['inputs-test-trainer'].required, ['model', 'batches']);
    assert.equal(schema.properties.name.$ref, '#/$defs/graph-name');
    assert.ok(!JSON.stringify(schema).includes('definitions.json#'), 'shared definitions are inlined');
  });

  it('re-roots a config schema\'s own $refs under its definition', () => {
    const registry = new NodeRegistry();
    registry.register({
      ...testModel,
      type: 'with-refs',
      configSchema: {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object', additionalProperties: false,
        $defs: { size: { type: 'integer', minimum: 1 } },
        properties: { width: { $ref: '#/$defs/size', default: 2, description: 'Width.' } },
      },
    }, 'test');
    const schema = buildGraphJsonSchema(registry) as any;
    assert.equal(schema.$defs['config-with-refs'].properties.width.$ref, '#/$defs/config-with-refs/$defs/size');
    assert.equal(schema.$defs['config-with-refs'].$schema, undefined);
    const validate = compileFull(registry);
    assert.ok(validate(graphWith({ a: { type: 'with-refs', config: { width: 3 } } })));
    assert.equal(validate(graphWith({ a: { type: 'with-refs', config: { width: 0 } } })), false);
  });

  it('still describes the file with an empty registry', () => {
    const validate = compileFull(new NodeRegistry());
    assert.ok(validate(graphWith({ a: { type: 'anything-goes' } })));
    assert.equal(validate({ version: 1, nodes: {} }), false);
  });
});

describe('writeGraphJsonSchema / isGraphJsonSchemaCurrent', () => {
  it('writes stable JSON and detects when the registry changed', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-schema-'));
    try {
      const file = path.join(dir, 'sub', 'graph.full.schema.json');
      const registry = makeTestRegistry();
      assert.equal(isGraphJsonSchemaCurrent(registry, file), false, 'missing file is not current');
      writeGraphJsonSchema(registry, file);
      assert.equal(fs.readFileSync(file, 'utf8'), renderGraphJsonSchema(makeTestRegistry()), 'same registry, same text');
      assert.ok(isGraphJsonSchemaCurrent(registry, file));
      registry.register({ ...testModel, type: 'test-extra' }, 'test');
      assert.equal(isGraphJsonSchemaCurrent(registry, file), false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
