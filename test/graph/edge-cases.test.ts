/** Validation corner cases: special property names, non-finite numbers, positions on a single line. */
import { strict as assert } from 'node:assert';
import { formatProblem } from '../../src/errors';
import { validateGraphText } from '../../src/graph';
import { makeTestRegistry } from '../fixtures/graphs/node-types';

async function problems(text: string, sets: string[] = []): Promise<string[]> {
  const r = await validateGraphText(text, 'g.json5', { registry: makeTestRegistry(), sets });
  return r.problems.map(formatProblem);
}

describe('graph validation corner cases', () => {
  it('treats "__proto__" as an ordinary (unknown) key, without touching prototypes', async () => {
    assert.deepEqual(await problems(
      "{version:1, name:'x', nodes:{a:{type:'test-model', config: {__proto__: {width: 'bad'}}}}, __proto__: {evil: 1}}"), [
      'g.json5:1:61: nodes.a.config.__proto__: unknown property "__proto__" — known properties: "width", "activation"',
      'g.json5:1:91: __proto__: unknown property "__proto__" — known properties: "$schema", "version", "name", "description", "seed", "precision", "plugins", "nodes"',
    ]);
    assert.equal(({} as Record<string, unknown>).evil, undefined);
  });

  it('accepts node ids that are Object.prototype names and resolves --set against them', async () => {
    const r = await validateGraphText("{version:1, name:'x', nodes:{constructor:{type:'test-model'}}}", 'g.json5',
      { registry: makeTestRegistry(), sets: ['constructor.config.width=3'] });
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.graph!.nodes[0].config, { width: 3, activation: 'silu' });
    assert.deepEqual(await problems("{version:1, name:'x', nodes:{a:{type:'test-sink', inputs: {items: 'toString.x'}}}}"), [
      'g.json5:1:67: nodes.a.inputs.items: unknown node "toString" in input reference "toString.x" — there are no nodes in this graph',
    ]);
  });

  it('refuses NaN and Infinity where numbers are expected (JSON5 allows writing them)', async () => {
    assert.deepEqual(await problems(
      "{version:1, name:'x', nodes:{a:{type:'test-model', config: {width: Infinity}}, s: {type: 'test-source'}, " +
      "b: {type: 'test-trainer', config: {lr: NaN}, inputs: {model: 'a.model', batches: 's.batches'}}}}"), [
      'g.json5:1:68: nodes.a.config.width: must be an integer (expected integer, found Infinity (not a finite number))',
      'g.json5:1:145: nodes.b.config.lr: must be a number (expected number, found NaN (not a finite number))',
    ]);
  });
});
