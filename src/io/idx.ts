/**
 * The IDX file format of MNIST / Fashion-MNIST: magic (two zero bytes, a type byte, the number of
 * dimensions), big-endian uint32 sizes, then the data, big-endian. Files ending in `.gz` are gunzipped.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { FileFormatError } from '../errors';

export interface IdxArray {
  shape: number[];
  /** Values as float64-safe numbers in a typed array of the file's element type. */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const TYPES: Record<number, { name: string; bytes: number }> = {
  0x08: { name: 'uint8', bytes: 1 },
  0x09: { name: 'int8', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
};

/** Parses IDX bytes; `file` names the source in errors. */
export function parseIdx(bytes: Uint8Array, file = '<buffer>'): IdxArray {
  if (bytes.length < 4) throw new FileFormatError(file, `IDX file too short (${bytes.length} bytes)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new FileFormatError(file, `not an IDX file: magic starts ${bytes[0]}, ${bytes[1]} (expected 0, 0)`);
  }
  const type = TYPES[bytes[2]];
  if (!type) throw new FileFormatError(file, `unknown IDX element type 0x${bytes[2].toString(16)}`);
  const ndim = bytes[3];
  if (ndim === 0) throw new FileFormatError(file, 'IDX file declares 0 dimensions');
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) throw new FileFormatError(file, `IDX header truncated (${ndim} dimensions need ${headerBytes} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = headerBytes + count * type.bytes;
  if (bytes.length !== expected) {
    throw new FileFormatError(file, `IDX size mismatch: shape [${shape.join(', ')}] of ${type.name} needs ${expected} bytes, file has ${bytes.length}`);
  }
  let data: IdxArray['data'];
  switch (type.name) {
    case 'uint8': data = bytes.slice(headerBytes, expected); break;
    case 'int8': data = new Int8Array(bytes.slice(headerBytes, expected).buffer); break;
    default: {
      const out = type.name === 'int16' ? new Int16Array(count) : type.name === 'int32' ? new Int32Array(count)
        : type.name === 'float32' ? new Float32Array(count) : new Float64Array(count);
      for (let i = 0; i < count; i++) {
        const o = headerBytes + i * type.bytes;
        out[i] = type.name === 'int16' ? view.getInt16(o, false) : type.name === 'int32' ? view.getInt32(o, false)
          : type.name === 'float32' ? view.getFloat32(o, false) : view.getFloat64(o, false);
      }
      data = out;
    }
  }
  return { shape, data };
}

/** Reads an IDX file (gunzipping `*.gz`). */
export function readIdx(file: string): IdxArray {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new FileFormatError(file, `cannot read IDX file: ${(err as Error).message}`, { cause: err });
  }
  if (file.endsWith('.gz')) {
    try {
      bytes = zlib.gunzipSync(bytes);
    } catch (err) {
      throw new FileFormatError(file, `not a valid gzip file: ${(err as Error).message}`, { cause: err });
    }
  }
  return parseIdx(bytes, file);
}

/** Encodes a uint8 IDX array (used by tests and tools that export data). */
export function encodeIdxUint8(shape: readonly number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = 0x08;
  header[3] = shape.length;
  shape.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}
