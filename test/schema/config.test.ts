/** Node config validation outside a graph file, ajv error mapping, and the hand-written schema files. */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import {
  ajvErrorsToProblems, createAjv, definitionsSchema, describeValue, graphFileSchema, pointerToPath, schemasDir,
  validateNodeConfig,
} from '../../src/schema';
import { testScheduler, testTrainer } from '../fixtures/graphs/node-types';

describe('validateNodeConfig', () => {
  it('fills defaults in a copy and leaves the input alone', () => {
    const input = { steps: 50 };
    const r = validateNodeConfig(testTrainer, input);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.config, { steps: 50, lr: 0.001, warmup: 0, optimizer: { name: 'adam', beta1: 0.9 } });
    assert.deepEqual(input, { steps: 50 });
    assert.deepEqual(validateNodeConfig(testTrainer, undefined).config.steps, 100);
  });

  it('reports schema problems with paths relative to the config, then the type\'s check only when the schema passed', () => {
    assert.deepEqual(validateNodeConfig(testTrainer, { steps: 0, lr: 'x', extra: 1 }).problems, [
      { path: 'extra', message: 'unknown property "extra"', hint: 'known properties: "steps", "lr", "warmup", "optimizer"' },
      { path: 'steps', message: 'must be >= 1', found: '0' },
      { path: 'lr', message: 'must be a number', expected: 'number', found: 'string "x"' },
    ]);
    assert.deepEqual(validateNodeConfig(testTrainer, { steps: 5, warmup: 9 }).problems, [
      { path: 'warmup', message: 'must be less than steps (5)', found: '9' },
    ]);
    assert.deepEqual(validateNodeConfig(testScheduler, {}, { basePointer: '/nodes/s/config' }).problems, [
      { path: 'nodes.s.config', message: 'missing required property "kind"', hint: '"kind": Schedule family.' },
    ]);
  });

  it('keeps the position of a problem the check located in another file, and says where the config names it', () => {
    const elsewhere = { file: 'schedule.json', line: 3, column: 5 };
    const naming = { ...testTrainer, check: () => [{ position: elsewhere, path: 'optimizer.name', message: 'bad', hint: 'fix it' }] };
    const locate = (pointer: string) => ({ position: { file: 'g.json5', line: pointer.split('/').length, column: 7 } });
    assert.deepEqual(validateNodeConfig(naming, {}, { basePointer: '/nodes/t/config', locate }).problems, [
      { position: elsewhere, path: 'nodes.t.config.optimizer.name', message: 'bad', hint: 'fix it; named at g.json5:6:7' },
    ]);
    assert.deepEqual(validateNodeConfig(naming, {}).problems, [{ position: elsewhere, path: 'optimizer.name', message: 'bad', hint: 'fix it' }]);
  });

  it('turns a check that throws into a problem that says it is a bug in the node type', () => {
    const broken = { ...testTrainer, check: () => { throw new RangeError('oops'); } };
    assert.deepEqual(validateNodeConfig(broken, {}).problems, [{
      path: '', message: 'the "test-trainer" check failed: oops', hint: 'this is a bug in the node type\'s check function',
    }]);
  });
});

describe('ajv error mapping', () => {
  it('renders the common keywords as readable messages', () => {
    const validate = createAjv().compile({
      type: 'object', additionalProperties: false,
      properties: {
        s: { type: 'string', minLength: 3, maxLength: 4 },
        a: { type: 'array', minItems: 2, maxItems: 3 },
        m: { type: 'number', multipleOf: 5 },
        f: { type: 'string', format: 'date' },
        u: { type: ['string', 'null'] },
        n: { type: 'number', exclusiveMaximum: 1 },
      },
    });
    assert.equal(validate({ s: 'ab', a: [1], m: 7, f: 'soon', u: 3, n: 1 }), false);
    assert.deepEqual(ajvErrorsToProblems(validate.errors, '').map((p) => `${p.path}: ${p.message} / ${p.found ?? ''}`), [
      's: must be at least 3 characters long / "ab"',
      'a: must have at least 2 items / an array of 1 item',
      'm: must be a multiple of 5 / 7',
      'f: must be a valid date / "soon"',
      'u: must be string or null / number 3',
      'n: must be < 1 / 1',
    ]);
  });

  it('maps pointers to dotted paths and describes values', () => {
    assert.equal(pointerToPath(''), '');
    assert.equal(pointerToPath('/nodes/a~1b/config/0'), 'nodes.a/b.config.0');
    assert.equal(describeValue('x'), '"x"');
    assert.equal(describeValue({}), 'an empty object');
    assert.equal(describeValue([1, 2]), 'an array of 2 items');
    assert.equal(describeValue(NaN), 'NaN');
    assert.equal(describeValue('y'.repeat(100)).length, 58);
  });
});

describe('schema files', () => {
  it('lives in schemas/ and compiles in strict mode', () => {
    assert.equal(schemasDir(), path.resolve('schemas'));
    const ajv = createAjv();
    ajv.addSchema(definitionsSchema(), 'definitions.json');
    ajv.compile(graphFileSchema());
  });

  it('describes every property and definition (descriptions are the reference docs)', () => {
    const missing: string[] = [];
    const walk = (schema: any, at: string): void => {
      for (const [name, sub] of Object.entries<any>(schema.properties ?? {})) {
        const described = typeof sub.description === 'string' ||
          (typeof sub.$ref === 'string' && sub.$ref.startsWith('definitions.json#'));
        if (!described) missing.push(`${at}.${name}`);
        walk(sub, `${at}.${name}`);
      }
    };
    const graph = graphFileSchema() as any;
    walk(graph, 'graph');
    walk(graph.$defs.node, 'node');
    for (const [name, def] of Object.entries<any>((definitionsSchema() as any).$defs)) {
      if (typeof def.description !== 'string') missing.push(`definitions.${name}`);
    }
    assert.deepEqual(missing, []);
  });
});
