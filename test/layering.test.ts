/**
 * The layer map (docs/concepts.md "Where things are", rules in .dependency-cruiser.cjs), enforced on every
 * `npm test` and therefore in .ci/run: dependency-cruiser walks src/, nodes/ and plugins/ (tests excluded)
 * and every forbidden import fails this test with the rule's message, which says what the layer may import.
 * The second block runs the same rules over a small tree of deliberately wrong imports, so a rule that
 * stopped matching (a renamed folder, a broken pattern) fails here too.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs');
const CRUISE = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

interface Violation {
  from: string;
  to: string;
  rule: { name: string; severity: string };
  cycle?: { name: string }[];
}

/** Runs dependency-cruiser with the project's rules in `cwd` over `dirs`; returns the violations. */
function cruise(cwd: string, dirs: string[]): Violation[] {
  let out: string;
  try {
    out = execFileSync(process.execPath, [CRUISE, '--config', CONFIG, '--output-type', 'json', ...dirs], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  } catch (err) {
    // Exit code = number of errors; the JSON report is still on stdout.
    out = (err as { stdout?: string }).stdout ?? '';
    if (!out) throw err;
  }
  return (JSON.parse(out) as { summary: { violations: Violation[] } }).summary.violations;
}

/** A rule's message (its comment in .dependency-cruiser.cjs), by name. */
function ruleMessages(): Map<string, string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const config = require(CONFIG) as { forbidden: { name: string; comment: string }[] };
  return new Map(config.forbidden.map((r) => [r.name, r.comment]));
}

describe('layer map', function () {
  this.timeout(180_000);

  it('src/, nodes/ and plugins/ import only down the layer map, with no cycles', () => {
    const messages = ruleMessages();
    const violations = cruise(ROOT, ['src', 'nodes', 'plugins']);
    const report = violations.map((v) => {
      const where = v.cycle ? `${v.from} → ${v.cycle.map((c) => c.name).join(' → ')}` : `${v.from} → ${v.to}`;
      return `${v.rule.name}: ${where}\n    ${messages.get(v.rule.name) ?? ''}`;
    });
    assert.deepEqual(report, [], `forbidden imports:\n${report.join('\n')}`);
  });

  describe('the rules catch wrong imports (a fixture tree of them)', () => {
    let dir: string;
    let found: string[];

    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-layering-'));
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
      fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'node16', moduleResolution: 'node16', strict: true } }));
      const files: Record<string, string> = {
        'src/errors.ts': 'export class DistilleryError extends Error {}\n',
        'src/models/unet.ts': "export const unet = 1;\n",
        'src/training/adamw.ts': "export const ADAMW = 'a';\n",
        'src/runtime/stream.ts': "export const pull = 1;\n",
        'src/registry/types.ts': "import type { Observable } from 'rxjs';\nexport type S = Observable<number>;\n",
        'src/registry/registry.ts': "import { graph } from '../graph/index';\nexport const r = graph;\n",
        'src/graph/index.ts': "import * as tf from '@tensorflow/tfjs-core';\nexport const graph = tf;\n",
        'src/schema/config.ts': "import type { S } from '../registry/types';\nexport type C = S;\n",
        'src/io/ldm-yaml.ts': "import { unet } from '../models/unet';\nexport const y = unet;\n",
        'src/backends/wasm/kernels/adamw.ts': "import { ADAMW } from '../../../training/adamw';\nexport const k = ADAMW;\n",
        'src/backends/wasm/kernels/groupnorm.ts': "export const GN = 'g';\n",
        'src/backends/libtorch/kernels.ts': "import { GN } from '../wasm/kernels/groupnorm';\nexport const k = GN;\n",
        'src/stage-engine/loop.ts': "import { pull } from '../runtime/stream';\nexport const l = pull;\n",
        'src/streams/stream.ts': "import { l } from '../stage-engine/loop';\nexport const s = l;\n",
        'src/data/batch.ts': "import { s } from '../streams/stream';\nexport const d = s;\n",
        'src/data/a.ts': "import { b } from './b';\nexport const a = (): number => b();\n",
        'src/data/b.ts': "import { a } from './a';\nexport const b = (): number => a();\n",
        'src/runtime/registry.ts': "import { n } from '../../nodes/index';\nexport const r = n;\n",
        'nodes/index.ts': "export const n = 1;\n",
      };
      for (const [file, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        fs.writeFileSync(path.join(dir, file), text);
      }
      found = cruise(dir, ['src', 'nodes']).map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
    });

    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('io importing models, a backend importing training or another backend, runtime importing nodes/', () => {
      for (const expected of [
        'layer-io: src/io/ldm-yaml.ts → src/models/unet.ts',
        'layer-backends: src/backends/wasm/kernels/adamw.ts → src/training/adamw.ts',
        'backends-not-each-other: src/backends/libtorch/kernels.ts → src/backends/wasm/kernels/groupnorm.ts',
        'runtime-not-builtin-nodes: src/runtime/registry.ts → nodes/index.ts',
      ]) assert.ok(found.includes(expected), `missing "${expected}" in:\n${found.join('\n')}`);
    });

    it('the stage engine importing the runtime; the streams importing the stage engine; the math layer importing the streams', () => {
      for (const expected of [
        'layer-stage-engine: src/stage-engine/loop.ts → src/runtime/stream.ts',
        'layer-streams: src/streams/stream.ts → src/stage-engine/loop.ts',
        'layer-math: src/data/batch.ts → src/streams/stream.ts',
      ]) assert.ok(found.includes(expected), `missing "${expected}" in:\n${found.join('\n')}`);
    });

    it('the base layer importing TF.js, a layer above it, or schema importing registry; a cycle', () => {
      for (const expected of [
        'registry-below-graph: src/registry/registry.ts → src/graph/index.ts',
        'schema-below-registry: src/schema/config.ts → src/registry/types.ts',
        'no-circular: src/data/a.ts → src/data/b.ts',
      ]) assert.ok(found.includes(expected), `missing "${expected}" in:\n${found.join('\n')}`);
      assert.ok(found.some((f) => f.startsWith('base-no-tensors-streams-di: src/graph/index.ts → ') && f.includes('node_modules/@tensorflow/tfjs-core/')),
        found.join('\n'));
      // registry/types.ts may name RxJS types (type-only): no violation for it.
      assert.ok(!found.some((f) => f.includes('src/registry/types.ts → node_modules')), found.join('\n'));
    });

    it('each rule message says what the layer may import', () => {
      const messages = ruleMessages();
      assert.match(messages.get('layer-io') ?? '', /^src\/io, src\/kernels and src\/random may import only src\/io, src\/kernels, src\/random and the base layer/);
      assert.match(messages.get('layer-backends') ?? '', /never src\/training, src\/models/);
      assert.match(messages.get('layer-math') ?? '', /may import backends, io \(with src\/kernels and src\/random\) and the base layer/);
    });
  });
});
