/**
 * Runs the independent Python reader of TensorBoard event files (test/fixtures/tensorboard/read_events.py:
 * Debian's python3-protobuf and python3-crc32c with protoc-compiled messages). Debian's /usr/bin/python3 is
 * tried first (python3 on PATH may be a pyenv shim without those modules), then python3 on PATH.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const READER_SCRIPT = path.resolve(__dirname, '../fixtures/tensorboard/read_events.py');

export interface ReadScalar { tag: string; step: number; value: number | string }
export interface ReadImage { tag: string; step: number; width: number; height: number; colorspace: number; bytes: number; sha256: string }
export interface ReaderOutput {
  files: string[];
  records: number;
  file_versions: string[];
  writers: string[];
  scalars: ReadScalar[];
  images: ReadImage[];
}

let cached: { python?: string; reason?: string } | undefined;

/** The python3 that can import google.protobuf and crc32c, or why there is none. */
export function readerPython(): { python?: string; reason?: string } {
  if (cached) return cached;
  const reasons: string[] = [];
  for (const python of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(python, ['-c', 'import google.protobuf, crc32c'], { encoding: 'utf8', timeout: 30_000 });
    if (r.status === 0) return (cached = { python });
    reasons.push(`${python}: ${r.error ? r.error.message : (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`)}`);
  }
  return (cached = { reason: `${reasons.join('; ')} (apt-get install python3-protobuf python3-crc32c)` });
}

/** Skips the calling test, with a notice in the output, when the reader cannot run here. */
export function requireReader(ctx: Mocha.Context): string {
  const { python, reason } = readerPython();
  if (!python) {
    console.log(`      NOTICE: skipped, the Python TensorBoard reader cannot run: ${reason}`);
    ctx.skip();
  }
  return python!;
}

/** Reads event files (folders or files) with the Python reader; throws with its stderr on a bad record. */
export function readEvents(python: string, ...targets: string[]): ReaderOutput {
  const out = execFileSync(python, [READER_SCRIPT, ...targets], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out) as ReaderOutput;
}

/** Runs the reader expecting it to fail; returns its stderr. */
export function readEventsFailure(python: string, ...targets: string[]): string {
  const r = spawnSync(python, [READER_SCRIPT, ...targets], { encoding: 'utf8', timeout: 60_000 });
  if (r.status === 0) throw new Error(`the reader accepted ${targets.join(' ')}`);
  return r.stderr;
}

/** What logs.jsonl says TensorBoard should hold: scalars `<node>/<key>` (as float32) and images `<node>/<tag>`. */
export function expectedFromLogs(runDir: string): { scalars: ReadScalar[]; images: Array<{ tag: string; step: number; bytes: number }> } {
  const records = fs.readFileSync(path.join(runDir, 'logs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
  const scalars = records.filter((r) => r.kind === 'metrics')
    .flatMap((r) => Object.entries(r.values as Record<string, number>).map(([k, v]) => ({ tag: `${r.node}/${k}`, step: r.step as number, value: Math.fround(v) })));
  const images = records.filter((r) => r.kind === 'image').map((r) => ({ tag: `${r.node}/${r.tag}`, step: r.step as number, bytes: r.bytes as number }));
  return { scalars, images };
}

/** Reads `<run>/tensorboard` with the Python reader and checks it holds exactly what logs.jsonl says, in order. */
export function assertTensorBoardMatchesLogs(python: string, runDir: string): ReaderOutput {
  const read = readEvents(python, path.join(runDir, 'tensorboard'));
  const expected = expectedFromLogs(runDir);
  assert.ok(expected.scalars.length > 0, 'logs.jsonl has no metrics');
  assert.deepEqual(read.scalars, expected.scalars);
  assert.deepEqual(read.images.map(({ tag, step, bytes }) => ({ tag, step, bytes })), expected.images);
  assert.equal(read.files.length, 1);
  assert.match(read.files[0], /^events\.out\.tfevents\.\d{10}\./);
  assert.deepEqual(read.file_versions, ['brain.Event:2']);
  return read;
}
