import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { crc32c } from '@aws-crypto/crc32c';
import { EventFileWriter, maskedCrc32c, pngHeader, tfrecord } from '../../../src/io/tensorboard';
import { FileFormatError } from '../../../src/errors';
import { readEvents, readEventsFailure, requireReader } from '../../helpers/tensorboard-reader';

function png(width: number, height: number, colorType: 0 | 2 | 6): Buffer {
  const img = new PNG({ width, height, colorType, inputColorType: 6 });
  for (let i = 0; i < width * height * 4; i++) img.data[i] = (i * 37) % 256;
  return PNG.sync.write(img, { colorType });
}

describe('io/tensorboard/event-writer', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-tb-'));
  });
  afterEach(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('frames records with TensorFlow\'s masked CRC32C', () => {
    // The CRC-32C check value of "123456789" (the catalogued value for CRC-32/ISCSI).
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    // Every TensorFlow event file starts with a 24-byte record: 18 00 00 00 00 00 00 00 a3 7f 4b 22 —
    // the masked CRC of the length 24 is 0x224b7fa3.
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(24n);
    assert.equal(maskedCrc32c(length), 0x224b7fa3);
    const data = Buffer.from('hello');
    const rec = tfrecord(data);
    assert.equal(rec.length, 5 + 16);
    assert.equal(rec.readBigUInt64LE(0), 5n);
    assert.equal(rec.readUInt32LE(8), maskedCrc32c(rec.subarray(0, 8)));
    assert.deepEqual(rec.subarray(12, 17), data);
    assert.equal(rec.readUInt32LE(17), maskedCrc32c(data));
  });

  it('names the file events.out.tfevents.<seconds>.<host>, with a suffix when that exists', () => {
    const now = () => new Date(1_700_000_000_123);
    const a = new EventFileWriter(tmp, { hostname: 'node 7', now, flushIntervalMs: 0 });
    const b = new EventFileWriter(tmp, { hostname: 'node 7', now, flushIntervalMs: 0 });
    a.close();
    b.close();
    assert.equal(path.basename(a.file), 'events.out.tfevents.1700000000.node-7');
    assert.equal(path.basename(b.file), 'events.out.tfevents.1700000000.node-7.2');
  });

  it('writes scalars and PNG images that an independent reader (Python protobuf + crc32c) reads back', function () {
    const python = requireReader(this);
    const w = new EventFileWriter(tmp, { flushIntervalMs: 0 });
    const grey = png(3, 2, 0);
    const rgba = png(5, 4, 6);
    w.scalars(10, { 'stage/loss': 0.123456789, 'stage/lr': 1e-4 });
    w.scalar('stage/loss', 20, -2.5);
    w.image('stage/validation/grid', 20, grey);
    w.image('evaluate/teacher/grid', 4, rgba);
    w.scalar('stage/loss', 30, Number.NaN);
    w.close();
    const read = readEvents(python, tmp);
    assert.deepEqual(read.files, [path.basename(w.file)]);
    assert.equal(read.records, 1 + 5);
    assert.deepEqual(read.file_versions, ['brain.Event:2']);
    assert.deepEqual(read.writers, ['distillery']);
    // simple_value is a float32: the reader sees exactly Math.fround of what was written.
    assert.deepEqual(read.scalars, [
      { tag: 'stage/loss', step: 10, value: Math.fround(0.123456789) },
      { tag: 'stage/lr', step: 10, value: Math.fround(1e-4) },
      { tag: 'stage/loss', step: 20, value: -2.5 },
      { tag: 'stage/loss', step: 30, value: 'nan' },
    ]);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    assert.deepEqual(read.images, [
      { tag: 'stage/validation/grid', step: 20, width: 3, height: 2, colorspace: 1, bytes: grey.length, sha256: sha(grey) },
      { tag: 'evaluate/teacher/grid', step: 4, width: 5, height: 4, colorspace: 4, bytes: rgba.length, sha256: sha(rgba) },
    ]);
  });

  it('the reader refuses a file with one flipped byte (its CRC checks are real)', function () {
    const python = requireReader(this);
    const w = new EventFileWriter(tmp, { flushIntervalMs: 0 });
    w.scalar('x/y', 1, 1);
    w.close();
    const bytes = fs.readFileSync(w.file);
    bytes[bytes.length - 6] ^= 0x01; // inside the last record's data
    fs.writeFileSync(w.file, bytes);
    assert.match(readEventsFailure(python, w.file), /record 1 at byte \d+: data CRC mismatch/);
  });

  it('queues records until flush: a kill loses only what came after the last flush, process.exit nothing', function () {
    const python = requireReader(this);
    const w = new EventFileWriter(tmp, { flushIntervalMs: 0 });
    const headerOnly = fs.statSync(w.file).size;
    w.scalar('q/a', 1, 1);
    assert.equal(fs.statSync(w.file).size, headerOnly, 'written before flush');
    w.flush();
    assert.ok(fs.statSync(w.file).size > headerOnly);
    w.close();

    const child = (mode: string) => spawnSync(process.execPath,
      ['--require', 'tsx/cjs', path.resolve(__dirname, '../../fixtures/tensorboard/crash-writer.ts'), path.join(tmp, mode), mode], { encoding: 'utf8', timeout: 60_000 });
    const killed = child('kill');
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    assert.deepEqual(readEvents(python, path.join(tmp, 'kill')).scalars, [0, 1, 2].map((step) => ({ tag: 'crash/a', step, value: step + 0.5 })));
    // process.exit with the file open (a second Ctrl-C): the queue is written out on the way.
    const exited = child('exit');
    assert.equal(exited.status, 3, exited.stderr);
    assert.deepEqual(readEvents(python, path.join(tmp, 'exit')).scalars,
      [0, 1, 2, 3, 4].map((step) => ({ tag: `crash/${step < 3 ? 'a' : 'b'}`, step, value: step + 0.5 })));
  });

  it('refuses what is not a PNG and steps that are not non-negative integers, naming the tag', () => {
    const w = new EventFileWriter(tmp, { flushIntervalMs: 0 });
    try {
      assert.throws(() => w.image('n/grid', 3, Buffer.from('GIF89a not a png at all, no no no')),
        (e: unknown) => e instanceof FileFormatError && /^image "n\/grid" at step 3: not a PNG image \(33 bytes, starting 474946383961206e\)$/.test(e.message));
      assert.throws(() => w.scalar('n/loss', 1.5, 0), (e: unknown) => e instanceof FileFormatError && /: step must be a non-negative integer, found 1\.5$/.test(e.message));
      assert.deepEqual(pngHeader(png(7, 9, 2), 'x'), { width: 7, height: 9, colorspace: 3 });
    } finally {
      w.close();
    }
    assert.throws(() => w.scalar('n/loss', 1, 0), /the TensorBoard event file is closed/);
  });
});
