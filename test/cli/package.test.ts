/**
 * The built package, as a user gets it: `require('distillery')` through node_modules resolves the
 * package's "exports" to dist/, and the "bin" runs. Needs `npm run build` first (.ci/run builds before
 * testing); plain `node` is used, not tsx, so nothing here is compiled on the fly.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };

describe('the built package', () => {
  let tmp: string;
  before(function () {
    assert.ok(fs.existsSync(path.join(root, 'dist', 'src', 'index.js')), 'dist/src/index.js is missing: run `npm run build` before the tests');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-pkg-'));
    fs.mkdirSync(path.join(tmp, 'node_modules'));
    fs.symlinkSync(root, path.join(tmp, 'node_modules', 'distillery'), 'dir');
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('resolves by name to dist/ and exports the public API', () => {
    const script = [
      "const d = require('distillery');",
      "const names = ['loadGraph', 'validateGraph', 'runGraph', 'registerNodeType', 'NodeRegistry', 'createRegistry', 'definePlugin',",
      "  'defineNodeType', 'selectBackend', 'pullStream', 'consume', 'GraphValidationError', 'NodeRuntimeError', 'DistilleryError'];",
      "const missing = names.filter((n) => typeof d[n] !== 'function');",
      "const registry = d.createRegistry();",
      "console.log(JSON.stringify({ file: require.resolve('distillery'), missing, builtins: registry.list().length, hasSchedule: registry.has('noise-schedule') }));",
    ].join('\n');
    const out = execFileSync(process.execPath, ['-e', script], { cwd: tmp, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const result = JSON.parse(out.trim().split('\n').pop()!);
    assert.equal(fs.realpathSync(result.file), path.join(root, 'dist', 'src', 'index.js'));
    assert.deepEqual(result.missing, []);
    assert.ok(result.builtins > 0);
    assert.equal(result.hasSchedule, true);
    assert.ok(fs.existsSync(path.join(root, 'dist', 'src', 'index.d.ts')), 'type declarations are built');
  });

  it('`distillery/testing` resolves to dist/ and exports the conformance suite and the test context', () => {
    const script = [
      "const t = require('distillery/testing');",
      "const missing = ['describeConformance', 'conformanceChecks', 'nodeContext', 'ConformanceError'].filter((n) => typeof t[n] !== 'function');",
      "console.log(JSON.stringify({ file: require.resolve('distillery/testing'), missing }));",
    ].join('\n');
    const out = execFileSync(process.execPath, ['-e', script], { cwd: tmp, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const result = JSON.parse(out.trim().split('\n').pop()!);
    assert.equal(fs.realpathSync(result.file), path.join(root, 'dist', 'src', 'testing', 'index.js'));
    assert.deepEqual(result.missing, []);
  });

  it('the bin prints its version and lists node types', () => {
    const bin = path.join(root, pkg.bin.distillery);
    assert.equal(execFileSync(process.execPath, [bin, '--version'], { cwd: tmp, encoding: 'utf8' }).trim(), pkg.version);
    const nodes = JSON.parse(execFileSync(process.execPath, [bin, 'nodes', '--json'], { cwd: tmp, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
    assert.ok(nodes.some((n: { type: string }) => n.type === 'noise-schedule'));
  });
});
