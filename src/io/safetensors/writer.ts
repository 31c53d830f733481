/** Writing safetensors files: names, dtypes and shapes checked first, then one tensor at a time, atomically. */
import * as tf from '@tensorflow/tfjs-core';
import { FileFormatError } from '../../errors';
import { writeFileAtomic } from '../atomic-write';
import { assertLittleEndianHost, describe, DTYPE_BYTES, isSupported, shapeSize, type SafetensorsDtype } from './header';
import { encode, type NumericArray } from './tensor-bytes';

/**
 * What `writeSafetensors` accepts per name: a tf.Tensor (float32 → F32, int32 → I32, bool → BOOL),
 * a tf.Tensor with an explicit on-disk dtype (e.g. `{tensor, dtype: 'F16'}` for latent shards, `'I64'`
 * for labels), or plain data `{dtype, shape, data}` where `data` holds the values (converted to `dtype`).
 */
export type SafetensorsWriteEntry =
  | tf.Tensor
  | { tensor: tf.Tensor; dtype: SafetensorsDtype }
  | { dtype: SafetensorsDtype; shape: readonly number[]; data: ArrayLike<number> }
  | SafetensorsLazyEntry;

/**
 * A tensor whose bytes are produced only when its turn to be written comes (e.g. streamed out of a
 * PyTorch checkpoint): `bytes()` returns exactly product(shape) × dtype-size little-endian bytes in
 * `dtype`, and is called once.
 */
export interface SafetensorsLazyEntry {
  dtype: SafetensorsDtype;
  shape: readonly number[];
  bytes: () => Promise<Uint8Array>;
}

export interface WriteOptions {
  /** fsync the file and its directory before returning (default true). */
  fsync?: boolean;
}

function defaultDtype(file: string, name: string, t: tf.Tensor): SafetensorsDtype {
  if (t.dtype === 'float32') return 'F32';
  if (t.dtype === 'int32') return 'I32';
  if (t.dtype === 'bool') return 'BOOL';
  throw new FileFormatError(file, `tensor "${name}": cannot write a ${t.dtype} tensor to safetensors`);
}

/** One tensor to write: its header fields, and how to produce its bytes when its turn comes. */
interface PlannedTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  byteLength: number;
  bytes(): Promise<Uint8Array>;
}

/** Checks names, dtypes and shapes of everything to write (no tensor data is read). */
function plan(
  file: string,
  tensors: Record<string, SafetensorsWriteEntry> | ReadonlyMap<string, SafetensorsWriteEntry>,
): PlannedTensor[] {
  const items = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  return items.map(([name, e]): PlannedTensor => {
    if (name === '' || name === '__metadata__' || name === '__proto__') {
      throw new FileFormatError(file, `invalid tensor name ${JSON.stringify(name)}`);
    }
    const supported = (dtype: string): SafetensorsDtype => {
      if (!isSupported(dtype)) throw new FileFormatError(file, `tensor "${name}": unsupported dtype "${dtype}"`);
      return dtype;
    };
    if (e instanceof tf.Tensor || 'tensor' in e) {
      const t = e instanceof tf.Tensor ? e : e.tensor;
      if (t.isDisposed) throw new FileFormatError(file, `tensor "${name}" is disposed`);
      const dtype = e instanceof tf.Tensor ? defaultDtype(file, name, t) : supported(e.dtype);
      return {
        name, dtype, shape: t.shape.slice(), byteLength: t.size * DTYPE_BYTES[dtype],
        bytes: async () => {
          if (t.isDisposed) throw new FileFormatError(file, `tensor "${name}" was disposed while being written`);
          return encode(dtype, (await t.data()) as NumericArray, name, file);
        },
      };
    }
    const dtype = supported(e.dtype);
    const shape: number[] = Array.from(e.shape as readonly number[]);
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new FileFormatError(file, `tensor "${name}": invalid shape ${JSON.stringify(shape)}`);
    }
    if ('bytes' in e) {
      const byteLength = shapeSize(shape) * DTYPE_BYTES[dtype];
      return {
        name, dtype, shape, byteLength,
        bytes: async () => {
          const b = await e.bytes();
          if (b.byteLength !== byteLength) {
            throw new FileFormatError(file, `tensor "${name}": expected ${byteLength} bytes (${dtype} ${JSON.stringify(shape)}), got ${b.byteLength}`);
          }
          return b;
        },
      };
    }
    if (shapeSize(shape) !== e.data.length) {
      throw new FileFormatError(file, `tensor "${name}": shape ${JSON.stringify(shape)} needs ${shapeSize(shape)} ` +
        `values but data has ${e.data.length}`);
    }
    return { name, dtype, shape, byteLength: e.data.length * DTYPE_BYTES[dtype], bytes: async () => encode(dtype, e.data, name, file) };
  });
}

/** The 8-byte length and the JSON header (padded with spaces to a multiple of 8 bytes). */
function headerFor(file: string, planned: readonly PlannedTensor[], metadata: Record<string, string>): Uint8Array {
  const json: Record<string, unknown> = {};
  if (Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new FileFormatError(file, `metadata "${k}" must be a string, found ${describe(v)}`);
    }
    json.__metadata__ = metadata;
  }
  let offset = 0;
  for (const t of planned) {
    json[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.byteLength] };
    offset += t.byteLength;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const padded = Math.ceil(text.byteLength / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + text.byteLength);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(text, 8);
  return header;
}

/** Builds the bytes of a safetensors file in memory. */
export async function encodeSafetensors(
  tensors: Record<string, SafetensorsWriteEntry> | ReadonlyMap<string, SafetensorsWriteEntry>,
  metadata: Record<string, string> = {},
): Promise<Uint8Array> {
  const file = '<buffer>';
  const planned = plan(file, tensors);
  const header = headerFor(file, planned, metadata);
  const out = new Uint8Array(header.byteLength + planned.reduce((s, t) => s + t.byteLength, 0));
  out.set(header, 0);
  let at = header.byteLength;
  for (const t of planned) {
    out.set(await t.bytes(), at);
    at += t.byteLength;
  }
  return out;
}

/**
 * Writes a safetensors file atomically (src/io/atomic-write.ts: hidden temp file, fsync, rename, fsync of
 * the folder); a crash or an error leaves either the old file or the new one (and, after a crash, at worst
 * a stray temp file). Names, dtypes and shapes are
 * checked before the file is opened; tensors are then encoded and written one at a time, so peak extra
 * memory is one tensor.
 */
export async function writeSafetensors(
  file: string,
  tensors: Record<string, SafetensorsWriteEntry> | ReadonlyMap<string, SafetensorsWriteEntry>,
  metadata: Record<string, string> = {},
  options: WriteOptions = {},
): Promise<void> {
  assertLittleEndianHost(file);
  const planned = plan(file, tensors);
  const header = headerFor(file, planned, metadata);
  try {
    await writeFileAtomic(file, async (fh) => {
      await fh.write(header, 0, header.byteLength);
      for (const t of planned) {
        const bytes = await t.bytes();
        await fh.write(bytes, 0, bytes.byteLength);
      }
    }, { fsync: options.fsync ?? true });
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    throw new FileFormatError(file, `cannot write: ${(e as Error).message}`, { cause: e });
  }
}

