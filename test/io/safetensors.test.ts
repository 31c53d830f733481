import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { FileFormatError } from '../../src/errors';
import {
  SafetensorsReader, bfloat16BitsToFloat32, decodeSafetensors, encodeSafetensors, float16BitsToFloat32,
  float32ToBfloat16Bits, float32ToFloat16Bits, loadSafetensorsAsTf, readSafetensors, readSafetensorsHeader,
  tempPathFor, writeSafetensors,
} from '../../src/io/safetensors';

/** Builds a file by hand: 8-byte LE header length, header text, data bytes. */
function rawFile(header: string | object, data: Uint8Array = new Uint8Array(0), lengthOverride?: bigint): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const h = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + h.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(h.byteLength), true);
  out.set(h, 8);
  out.set(data, 8 + h.byteLength);
  return out;
}

describe('io/safetensors', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-st-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function expectFileError(bytes: Uint8Array, message: RegExp | string): Promise<void> {
    const file = path.join(dir, 'bad.safetensors');
    fs.writeFileSync(file, bytes);
    const check = (e: unknown): boolean => {
      assert.ok(e instanceof FileFormatError, `expected FileFormatError, got ${String(e)}`);
      if (typeof message === 'string') assert.ok(e.message.includes(message), `message was: ${e.message}`);
      else assert.match(e.message, message);
      assert.ok(e.message.startsWith(file + ': '), 'message names the file');
      return true;
    };
    await assert.rejects(readSafetensors(file), check);
    // The in-memory decoder applies the same checks.
    assert.throws(() => decodeSafetensors(bytes, file), check);
  }

  describe('a file written by hand', () => {
    it('reads F32 and I64 tensors and metadata at the stated offsets', async () => {
      // Data: F32 [1.5, -2] (bytes 0..8), then I64 [3, -1] (bytes 8..24), all little-endian.
      const data = new Uint8Array(24);
      const dv = new DataView(data.buffer);
      dv.setFloat32(0, 1.5, true);
      dv.setFloat32(4, -2, true);
      dv.setBigInt64(8, 3n, true);
      dv.setBigInt64(16, -1n, true);
      const header = {
        __metadata__: { step: '7' },
        labels: { dtype: 'I64', shape: [2], data_offsets: [8, 24] },
        w: { dtype: 'F32', shape: [2, 1], data_offsets: [0, 8] },
      };
      const file = path.join(dir, 'hand.safetensors');
      fs.writeFileSync(file, rawFile(header, data));
      const f = await readSafetensors(file);
      assert.deepEqual(f.metadata, { step: '7' });
      assert.deepEqual([...f.tensors.keys()], ['w', 'labels'], 'tensors come in data-offset order');
      const w = f.tensors.get('w')!;
      assert.equal(w.dtype, 'F32');
      assert.deepEqual(w.shape, [2, 1]);
      assert.deepEqual(Array.from(w.data), [1.5, -2]);
      const labels = f.tensors.get('labels')!;
      assert.ok(labels.data instanceof Int32Array);
      assert.deepEqual(Array.from(labels.data), [3, -1]);
    });

    it('accepts a header padded with trailing spaces and an empty tensor', async () => {
      const file = path.join(dir, 'pad.safetensors');
      fs.writeFileSync(file, rawFile('{"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}}   '));
      const f = await readSafetensors(file);
      assert.deepEqual(f.tensors.get('e')!.shape, [0, 3]);
      assert.equal(f.tensors.get('e')!.data.length, 0);
    });
  });

  describe('round trip of every dtype', () => {
    it('F32, I32, U8, BOOL and I64 are exact', async () => {
      const file = path.join(dir, 'rt.safetensors');
      const f32 = [0, -0, 1.25, -3.75e-20, 3.4e38, 1e-45, Infinity, -Infinity];
      const i32 = [0, 1, -1, 2147483647, -2147483648, 12345];
      const i64 = [0, -1, 999, 2147483647, -2147483648, 1000];
      await writeSafetensors(file, {
        f32: { dtype: 'F32', shape: [2, 4], data: f32 },
        i32: { dtype: 'I32', shape: [6], data: i32 },
        i64: { dtype: 'I64', shape: [3, 2], data: i64 },
        u8: { dtype: 'U8', shape: [3], data: [0, 128, 255] },
        bool: { dtype: 'BOOL', shape: [1, 3], data: [1, 0, 1] },
      }, { note: 'round trip' });
      const back = await readSafetensors(file);
      assert.deepEqual(back.metadata, { note: 'round trip' });
      const got = (n: string): number[] => Array.from(back.tensors.get(n)!.data);
      assert.deepEqual(got('f32'), f32.map((v) => Math.fround(v)));
      assert.ok(Object.is(got('f32')[1], -0), 'negative zero survives');
      assert.deepEqual(got('i32'), i32);
      assert.deepEqual(got('i64'), i64);
      assert.deepEqual(back.tensors.get('i64')!.shape, [3, 2]);
      assert.deepEqual(got('u8'), [0, 128, 255]);
      assert.deepEqual(got('bool'), [1, 0, 1]);
      assert.equal(back.tensors.get('bool')!.dtype, 'BOOL');
    });

    it('F16 is exact for representable values (normals, subnormals, extremes, inf, NaN)', async () => {
      // Each value is a binary16 number: 2^-24 is the smallest subnormal, 2^-14 the smallest normal,
      // 65504 the largest finite value, 0.333251953125 = 1365·2^-12 has an 11-bit significand.
      const values = [0, -0, 1, -2.5, 65504, -65504, 2 ** -24, 3 * 2 ** -24, 2 ** -14, 0.333251953125, Infinity, -Infinity];
      const file = path.join(dir, 'f16.safetensors');
      await writeSafetensors(file, { h: { dtype: 'F16', shape: [values.length + 1], data: [...values, NaN] } });
      const t = (await readSafetensors(file)).tensors.get('h')!;
      assert.equal(t.dtype, 'F16');
      assert.ok(t.data instanceof Float32Array);
      assert.deepEqual(Array.from(t.data).slice(0, values.length), values);
      assert.ok(Object.is(t.data[1], -0));
      assert.ok(Number.isNaN(t.data[values.length]));
      // 2 bytes per element on disk.
      const header = await readSafetensorsHeader(file);
      assert.equal(header.entries[0].end - header.entries[0].begin, 2 * (values.length + 1));
    });

    it('F16 rounds to nearest, ties to even, and overflows to infinity', () => {
      const r = (v: number): number => float16BitsToFloat32(float32ToFloat16Bits(v));
      // The f16 spacing at 1 is 2^-10. 1 + 2^-11 is a tie between 1 (even) and 1 + 2^-10 (odd): → 1.
      assert.equal(r(1 + 2 ** -11), 1);
      // 1 + 3·2^-11 is a tie between 1 + 2^-10 (odd) and 1 + 2^-9 (even): → 1 + 2^-9.
      assert.equal(r(1 + 3 * 2 ** -11), 1 + 2 ** -9);
      // Just above the tie rounds up.
      assert.equal(r(1 + 2 ** -11 + 2 ** -20), 1 + 2 ** -10);
      // 65520 is the tie between 65504 and 65536 (not representable): rounds to infinity.
      assert.equal(r(65520), Infinity);
      assert.equal(r(65519), 65504);
      // Subnormals: 2^-25 ties to 0 (even), 1.5·2^-24 ties to 2·2^-24 (even), 2^-26 → 0.
      assert.equal(r(2 ** -25), 0);
      assert.equal(r(1.5 * 2 ** -24), 2 * 2 ** -24);
      assert.equal(r(2 ** -26), 0);
      // Largest subnormal rounding up into the smallest normal.
      assert.equal(r(2 ** -14 - 2 ** -26), 2 ** -14);
      assert.equal(float32ToFloat16Bits(1), 0x3c00);
      assert.equal(float32ToFloat16Bits(-2), 0xc000);
    });

    it('BF16 is exact for representable values and rounds ties to even', async () => {
      // bfloat16 = the top 16 bits of a float32: 8 significand bits.
      const values = [0, 1, -3.5, 2 ** 100, -(2 ** -130), 1.0078125, 3.3895313892515355e38, Infinity];
      const file = path.join(dir, 'bf16.safetensors');
      await writeSafetensors(file, { b: { dtype: 'BF16', shape: [values.length], data: values } });
      const t = (await readSafetensors(file)).tensors.get('b')!;
      assert.deepEqual(Array.from(t.data), values);
      const r = (v: number): number => bfloat16BitsToFloat32(float32ToBfloat16Bits(v));
      // Spacing at 1 is 2^-7: 1 + 2^-8 ties to 1 (even); 1 + 3·2^-8 ties to 1 + 2^-6 (even).
      assert.equal(r(1 + 2 ** -8), 1);
      assert.equal(r(1 + 3 * 2 ** -8), 1 + 2 ** -6);
      assert.ok(Number.isNaN(r(NaN)));
    });

    it('F64 decodes to float32 by default and to float64 on request', async () => {
      const values = [0.1, -1 / 3, 1e300];
      const file = path.join(dir, 'f64.safetensors');
      await writeSafetensors(file, { d: { dtype: 'F64', shape: [3], data: values } });
      const as32 = (await readSafetensors(file)).tensors.get('d')!;
      assert.ok(as32.data instanceof Float32Array);
      assert.deepEqual(Array.from(as32.data), [Math.fround(0.1), Math.fround(-1 / 3), Infinity]);
      const as64 = (await readSafetensors(file, { float64: 'f64' })).tensors.get('d')!;
      assert.ok(as64.data instanceof Float64Array);
      assert.deepEqual(Array.from(as64.data), values);
    });

    it('writes tf tensors (F32/I32/BOOL by default, F16 and I64 on request) and loads them as tf tensors', async () => {
      const before = tf.memory().numTensors;
      const x = tf.tensor4d([0.5, -1, 2, 0.25], [1, 2, 2, 1]);
      const labels = tf.tensor1d([4, 1000], 'int32');
      const mask = tf.tensor1d([true, false], 'bool');
      const file = path.join(dir, 'tf.safetensors');
      await writeSafetensors(file, {
        x, labels, mask, x16: { tensor: x, dtype: 'F16' }, labels64: { tensor: labels, dtype: 'I64' },
      });
      const header = await readSafetensorsHeader(file);
      assert.deepEqual(header.entries.map((e) => `${e.name}:${e.dtype}`),
        ['x:F32', 'labels:I32', 'mask:BOOL', 'x16:F16', 'labels64:I64']);
      const loaded = await loadSafetensorsAsTf(file);
      assert.deepEqual(Object.keys(loaded), ['x', 'labels', 'mask', 'x16', 'labels64']);
      assert.equal(loaded.x.dtype, 'float32');
      assert.deepEqual(loaded.x.shape, [1, 2, 2, 1]);
      assert.deepEqual(Array.from(loaded.x16.dataSync()), [0.5, -1, 2, 0.25]);
      assert.equal(loaded.labels64.dtype, 'int32');
      assert.deepEqual(Array.from(loaded.labels64.dataSync()), [4, 1000]);
      assert.equal(loaded.mask.dtype, 'bool');
      assert.deepEqual(Array.from(loaded.mask.dataSync()), [1, 0]);
      for (const t of Object.values(loaded)) t.dispose();
      tf.dispose([x, labels, mask]);
      assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
    });

    it('loadSafetensorsAsTf with names loads only those', async () => {
      const file = path.join(dir, 'names.safetensors');
      await writeSafetensors(file, { a: { dtype: 'F32', shape: [1], data: [1] }, b: { dtype: 'F32', shape: [1], data: [2] } });
      const before = tf.memory().numTensors;
      const got = await loadSafetensorsAsTf(file, { names: ['b'] });
      assert.deepEqual(Object.keys(got), ['b']);
      tf.dispose(Object.values(got));
      await assert.rejects(loadSafetensorsAsTf(file, { names: ['a', 'zz'] }), /no tensor named "zz"/);
      assert.equal(tf.memory().numTensors, before, 'a failed load disposes what it had loaded');
    });

    it('encodeSafetensors and decodeSafetensors agree with the file functions', async () => {
      const bytes = await encodeSafetensors({ a: { dtype: 'I64', shape: [2], data: [-5, 6] } }, { k: 'v' });
      const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      assert.equal(headerLength % 8, 0, 'header is padded to a multiple of 8');
      const f = decodeSafetensors(bytes);
      assert.deepEqual(Array.from(f.tensors.get('a')!.data), [-5, 6]);
      assert.deepEqual(f.metadata, { k: 'v' });
    });
  });

  describe('lazy reader', () => {
    it('reads one tensor at a time and reports entries', async () => {
      const file = path.join(dir, 'lazy.safetensors');
      await writeSafetensors(file, {
        first: { dtype: 'F32', shape: [2], data: [1, 2] },
        second: { dtype: 'F16', shape: [1, 1], data: [3] },
      }, { a: 'b' });
      const reader = await SafetensorsReader.open(file);
      try {
        assert.deepEqual(reader.names, ['first', 'second']);
        assert.deepEqual(reader.metadata, { a: 'b' });
        assert.equal(reader.has('second'), true);
        assert.deepEqual(reader.entry('second').shape, [1, 1]);
        assert.deepEqual(Array.from((await reader.read('second')).data), [3]);
        const t = await reader.readTensor('first');
        assert.deepEqual(Array.from(t.dataSync()), [1, 2]);
        t.dispose();
        assert.throws(() => reader.entry('third'), /no tensor named "third" \(file has 2 tensors\)/);
      } finally {
        await reader.close();
      }
      await assert.rejects(reader.read('first'), /reader is closed/);
    });
  });

  describe('corrupt and hostile files', () => {
    const f32 = (name: string, begin: number, end: number, shape = [(end - begin) / 4]): object =>
      ({ [name]: { dtype: 'F32', shape, data_offsets: [begin, end] } });

    it('file shorter than the length prefix', async () => {
      await expectFileError(new Uint8Array(5), 'file is 5 bytes, too short for the 8-byte safetensors header length');
    });
    it('truncated header', async () => {
      const full = rawFile(f32('a', 0, 4), new Uint8Array(4));
      // Cut the file inside the JSON header: the declared header length now runs past the end.
      await expectFileError(full.subarray(0, 20), /safetensors header length \d+ runs past the end of the file \(file is 20 bytes\)/);
    });
    it('header length beyond the file', async () => {
      await expectFileError(rawFile('{}', new Uint8Array(0), 1000n), 'safetensors header length 1000 runs past the end of the file (file is 10 bytes)');
    });
    it('huge header length is refused before any allocation', async () => {
      await expectFileError(rawFile('{}', new Uint8Array(0), 2n ** 62n),
        `safetensors header length ${2n ** 62n} exceeds the limit of 100000000 bytes (corrupt or hostile file)`);
    });
    it('a lower header bound is honoured', async () => {
      const file = path.join(dir, 'small.safetensors');
      fs.writeFileSync(file, rawFile(f32('a', 0, 4), new Uint8Array(4)));
      await assert.rejects(readSafetensors(file, { maxHeaderBytes: 16 }), /exceeds the limit of 16 bytes/);
    });
    it('non-JSON header', async () => {
      await expectFileError(rawFile('{"a": nope}'), /safetensors header is not valid JSON: /);
    });
    it('header that is not an object', async () => {
      await expectFileError(rawFile('[1,2]'), 'safetensors header must be a JSON object, found [1,2]');
    });
    it('invalid UTF-8 in the header', async () => {
      const bytes = rawFile('{"a":1}');
      bytes[10] = 0xff;
      await expectFileError(bytes, 'safetensors header is not valid UTF-8');
    });
    it('overlapping offsets', async () => {
      await expectFileError(rawFile({ ...f32('a', 0, 8), ...f32('b', 4, 12) }, new Uint8Array(12)),
        'tensors "a" [0, 8] and "b" [4, 12] overlap');
    });
    it('offsets beyond the data', async () => {
      await expectFileError(rawFile(f32('a', 0, 16), new Uint8Array(8)),
        'tensor "a": data_offsets [0, 16] run past the end of the data buffer (8 bytes)');
    });
    it('gap between tensors', async () => {
      await expectFileError(rawFile({ ...f32('a', 0, 4), ...f32('b', 8, 12) }, new Uint8Array(12)),
        'gap in the data buffer: bytes [4, 8) before tensor "b" belong to no tensor');
    });
    it('trailing bytes after the last tensor', async () => {
      await expectFileError(rawFile(f32('a', 0, 4), new Uint8Array(12)),
        'data buffer has 8 trailing bytes after the last tensor (tensors cover 4 of 12 bytes)');
    });
    it('shape and byte length mismatch', async () => {
      await expectFileError(rawFile(f32('a', 0, 8, [3]), new Uint8Array(8)),
        'tensor "a": shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8');
    });
    it('shape whose element count overflows', async () => {
      await expectFileError(rawFile(f32('a', 0, 8, [2 ** 40, 2 ** 40]), new Uint8Array(8)),
        `tensor "a": shape [${2 ** 40},${2 ** 40}] has too many elements`);
    });
    it('unknown dtype', async () => {
      await expectFileError(rawFile({ a: { dtype: 'F17', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)),
        'tensor "a": unknown dtype "F17" (known: BOOL, U8,');
    });
    it('known but unsupported dtype', async () => {
      await expectFileError(rawFile({ a: { dtype: 'U16', shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4)),
        'tensor "a": dtype U16 is not supported (supported: F32, F16, BF16, F64, I64, I32, U8, BOOL)');
    });
    it('malformed entries', async () => {
      await expectFileError(rawFile({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }),
        'tensor "a": "shape" must be an array of non-negative integers, found [-1]');
      await expectFileError(rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }),
        'tensor "a": "data_offsets" must be two non-negative integers [begin, end], found [0]');
      await expectFileError(rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }),
        'tensor "a": data_offsets [4, 0] end before they begin');
      await expectFileError(rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4], extra: 1 } }),
        'tensor "a": unknown key "extra" (expected dtype, shape, data_offsets)');
      await expectFileError(rawFile({ a: 5 }), 'tensor "a": entry must be an object, found 5');
      await expectFileError(rawFile({ __metadata__: { k: 1 } }), '"__metadata__"."k" must be a string, found 1');
    });
    it('I64 values outside the int32 range', async () => {
      const data = new Uint8Array(16);
      new DataView(data.buffer).setBigInt64(8, 2n ** 40n, true);
      await expectFileError(rawFile({ l: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, data),
        `tensor "l": I64 value ${2n ** 40n} at flat index 1 is outside the int32 range`);
    });
    it('BOOL bytes other than 0 and 1', async () => {
      await expectFileError(rawFile({ b: { dtype: 'BOOL', shape: [2], data_offsets: [0, 2] } }, new Uint8Array([1, 7])),
        'tensor "b": BOOL byte 7 at flat index 1 is not 0 or 1');
    });
    it('missing file', async () => {
      await assert.rejects(readSafetensors(path.join(dir, 'none.safetensors')), /none\.safetensors: cannot open: /);
    });
  });

  describe('writing', () => {
    it('refuses values that do not fit the on-disk dtype, leaving any existing file untouched', async () => {
      const file = path.join(dir, 'keep.safetensors');
      await writeSafetensors(file, { a: { dtype: 'F32', shape: [1], data: [1] } });
      const before = fs.readFileSync(file);
      await assert.rejects(writeSafetensors(file, { l: { dtype: 'I64', shape: [1], data: [2 ** 33] } }),
        (e: unknown) => e instanceof FileFormatError &&
          e.message.includes(`tensor "l": value ${2 ** 33} at flat index 0 is not an int32 (cannot be written as I64)`));
      await assert.rejects(writeSafetensors(file, { a: { dtype: 'F32', shape: [2], data: [1] } }),
        /tensor "a": shape \[2\] needs 2 values but data has 1/);
      assert.deepEqual(fs.readFileSync(file), before);
      assert.deepEqual(fs.readdirSync(dir), ['keep.safetensors'], 'no temp files left behind');
    });

    it('uses a hidden temp name that never ends in .safetensors, and leaves none behind', async () => {
      const tmp = tempPathFor(path.join(dir, 'checkpoint-000000010.safetensors'));
      assert.equal(path.dirname(tmp), dir);
      assert.match(path.basename(tmp), /^\.checkpoint-000000010\.safetensors\.tmp-\d+-[a-z0-9]+$/);
      const file = path.join(dir, 'w.safetensors');
      await writeSafetensors(file, { a: { dtype: 'F32', shape: [1], data: [1] } });
      await writeSafetensors(file, { a: { dtype: 'F32', shape: [1], data: [2] } });
      assert.deepEqual(fs.readdirSync(dir), ['w.safetensors']);
      assert.deepEqual(Array.from((await readSafetensors(file)).tensors.get('a')!.data), [2]);
    });

    it('refuses reserved names and disposed tensors', async () => {
      const file = path.join(dir, 'x.safetensors');
      await assert.rejects(writeSafetensors(file, { __metadata__: { dtype: 'F32', shape: [0], data: [] } }),
        /invalid tensor name "__metadata__"/);
      const t = tf.scalar(1);
      t.dispose();
      await assert.rejects(writeSafetensors(file, { t }), /tensor "t" is disposed/);
      assert.equal(fs.existsSync(file), false);
    });
  });
});
