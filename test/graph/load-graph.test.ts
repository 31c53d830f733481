/** Valid graphs: resolution, defaults, topological order, overrides, plugins, and the public API's errors. */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GraphValidationError } from '../../src/errors';
import { loadGraph, parseGraphText, validateGraph, validateGraphText, parseSetValue } from '../../src/graph';
import { NodeRegistry } from '../../src/registry';
import { makeTestRegistry, testTrainer } from '../fixtures/graphs/node-types';

const basic = 'test/fixtures/graphs/valid/basic.json5';
const withPlugins = 'test/fixtures/graphs/valid/with-plugins.json5';

describe('loadGraph: a valid graph', () => {
  it('resolves nodes in topological order, producers first and file order among equals', async () => {
    const g = await loadGraph(basic, { registry: makeTestRegistry() });
    // File order is train, data, model, schedule, losses, inspect; train needs data, model and schedule,
    // losses needs train, and inspect needs train and (through `after`) losses.
    assert.deepEqual(g.nodes.map((n) => n.id), ['data', 'model', 'schedule', 'train', 'losses', 'inspect']);
    assert.equal(g.file, path.resolve(basic));
    assert.equal(g.name, 'basic-test');
    assert.equal(g.description, 'train a test model, then inspect it');
    assert.equal(g.seed, 0);
    assert.deepEqual(g.plugins, []);
    assert.deepEqual(g.loadedPlugins, []);
  });

  it('fills config defaults from the node types\' schemas, nested objects included', async () => {
    const g = await loadGraph(basic, { registry: makeTestRegistry() });
    const byId = Object.fromEntries(g.nodes.map((n) => [n.id, n]));
    // Expected values: the file's settings plus the `default`s in test/fixtures/graphs/node-types.ts.
    assert.deepEqual(byId.train.config, { steps: 20, lr: 0.001, warmup: 0, optimizer: { name: 'sgd', beta1: 0.9 } });
    assert.deepEqual(byId.data.config, { batchSize: 16, shuffle: true });
    assert.deepEqual(byId.model.config, { width: 4, activation: 'silu' });
    assert.deepEqual(byId.schedule.config, { kind: 'linear', steps: 1000 });
    assert.deepEqual(byId.losses.config, {});
    assert.equal(byId.train.def, testTrainer);
    assert.equal(byId.train.type, 'test-trainer');
    assert.equal(byId.train.description, 'the training stage');
    assert.deepEqual(byId.train.position, { file: basic, line: 9, column: 5 });
    assert.deepEqual(byId.data.position, { file: basic, line: 15, column: 5 });
    assert.deepEqual(byId.inspect.after, ['losses']);
    assert.deepEqual(byId.train.inputs, {
      model: { node: 'model', port: 'model' },
      batches: { node: 'data', port: 'batches' },
      scheduler: { node: 'schedule', port: 'scheduler' },
    });
  });

  it('lists edges with their kinds and types (a producer\'s concrete type wins over a consumer\'s "any")', async () => {
    const g = await loadGraph(basic, { registry: makeTestRegistry() });
    assert.deepEqual(g.edges, [
      { from: { node: 'model', port: 'model' }, to: { node: 'train', port: 'model' }, kind: 'resource', type: 'model' },
      { from: { node: 'data', port: 'batches' }, to: { node: 'train', port: 'batches' }, kind: 'stream', type: 'batch' },
      { from: { node: 'schedule', port: 'scheduler' }, to: { node: 'train', port: 'scheduler' }, kind: 'resource', type: 'scheduler' },
      { from: { node: 'train', port: 'metrics' }, to: { node: 'losses', port: 'items' }, kind: 'stream', type: 'metrics' },
      { from: { node: 'train', port: 'trained' }, to: { node: 'inspect', port: 'thing' }, kind: 'resource', type: 'model' },
    ]);
  });

  it('keeps a plain-JSON copy with defaults filled for the run folder', async () => {
    const g = await loadGraph(basic, { registry: makeTestRegistry() });
    const raw = g.raw as any;
    assert.deepEqual(Object.keys(raw), ['version', 'name', 'description', 'seed', 'plugins', 'nodes']);
    assert.equal(raw.seed, 0);
    assert.deepEqual(raw.nodes.train.config.optimizer, { name: 'sgd', beta1: 0.9 });
    assert.deepEqual(raw.nodes.model, { type: 'test-model', config: { width: 4, activation: 'silu' } });
    assert.deepEqual(raw.nodes.inspect.after, ['losses']);
    assert.deepEqual(JSON.parse(JSON.stringify(raw)), raw, 'raw must be plain JSON');
  });

  it('applies --set overrides: JSON5 values, plain strings, nested keys, whole objects', async () => {
    const g = await loadGraph(basic, {
      registry: makeTestRegistry(),
      sets: ['train.config.lr=0.01', 'data.config.shuffle=false', 'model.config.activation=relu',
        'train.config.optimizer={name: "adam"}', 'schedule.config.steps=20'],
    });
    const byId = Object.fromEntries(g.nodes.map((n) => [n.id, n]));
    assert.equal(byId.train.config.lr, 0.01);
    assert.deepEqual(byId.train.config.optimizer, { name: 'adam', beta1: 0.9 });
    assert.equal(byId.data.config.shuffle, false);
    assert.equal(byId.model.config.activation, 'relu');
    assert.equal(byId.schedule.config.steps, 20);
    assert.equal((g.raw as any).nodes.train.config.lr, 0.01);
  });

  it('parses --set values as JSON5 when they parse, else keeps the text', () => {
    assert.equal(parseSetValue('3'), 3);
    assert.equal(parseSetValue('-1e-3'), -0.001);
    assert.equal(parseSetValue('true'), true);
    assert.equal(parseSetValue('null'), null);
    assert.deepEqual(parseSetValue('[1, 2,]'), [1, 2]);
    assert.equal(parseSetValue("'quoted'"), 'quoted');
    assert.equal(parseSetValue('cosine'), 'cosine');
    assert.equal(parseSetValue(''), '');
    assert.equal(parseSetValue('a=b'), 'a=b');
  });

  it('can load the same graph twice into one registry (plugins are not registered twice)', async () => {
    const registry = makeTestRegistry();
    await loadGraph(withPlugins, { registry });
    const again = await loadGraph(withPlugins, { registry });
    assert.equal(again.nodes.length, 4);
  });

  it('parseGraphText and validateGraphText check in-memory text', async () => {
    const text = "{ version: 1, name: 'mem', nodes: { m: { type: 'test-model', config: { width: 2 } } } }";
    const g = await parseGraphText(text, 'memory.json5', { registry: makeTestRegistry() });
    assert.deepEqual(g.nodes[0].config, { width: 2, activation: 'silu' });
    assert.deepEqual(g.nodes[0].position, { file: 'memory.json5', line: 1, column: 37 });
    const bad = await validateGraphText("{ version: 1, name: 'mem', nodes: { m: { type: 'test-model', config: { width: 0 } } } }",
      'memory.json5', { registry: makeTestRegistry() });
    assert.deepEqual(bad.problems, [{
      position: { file: 'memory.json5', line: 1, column: 79 }, path: 'nodes.m.config.width', message: 'must be >= 1', found: '0',
    }]);
    await assert.rejects(parseGraphText('{', 'x.json5', { registry: makeTestRegistry() }), GraphValidationError);
  });

  it('reports a missing file as one problem', async () => {
    const r = await validateGraph('test/fixtures/graphs/valid/no-such-graph.json5', { registry: new NodeRegistry() });
    assert.deepEqual(r.problems, [{ path: '', message: 'cannot read graph file "test/fixtures/graphs/valid/no-such-graph.json5": no such file' }]);
    await assert.rejects(loadGraph('test/fixtures/graphs/valid', { registry: new NodeRegistry() }),
      /cannot read graph file "test\/fixtures\/graphs\/valid": it is a folder/);
  });

  it('does not modify the node types\' default objects when filling defaults', async () => {
    const before = JSON.stringify(testTrainer.configSchema);
    const a = await loadGraph(basic, { registry: makeTestRegistry() });
    (a.nodes.find((n) => n.id === 'train')!.config.optimizer as any).name = 'changed';
    const b = await loadGraph(basic, { registry: makeTestRegistry() });
    assert.equal((b.nodes.find((n) => n.id === 'train')!.config.optimizer as any).name, 'sgd');
    assert.equal(JSON.stringify(testTrainer.configSchema), before);
  });
});

