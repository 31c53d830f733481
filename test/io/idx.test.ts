import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { encodeIdxUint8, parseIdx, readIdx } from '../../src/io/idx';

describe('io/idx', () => {
  it('parses a hand-written uint8 IDX file', () => {
    // magic 00 00 08 02, dims 2 and 3 big-endian, then 6 bytes.
    const bytes = Uint8Array.from([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 255]);
    const a = parseIdx(bytes);
    assert.deepEqual(a.shape, [2, 3]);
    assert.deepEqual(Array.from(a.data), [1, 2, 3, 4, 5, 255]);
  });

  it('parses big-endian int32 and float32 data', () => {
    const buf = Buffer.alloc(4 + 4 + 8);
    buf[2] = 0x0c; buf[3] = 1; buf.writeUInt32BE(2, 4); buf.writeInt32BE(-5, 8); buf.writeInt32BE(70000, 12);
    assert.deepEqual(Array.from(parseIdx(buf).data), [-5, 70000]);
    const f = Buffer.alloc(4 + 4 + 4);
    f[2] = 0x0d; f[3] = 1; f.writeUInt32BE(1, 4); f.writeFloatBE(1.5, 8);
    assert.deepEqual(Array.from(parseIdx(f).data), [1.5]);
  });

  it('reads gzipped files and round-trips encodeIdxUint8', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idx-'));
    const file = path.join(dir, 'x-idx3-ubyte.gz');
    fs.writeFileSync(file, zlib.gzipSync(encodeIdxUint8([1, 2, 2], Uint8Array.from([0, 64, 128, 255]))));
    const a = readIdx(file);
    assert.deepEqual(a.shape, [1, 2, 2]);
    assert.deepEqual(Array.from(a.data), [0, 64, 128, 255]);
    fs.rmSync(dir, { recursive: true });
  });

  it('reports bad magic, unknown type and size mismatch with the file name', () => {
    assert.throws(() => parseIdx(Uint8Array.from([1, 0, 8, 1, 0, 0, 0, 0]), 'a.idx'), /a\.idx: not an IDX file: magic starts 1, 0 \(expected 0, 0\)/);
    assert.throws(() => parseIdx(Uint8Array.from([0, 0, 7, 1, 0, 0, 0, 0]), 'b.idx'), /b\.idx: unknown IDX element type 0x7/);
    assert.throws(() => parseIdx(Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 3, 1]), 'c.idx'),
      /c\.idx: IDX size mismatch: shape \[3\] of uint8 needs 11 bytes, file has 9/);
  });
});
