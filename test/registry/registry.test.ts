/** NodeRegistry: registration rules, duplicate detection naming both sources, lookups and suggestions. */
import { strict as assert } from 'node:assert';
import { RegistryError } from '../../src/errors';
import { NodeRegistry, registerNodeType, type NodeTypeDefinition } from '../../src/registry';
import { testModel, testNodeTypes, testSource, testTrainer } from '../fixtures/graphs/node-types';

function def(overrides: Partial<NodeTypeDefinition> & Record<string, unknown>): NodeTypeDefinition {
  return {
    type: 'my-node',
    description: 'A node.',
    configSchema: { type: 'object', additionalProperties: false, properties: { n: { type: 'integer', default: 1, description: 'N.' } } },
    inputs: {},
    outputs: {},
    create: () => ({}),
    ...overrides,
  } as NodeTypeDefinition;
}

function registrationError(d: unknown, source = 'test'): string {
  try {
    new NodeRegistry().register(d as NodeTypeDefinition, source);
  } catch (err) {
    assert.ok(err instanceof RegistryError, String(err));
    assert.equal(err.code, 'REGISTRY');
    return err.message;
  }
  assert.fail('register did not throw');
}

describe('NodeRegistry', () => {
  it('registers, looks up, lists sorted by type and remembers sources', () => {
    const r = new NodeRegistry();
    r.register(testTrainer, 'built-in');
    r.register(testModel, 'plugin "p" (plugins/p)');
    registerNodeType(r, testSource);
    assert.equal(r.get('test-trainer'), testTrainer);
    assert.equal(r.get('nope'), undefined);
    assert.ok(r.has('test-model'));
    assert.ok(!r.has('test-sink'));
    assert.deepEqual(r.list().map((d) => d.type), ['test-model', 'test-source', 'test-trainer']);
    assert.equal(r.sourceOf('test-trainer'), 'built-in');
    assert.equal(r.sourceOf('test-model'), 'plugin "p" (plugins/p)');
    assert.equal(r.sourceOf('test-source'), 'user code');
    assert.equal(r.sourceOf('nope'), undefined);
  });

  it('refuses a second registration of a type, naming both sources', () => {
    const r = new NodeRegistry();
    r.register(testModel, 'built-in');
    const other = { ...testModel };
    assert.throws(() => r.register(other, 'plugin "extra" (plugins/extra)'), (err: unknown) =>
      err instanceof RegistryError &&
      err.message === 'node type "test-model" is already registered by built-in; plugin "extra" (plugins/extra) cannot register it again');
    assert.throws(() => registerNodeType(r, testModel),
      /^RegistryError: node type "test-model" is already registered by built-in; user code cannot register it again$/);
    assert.equal(r.get('test-model'), testModel);
  });

  it('treats the same definition from the same source as already registered', () => {
    const r = new NodeRegistry();
    r.register(testModel, 'built-in');
    r.register(testModel, 'built-in');
    assert.equal(r.list().length, 1);
  });

  it('accepts every test fixture type', () => {
    const r = new NodeRegistry();
    for (const d of testNodeTypes) r.register(d, 'test');
    assert.equal(r.list().length, testNodeTypes.length);
  });

  it('checks the definition and lists every problem', () => {
    assert.equal(registrationError(def({
      type: 'My_Node',
      description: '',
      configSchema: { type: 'object', properties: { lr: { type: 'number' }, opt: { type: 'object', description: 'x', properties: { a: { type: 'string', description: 'a' } } } } },
      inputs: { 'bad name': { kind: 'tensor' as never, type: 'Batch', description: '' }, ok: { kind: 'stream', type: 'batch', description: 'x', optional: 'yes', extra: 1 } as never },
      outputs: { out: { kind: 'resource', type: 'model', description: 'x', optional: true } },
      check: 'no' as never,
      create: undefined as never,
    })), [
      'node type "My_Node" from test is invalid:',
      '  - type: must be a kebab-case name like "ddim-sampler" (found "My_Node")',
      '  - description: must be a non-empty string',
      '  - configSchema.additionalProperties: must be false (unknown config keys are errors)',
      '  - configSchema.properties.lr: needs a "description" (descriptions are the reference docs)',
      '  - configSchema.properties.opt: an object with "properties" must set "additionalProperties": false (unknown keys are errors)',
      '  - inputs.bad name: port name must match ^[A-Za-z][A-Za-z0-9_]*$',
      '  - inputs.bad name.kind: must be "resource" or "stream" (found "tensor")',
      '  - inputs.bad name.type: must be a kebab-case data type name or "any" (found "Batch")',
      '  - inputs.bad name.description: must be a non-empty string',
      '  - inputs.ok.optional: must be a boolean',
      '  - inputs.ok: unknown key "extra"',
      '  - outputs.out.optional: outputs are never required to be connected; remove "optional"',
      '  - check: must be a function when present',
      '  - create: must be a function',
    ].join('\n'));
  });

  it('checks port tensor declarations: dtype name, rank, and a shape of rank entries', () => {
    assert.equal(registrationError(def({
      inputs: {
        a: { kind: 'stream', type: 'batch', description: 'A.', dtype: 'float64', rank: -1 },
        b: { kind: 'stream', type: 'batch', description: 'B.', dtype: 'float32', shape: [null, 8] },
        c: { kind: 'stream', type: 'batch', description: 'C.', dtype: 'int32', rank: 3, shape: [null, 8] },
        d: { kind: 'stream', type: 'batch', description: 'D.', rank: 2, shape: [0, 'x'] },
      },
    } as never)), [
      'node type "my-node" from test is invalid:',
      '  - inputs.a.dtype: must be one of "float32", "int32", "bool" (found "float64")',
      '  - inputs.a.rank: must be a non-negative integer (found -1)',
      '  - inputs.b.shape: needs rank (2)',
      '  - inputs.c.shape: has 2 dimensions but rank is 3',
      '  - inputs.d.shape: must be an array of positive integers or null (unknown) (found [0,"x"])',
    ].join('\n'));
  });

  it('requires an object config schema with properties', () => {
    assert.equal(registrationError(def({ configSchema: { type: 'array' } })), [
      'node type "my-node" from test is invalid:',
      '  - configSchema.type: must be "object" (found "array")',
      '  - configSchema.additionalProperties: must be false (unknown config keys are errors)',
      '  - configSchema.properties: must be present (use {} for a node without settings)',
    ].join('\n'));
    assert.equal(registrationError(null), 'a node type from test is invalid:\n  - the definition must be an object');
  });

  it('compiles the config schema once, in strict mode, and reports schemas that do not compile', () => {
    const msg = registrationError(def({
      configSchema: { type: 'object', additionalProperties: false, properties: { n: { type: 'integer', minimun: 1, description: 'N.' } } },
    }));
    assert.equal(msg, 'node type "my-node" from test is invalid:\n  - configSchema: does not compile: strict mode: unknown keyword: "minimun"');
  });

  it('refuses defaults that break their own schema', () => {
    assert.equal(registrationError(def({
      configSchema: {
        type: 'object', additionalProperties: false, required: ['must'],
        properties: {
          must: { type: 'string', description: 'Required, no default.' },
          steps: { type: 'integer', minimum: 1, default: 0, description: 'Steps.' },
          mode: { enum: ['a', 'b'], default: 'c', description: 'Mode.' },
        },
      },
    })), [
      'node type "my-node" from test is invalid:',
      '  - configSchema default for steps: must be >= 1 (found 0)',
      '  - configSchema default for mode: must be one of "a", "b" (found "c")',
    ].join('\n'));
  });

  it('suggests the closest registered type for a typo', () => {
    const r = new NodeRegistry();
    for (const d of testNodeTypes) r.register(d, 'test');
    assert.equal(r.suggest('test-trainr'), 'test-trainer');
    assert.equal(r.suggest('Test-Model'), 'test-model');
    assert.equal(r.suggest('unet'), undefined);
  });
});
