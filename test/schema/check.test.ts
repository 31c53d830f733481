/**
 * The shared validation layer (src/schema/check.ts): one ajv setup, one problem shape, located problems,
 * every problem at once, the input never modified.
 */
import { strict as assert } from 'node:assert';
import { ConfigError } from '../../src/errors';
import { applySchema, checkSchema, compileSchema, locateProblems, prefixProblems, sharedAjv } from '../../src/schema/check';
import { parseSource, locatePointer } from '../../src/graph/source';
import type { PointerLocator } from '../../src/schema/problems';

const schema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://example.invalid/options.json',
  type: 'object',
  additionalProperties: false,
  required: ['lr'],
  properties: {
    lr: { type: 'number', exclusiveMinimum: 0, description: 'Learning rate.' },
    steps: { type: 'integer', minimum: 1, default: 10, description: 'Steps.' },
    mode: { enum: ['fast', 'slow'], default: 'fast', description: 'Mode.' },
  },
} as const;

describe('schema/check: the shared validation layer', () => {
  it('fills defaults into a copy and leaves the input alone; compiles each schema once into the shared ajv', () => {
    const input = { lr: 0.1 };
    assert.deepEqual(applySchema('options', schema, input), { lr: 0.1, steps: 10, mode: 'fast' });
    assert.deepEqual(input, { lr: 0.1 });
    assert.equal(compileSchema(schema), compileSchema(schema));
    assert.notEqual(compileSchema(schema, false), compileSchema(schema, true));
    assert.equal(sharedAjv(true), sharedAjv(true));
    assert.deepEqual(checkSchema(schema, { lr: 1 }, { useDefaults: false }).value, { lr: 1 });
  });

  it('reports every problem at once in the graph files\' wording, with did-you-mean', () => {
    assert.throws(() => applySchema('options', schema, { lr: 0, step: 2, mode: 'fats', steps: 1.5 }), (e: unknown) =>
      e instanceof ConfigError && e.message === [
        'invalid options:',
        '  step: unknown property "step" — did you mean "steps"?',
        '  lr: must be > 0 (found 0)',
        '  steps: must be an integer (expected integer, found number 1.5)',
        '  mode: must be one of "fast", "slow" (found "fats") — did you mean "fast"?',
      ].join('\n') && e.problems.length === 4);
    assert.throws(() => applySchema('options', schema, 'fast'), (e: unknown) =>
      e instanceof ConfigError && e.message === 'invalid options:\n  must be an object (expected object, found string "fast")');
  });

  it('locates schema problems and hand-made problems in the source file; prefixes nested paths', () => {
    const text = '{\n  lr: -1,\n  mode: "slow",\n}\n';
    const { source } = parseSource(text, 'opts.json5');
    const locate: PointerLocator = (pointer, part) => ({ position: locatePointer(source!, pointer, part) });
    const { problems } = checkSchema(schema, source!.value, { locate });
    assert.deepEqual(problems, [{ position: { file: 'opts.json5', line: 2, column: 7 }, path: 'lr', message: 'must be > 0', found: '-1' }]);
    const own = locateProblems([{ path: 'mode', message: 'is too slow' }, { path: 'missing.key', message: 'x' }], locate);
    assert.deepEqual(own.map((p) => p.position), [
      { file: 'opts.json5', line: 3, column: 9 },
      { file: 'opts.json5', line: 1, column: 1 }, // not written: its nearest written ancestor (the root)
    ]);
    assert.deepEqual(prefixProblems([{ path: 'mode', message: 'x' }, { path: '', message: 'y' }], 'best').map((p) => p.path), ['best.mode', 'best']);
  });
});
