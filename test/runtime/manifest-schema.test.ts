/**
 * The run manifest read back on --resume (src/runtime/manifest-schema.ts): a damaged manifest is a
 * FileFormatError listing every problem at its line:col, through the shared validation layer.
 * (A real manifest round trip is exercised by the resume test of executor.test.ts.)
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileFormatError } from '../../src/errors';
import { readManifest } from '../../src/runtime/run-folder';

describe('runtime/manifest-schema: the manifest read back on resume', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-manifest-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const manifest = {
    graph: { name: 'mnist', file: '/g.json5', seed: 1 },
    distillery: '0.1.0', node: 'v20.0.0', platform: 'linux-x64',
    backend: { name: 'cpu', description: 'cpu', threads: 2 },
    argv: ['node', 'distillery', 'run'],
    startedAt: '2026-01-01T00:00:00.000Z', endedAt: '2026-01-01T00:01:00.000Z', status: 'cancelled',
    attempts: [{ startedAt: '2025-12-31T00:00:00.000Z', status: 'failed', argv: [], error: 'boom' }],
    distributed: { worldSize: 2, backend: 'gloo' },
  };

  it('reads a manifest as runGraph writes it', () => {
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
    assert.deepEqual(readManifest(dir), manifest);
    assert.equal(readManifest(path.join(dir, 'none')), undefined);
  });

  it('a damaged manifest: every problem with its line:col, unknown keys with did-you-mean', () => {
    const file = path.join(dir, 'manifest.json');
    const bad = { ...manifest, status: 'canceled', attempts: [{ startedAt: 5, status: 'failed' }], distributed: { worldSize: 0 }, endedat: 'x' };
    fs.writeFileSync(file, JSON.stringify(bad, null, 2));
    assert.throws(() => readManifest(dir), (e: unknown) => e instanceof FileFormatError && e.message === [
      `${file}: the run manifest is invalid (4 problems):`,
      `  ${file}:32:3: endedat: unknown property "endedat" — did you mean "endedAt"?`,
      `  ${file}:22:13: status: must be one of "running", "completed", "cancelled", "failed" (found "canceled") — did you mean "cancelled"?`,
      `  ${file}:25:20: attempts.0.startedAt: must be a string (expected string, found number 5)`,
      `  ${file}:30:18: distributed.worldSize: must be >= 1 (found 0)`,
    ].join('\n'));
    fs.writeFileSync(file, '{"graph": {"name": "x"},');
    assert.throws(() => readManifest(dir), (e: unknown) => e instanceof FileFormatError &&
      e.message.startsWith(`${file}: the run manifest is not valid JSON:\n  ${file}:1:`));
  });
});