describe('loadGraph: plugins', () => {
  it('loads plugins from folders (JavaScript and TypeScript) and from an installed package', async () => {
    const registry = makeTestRegistry();
    const g = await loadGraph(withPlugins, { registry });
    assert.deepEqual(g.plugins, ['../plugins/dup-a', '../plugins/ts-plugin', 'distillery-test-plugin']);
    assert.deepEqual(g.loadedPlugins.map((p) => [p.spec, p.plugin.name, p.source]), [
      ['../plugins/dup-a', 'dup-a', 'plugin "dup-a" (test/fixtures/graphs/plugins/dup-a)'],
      ['../plugins/ts-plugin', 'ts-plugin', 'plugin "ts-plugin" (test/fixtures/graphs/plugins/ts-plugin)'],
      ['distillery-test-plugin', 'distillery-test-plugin',
        'plugin "distillery-test-plugin" (test/fixtures/graphs/node_modules/distillery-test-plugin/lib/index.js)'],
    ]);
    assert.equal(typeof g.loadedPlugins[1].plugin.bindings, 'function');
    assert.equal(registry.sourceOf('test-clip'), g.loadedPlugins[2].source);
    assert.equal(registry.sourceOf('test-model'), 'test fixtures');
    assert.deepEqual(g.nodes.map((n) => [n.id, n.config]), [
      ['noise', { sigma: 0.5 }], ['scale', { factor: 2 }], ['clip', { min: -1, max: 2 }], ['sink', {}],
    ]);
    assert.equal(g.seed, 7);
  });

  it('runs a plugin type\'s cross-field check, naming the --set that caused the problem', async () => {
    const r = await validateGraph(withPlugins, { registry: makeTestRegistry(), sets: ['clip.config.max=-2'] });
    assert.deepEqual(r.problems, [{
      path: 'nodes.clip.config.max', message: 'must be greater than min (-1)', hint: 'value given by --set "clip.config.max=-2"',
    }]);
  });

  it('resolves a relative plugin path from the graph file\'s folder, not the working directory', async () => {
    const text = fs.readFileSync(withPlugins, 'utf8');
    const elsewhere = await validateGraphText(text, 'somewhere/else.json5', { registry: makeTestRegistry() });
    assert.equal(elsewhere.problems[0].message,
      'plugin "../plugins/dup-a" not found: nothing at plugins/dup-a (relative paths start from the graph file\'s folder)');
  });
});
