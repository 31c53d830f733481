/** Plugin loading from folders and installed packages, export shapes, and the errors for each failure. */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PluginError, RegistryError } from '../../src/errors';
import { checkPluginShape, isPathSpec, loadPlugin, NodeRegistry, registerPlugin } from '../../src/registry';

const graphsDir = 'test/fixtures/graphs/valid';
const pluginsDir = 'test/fixtures/graphs/plugins';

async function pluginError(spec: string, fromDir = graphsDir): Promise<string> {
  try {
    await loadPlugin(spec, fromDir);
  } catch (err) {
    assert.ok(err instanceof PluginError, String(err));
    assert.equal(err.code, 'PLUGIN');
    return err.message;
  }
  assert.fail(`loadPlugin("${spec}") did not throw`);
}

describe('loadPlugin', () => {
  it('loads a folder through index.js and its default export', async () => {
    const { plugin, source } = await loadPlugin('../plugins/dup-a', graphsDir);
    assert.equal(plugin.name, 'dup-a');
    assert.deepEqual(plugin.nodeTypes.map((d) => d.type), ['test-dup', 'test-noise']);
    assert.equal(source, 'plugin "dup-a" (test/fixtures/graphs/plugins/dup-a)');
  });

  it('loads a folder through package.json "main" and a named "plugin" export', async () => {
    const { plugin, source } = await loadPlugin('./dup-b', pluginsDir);
    assert.equal(plugin.name, 'dup-b');
    assert.equal(source, 'plugin "dup-b" (test/fixtures/graphs/plugins/dup-b)');
  });

  it('loads a TypeScript folder (index.ts) when the process can load TypeScript', async () => {
    const { plugin } = await loadPlugin(path.resolve(pluginsDir, 'ts-plugin'), '/');
    assert.equal(plugin.name, 'ts-plugin');
    assert.equal(typeof plugin.bindings, 'function');
  });

  it('explains that a TypeScript plugin needs compiling when no TypeScript loader is present', async () => {
    const saved = require.extensions['.ts'];
    delete require.extensions['.ts'];
    try {
      assert.equal(await pluginError('../plugins/ts-plugin'),
        'plugin "../plugins/ts-plugin": test/fixtures/graphs/plugins/ts-plugin/index.ts is TypeScript and this process ' +
        'cannot load TypeScript; point package.json "main" at compiled JavaScript, or run through tsx');
    } finally {
      require.extensions['.ts'] = saved;
    }
  });

  it('without a TypeScript loader, uses the build output of a TypeScript plugin inside this package', async () => {
    // The built CLI loads the repository's own plugins/<name>/index.ts from dist/plugins/<name>/index.js.
    const twinDir = path.resolve('dist/test/fixtures/graphs/plugins/ts-plugin');
    const createdDist = !fs.existsSync('dist');
    fs.mkdirSync(twinDir, { recursive: true });
    fs.writeFileSync(path.join(twinDir, 'index.js'), "exports.plugin = { name: 'compiled-twin', nodeTypes: [] };\n");
    const saved = require.extensions['.ts'];
    delete require.extensions['.ts'];
    try {
      const { plugin, source } = await loadPlugin('../plugins/ts-plugin', graphsDir);
      assert.equal(plugin.name, 'compiled-twin');
      assert.equal(source, 'plugin "compiled-twin" (test/fixtures/graphs/plugins/ts-plugin)');
    } finally {
      require.extensions['.ts'] = saved;
      fs.rmSync(createdDist ? path.resolve('dist') : path.resolve('dist/test'), { recursive: true, force: true });
    }
  });

  it('loads an installed package, resolved from the graph\'s folder upwards', async () => {
    const { plugin, source } = await loadPlugin('distillery-test-plugin', graphsDir);
    assert.equal(plugin.name, 'distillery-test-plugin');
    assert.equal(source, 'plugin "distillery-test-plugin" (test/fixtures/graphs/node_modules/distillery-test-plugin/lib/index.js)');
  });

  it('reports a missing folder, a missing package, a folder without entry point', async () => {
    assert.equal(await pluginError('./nowhere'),
      'plugin "./nowhere" not found: nothing at test/fixtures/graphs/valid/nowhere (relative paths start from the graph file\'s folder)');
    assert.equal(await pluginError('no-such-distillery-plugin'),
      'plugin "no-such-distillery-plugin" not found: no installed package of that name (searched from ' +
      'test/fixtures/graphs/valid and the working directory); install it with npm, or write a local folder as a path starting with "./" or "../"');
    assert.equal(await pluginError('..', graphsDir),
      'plugin "..": folder test/fixtures/graphs has no entry point (looked for package.json "main", index.js, index.ts)');
  });

  it('reports a module without a plugin export, naming what it does export', async () => {
    assert.equal(await pluginError('../plugins/no-export'),
      'plugin "../plugins/no-export" (test/fixtures/graphs/plugins/no-export/index.js) exports no plugin: expected a default ' +
      'export or an export named "plugin" of the form { name, nodeTypes: [...] } (found exports "helper", "version")');
  });

  it('reports a plugin of the wrong shape with every problem', async () => {
    assert.equal(await pluginError('../plugins/bad-shape'),
      'plugin "../plugins/bad-shape" (test/fixtures/graphs/plugins/bad-shape/index.js) exports an invalid plugin: "name" must be a ' +
      'non-empty string; "nodeTypes" must be an array of node-type definitions; "bindings" must be a function (container) => void when present');
  });

  it('wraps an error thrown while loading, keeping it as the cause', async () => {
    try {
      await loadPlugin('../plugins/throws', graphsDir);
      assert.fail('no error');
    } catch (err) {
      assert.ok(err instanceof PluginError);
      assert.equal(err.message, 'plugin "../plugins/throws" failed to load from test/fixtures/graphs/plugins/throws/index.js: plugin setup exploded');
      assert.ok(err.cause instanceof TypeError);
    }
  });

  it('tells paths from package names', () => {
    for (const s of ['./a', '../a', '.', '..', '/abs/a']) assert.ok(isPathSpec(s), s);
    for (const s of ['pkg', '@scope/pkg', 'pkg/sub']) assert.ok(!isPathSpec(s), s);
  });

  it('checkPluginShape accepts a minimal plugin', () => {
    assert.deepEqual(checkPluginShape({ name: 'p', nodeTypes: [] }), []);
  });
});

describe('registerPlugin', () => {
  it('registers every node type under the plugin\'s source', async () => {
    const registry = new NodeRegistry();
    const { plugin, source } = await loadPlugin('../plugins/dup-a', graphsDir);
    registerPlugin(registry, plugin, source);
    assert.deepEqual(registry.list().map((d) => d.type), ['test-dup', 'test-noise']);
    assert.equal(registry.sourceOf('test-noise'), 'plugin "dup-a" (test/fixtures/graphs/plugins/dup-a)');
  });

  it('refuses a type another plugin registered, naming both plugins', async () => {
    const registry = new NodeRegistry();
    const a = await loadPlugin('../plugins/dup-a', graphsDir);
    const b = await loadPlugin('../plugins/dup-b', graphsDir);
    registerPlugin(registry, a.plugin, a.source);
    assert.throws(() => registerPlugin(registry, b.plugin, b.source), (err: unknown) =>
      err instanceof RegistryError && err.message ===
        'node type "test-dup" is already registered by plugin "dup-a" (test/fixtures/graphs/plugins/dup-a); ' +
        'plugin "dup-b" (test/fixtures/graphs/plugins/dup-b) cannot register it again');
  });
});
