/**
 * Reading and writing safetensors files.
 *
 * Layout: 8-byte little-endian unsigned header length N, N bytes of UTF-8 JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}`, then the data
 * buffer; offsets are relative to the start of the data buffer.
 *
 * Everything read from a file is checked before any tensor memory is allocated: the header length is
 * bounded, every entry is validated, offsets must lie inside the data buffer and tile it exactly
 * (contiguous, non-overlapping, no trailing bytes), and each entry's byte length must equal
 * product(shape) × dtype size. A file that fails any check gets a FileFormatError naming the file, the
 * tensor and the numbers involved.
 *
 * On load, floating types become float32 (F16 and BF16 exactly; F64 rounded, or kept as float64 with
 * `float64: 'f64'`), I64 becomes int32 with a range check, I32 stays int32, U8 and BOOL become uint8.
 * Multi-byte values are little-endian on disk; this module requires a little-endian host.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { FileFormatError } from '../errors';
import { tempPathFor, writeFileAtomic } from './atomic-write';

export { tempPathFor };

/** Every dtype name of the safetensors format. */
export const SAFETENSORS_DTYPES = [
  'BOOL', 'U8', 'I8', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64',
  'F8_E4M3', 'F8_E5M2',
] as const;
export type SafetensorsDtypeName = (typeof SAFETENSORS_DTYPES)[number];

/** The dtypes this module reads and writes. */
export const SUPPORTED_DTYPES = ['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'U8', 'BOOL'] as const;
export type SafetensorsDtype = (typeof SUPPORTED_DTYPES)[number];

const DTYPE_BYTES: Record<SafetensorsDtypeName, number> = {
  BOOL: 1, U8: 1, I8: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
  F8_E4M3: 1, F8_E5M2: 1,
};

/** Default bound on the JSON header (the reference implementation uses the same 100 MB). */
export const DEFAULT_MAX_HEADER_BYTES = 100_000_000;

export type TensorArray = Float32Array | Float64Array | Int32Array | Uint8Array;

/**
 * A tensor as plain data. `dtype` is the on-disk dtype; `data` is the decoded array (see the module
 * comment for which array type each dtype decodes to). Shapes are in file order (NCHW for conv data).
 */
export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: TensorArray;
}

/** A whole file in memory. */
export interface SafetensorsFile {
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensor>;
}

/** One header entry after validation. `begin`/`end` are relative to the data buffer. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** A validated header. `entries` are in data-offset order. */
export interface SafetensorsHeader {
  metadata: Record<string, string>;
  entries: SafetensorsEntry[];
  /** Absolute file offset of the data buffer (8 + header length). */
  dataStart: number;
  /** Length of the data buffer in bytes. */
  dataLength: number;
}

export interface ReadOptions {
  /** Header-length bound in bytes (default DEFAULT_MAX_HEADER_BYTES). */
  maxHeaderBytes?: number;
  /** What F64 tensors decode to: float32 (default) or float64 (for float64 reference values). */
  float64?: 'f32' | 'f64';
}

function assertLittleEndianHost(file: string): void {
  if (os.endianness() !== 'LE') {
    throw new FileFormatError(file, 'safetensors I/O requires a little-endian host');
  }
}

function isSupported(dtype: string): dtype is SafetensorsDtype {
  return (SUPPORTED_DTYPES as readonly string[]).includes(dtype);
}

function describe(v: unknown): string {
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}

/**
 * Validates the JSON text of a header against a data buffer of `dataLength` bytes. Exported for tools
 * that obtain headers some other way; `file` only labels error messages.
 */
export function parseSafetensorsHeader(
  file: string, headerText: string, dataStart: number, dataLength: number,
): SafetensorsHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(headerText);
  } catch (e) {
    throw new FileFormatError(file, `safetensors header is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new FileFormatError(file, `safetensors header must be a JSON object, found ${describe(raw)}`);
  }
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new FileFormatError(file, `"__metadata__" must be an object of strings, found ${describe(value)}`);
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') {
          throw new FileFormatError(file, `"__metadata__"."${k}" must be a string, found ${describe(v)}`);
        }
        metadata[k] = v;
      }
      continue;
    }
    entries.push(parseEntry(file, name, value));
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: SafetensorsEntry | undefined;
  for (const e of entries) {
    if (e.end > dataLength) {
      throw new FileFormatError(file, `tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] run past the end ` +
        `of the data buffer (${dataLength} bytes)`);
    }
    if (e.begin < cursor) {
      throw new FileFormatError(file, `tensors "${previous!.name}" [${previous!.begin}, ${previous!.end}] and ` +
        `"${e.name}" [${e.begin}, ${e.end}] overlap`);
    }
    if (e.begin > cursor) {
      throw new FileFormatError(file, `gap in the data buffer: bytes [${cursor}, ${e.begin}) before tensor ` +
        `"${e.name}" belong to no tensor`);
    }
    cursor = e.end;
    previous = e;
  }
  if (cursor !== dataLength) {
    throw new FileFormatError(file, `data buffer has ${dataLength - cursor} trailing bytes after the last tensor ` +
      `(tensors cover ${cursor} of ${dataLength} bytes)`);
  }
  return { metadata, entries, dataStart, dataLength };
}

function parseEntry(file: string, name: string, value: unknown): SafetensorsEntry {
  const where = `tensor "${name}"`;
  if (name === '' || name === '__proto__') {
    throw new FileFormatError(file, `invalid tensor name ${JSON.stringify(name)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FileFormatError(file, `${where}: entry must be an object, found ${describe(value)}`);
  }
  const entry = value as Record<string, unknown>;
  for (const key of Object.keys(entry)) {
    if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets') {
      throw new FileFormatError(file, `${where}: unknown key "${key}" (expected dtype, shape, data_offsets)`);
    }
  }
  const dtype = entry.dtype;
  if (typeof dtype !== 'string') {
    throw new FileFormatError(file, `${where}: "dtype" must be a string, found ${describe(dtype)}`);
  }
  if (!(SAFETENSORS_DTYPES as readonly string[]).includes(dtype)) {
    throw new FileFormatError(file, `${where}: unknown dtype "${dtype}" (known: ${SAFETENSORS_DTYPES.join(', ')})`);
  }
  if (!isSupported(dtype)) {
    throw new FileFormatError(file, `${where}: dtype ${dtype} is not supported (supported: ` +
      `${SUPPORTED_DTYPES.join(', ')})`);
  }
  const shape = entry.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new FileFormatError(file, `${where}: "shape" must be an array of non-negative integers, found ` +
      `${describe(shape)}`);
  }
  const offsets = entry.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
    throw new FileFormatError(file, `${where}: "data_offsets" must be two non-negative integers [begin, end], ` +
      `found ${describe(offsets)}`);
  }
  const [begin, end] = offsets as number[];
  if (end < begin) {
    throw new FileFormatError(file, `${where}: data_offsets [${begin}, ${end}] end before they begin`);
  }
  let count = 1;
  for (const d of shape as number[]) {
    count *= d;
    if (!Number.isSafeInteger(count)) {
      throw new FileFormatError(file, `${where}: shape ${JSON.stringify(shape)} has too many elements`);
    }
  }
  const expectedBytes = count * DTYPE_BYTES[dtype];
  if (!Number.isSafeInteger(expectedBytes) || expectedBytes !== end - begin) {
    throw new FileFormatError(file, `${where}: shape ${JSON.stringify(shape)} of ${dtype} needs ` +
      `${expectedBytes} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
  }
  return { name, dtype, shape: (shape as number[]).slice(), begin, end };
}

/** Number of elements of a shape. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------------------------------------
// Float16 / BFloat16 conversions (round to nearest, ties to even).

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE binary16 bits → float32 value (exact). */
export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1024 + frac) * 2 ** (exp - 25);
}

let f16Table: Float32Array | undefined;

/** All 65536 binary16 values as float32 (256 KiB, built on first use): decoding is one lookup. */
function float16Table(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = float16BitsToFloat32(h);
  }
  return f16Table;
}

/** float32 value → IEEE binary16 bits, rounding to nearest even; overflow becomes ±Infinity. */
export function float32ToFloat16Bits(value: number): number {
  f32Scratch[0] = value;
  return float32BitsToFloat16Bits(u32Scratch[0]);
}

function float32BitsToFloat16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  // Unbiased exponent of the float32; f16 normals cover [-14, 15].
  const e = exp - 127;
  if (e > 15) return sign | 0x7c00;
  if (e >= -14) {
    let half = ((e + 15) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half += 1; // may carry into the exponent: correct
    return sign | half;
  }
  if (e < -25) return sign; // below half the smallest subnormal: rounds to zero
  // Subnormal f16: value = m · 2^-24 with m = (1.mant) · 2^(e + 24).
  const full = mant | 0x800000; // 24-bit significand, value = full · 2^(e - 23)
  const shift = -e - 1; // = 23 - (e + 24): bits to drop so that the unit is 2^-24
  let m = full >>> shift;
  const rest = full & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && (m & 1))) m += 1;
  return sign | m;
}

/** bfloat16 bits → float32 value (exact). */
export function bfloat16BitsToFloat32(b: number): number {
  u32Scratch[0] = (b & 0xffff) << 16;
  return f32Scratch[0];
}

/** float32 value → bfloat16 bits, rounding to nearest even; NaN stays NaN. */
export function float32ToBfloat16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff)) return ((x >>> 16) | 0x40) & 0xffff;
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

// ---------------------------------------------------------------------------------------------------------
// Decoding and encoding of one tensor's bytes.

function decode(file: string, entry: SafetensorsEntry, bytes: Uint8Array, options: ReadOptions): TensorArray {
  // `bytes` is copied into a fresh buffer when its offset is not aligned for the typed-array view.
  const n = shapeSize(entry.shape);
  const aligned = (align: number): ArrayBuffer => {
    if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes.buffer as ArrayBuffer;
    if (bytes.byteOffset % align === 0) {
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    }
    return bytes.slice().buffer as ArrayBuffer;
  };
  switch (entry.dtype) {
    case 'F32':
      return new Float32Array(aligned(4), 0, n);
    case 'F64': {
      const d = new Float64Array(aligned(8), 0, n);
      return options.float64 === 'f64' ? d : Float32Array.from(d);
    }
    case 'F16': {
      const h = new Uint16Array(aligned(2), 0, n);
      const table = float16Table();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[h[i]];
      return out;
    }
    case 'BF16': {
      const h = new Uint16Array(aligned(2), 0, n);
      const w = new Uint32Array(n);
      for (let i = 0; i < n; i++) w[i] = h[i] << 16;
      return new Float32Array(w.buffer);
    }
    case 'I32':
      return new Int32Array(aligned(4), 0, n);
    case 'I64': {
      const pairs = new Int32Array(aligned(8), 0, 2 * n);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const lo = pairs[2 * i];
        const hi = pairs[2 * i + 1];
        if (hi !== lo >> 31) {
          const big = (BigInt(hi) << 32n) | BigInt(lo >>> 0);
          throw new FileFormatError(file, `tensor "${entry.name}": I64 value ${big} at flat index ${i} is ` +
            `outside the int32 range`);
        }
        out[i] = lo;
      }
      return out;
    }
    case 'U8':
      return new Uint8Array(aligned(1), 0, n);
    case 'BOOL': {
      const out = new Uint8Array(aligned(1), 0, n);
      for (let i = 0; i < n; i++) {
        if (out[i] > 1) {
          throw new FileFormatError(file, `tensor "${entry.name}": BOOL byte ${out[i]} at flat index ${i} is not 0 or 1`);
        }
      }
      return out;
    }
  }
}

type NumericArray = ArrayLike<number>;

function encode(dtype: SafetensorsDtype, data: NumericArray, name: string, file: string): Uint8Array {
  const n = data.length;
  switch (dtype) {
    case 'F32':
      return new Uint8Array(Float32Array.from(data).buffer);
    case 'F64':
      return new Uint8Array(Float64Array.from(data).buffer);
    case 'F16': {
      const bits = new Uint32Array(Float32Array.from(data).buffer);
      const h = new Uint16Array(n);
      for (let i = 0; i < n; i++) h[i] = float32BitsToFloat16Bits(bits[i]);
      return new Uint8Array(h.buffer);
    }
    case 'BF16': {
      const h = new Uint16Array(n);
      for (let i = 0; i < n; i++) h[i] = float32ToBfloat16Bits(data[i]);
      return new Uint8Array(h.buffer);
    }
    case 'I32':
    case 'I64': {
      const out = dtype === 'I32' ? new Int32Array(n) : new Int32Array(2 * n);
      const stride = dtype === 'I32' ? 1 : 2;
      for (let i = 0; i < n; i++) {
        const v = data[i];
        if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
          throw new FileFormatError(file, `tensor "${name}": value ${v} at flat index ${i} is not an int32 ` +
            `(cannot be written as ${dtype})`);
        }
        out[i * stride] = v;
        if (stride === 2) out[i * 2 + 1] = v < 0 ? -1 : 0;
      }
      return new Uint8Array(out.buffer);
    }
    case 'U8':
    case 'BOOL': {
      const out = new Uint8Array(n);
      const max = dtype === 'U8' ? 255 : 1;
      for (let i = 0; i < n; i++) {
        const v = data[i];
        if (!Number.isInteger(v) || v < 0 || v > max) {
          throw new FileFormatError(file, `tensor "${name}": value ${v} at flat index ${i} does not fit ${dtype}`);
        }
        out[i] = v;
      }
      return out;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Reading.

async function readExactly(fh: fs.promises.FileHandle, buf: Uint8Array, position: number, file: string): Promise<void> {
  let done = 0;
  while (done < buf.byteLength) {
    const { bytesRead } = await fh.read(buf, done, buf.byteLength - done, position + done);
    if (bytesRead === 0) {
      throw new FileFormatError(file, `unexpected end of file at byte ${position + done} (file changed while reading?)`);
    }
    done += bytesRead;
  }
}

/** Validates the 8-byte prefix and header of an open file, allocating nothing proportional to claims. */
async function readHeaderFrom(
  fh: fs.promises.FileHandle, file: string, options: ReadOptions,
): Promise<SafetensorsHeader> {
  const maxHeader = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  const { size } = await fh.stat();
  if (size < 8) {
    throw new FileFormatError(file, `file is ${size} bytes, too short for the 8-byte safetensors header length`);
  }
  const prefix = new Uint8Array(8);
  await readExactly(fh, prefix, 0, file);
  const headerLength = new DataView(prefix.buffer).getBigUint64(0, true);
  if (headerLength > BigInt(maxHeader)) {
    throw new FileFormatError(file, `safetensors header length ${headerLength} exceeds the limit of ` +
      `${maxHeader} bytes (corrupt or hostile file)`);
  }
  const n = Number(headerLength);
  if (8 + n > size) {
    throw new FileFormatError(file, `safetensors header length ${n} runs past the end of the file ` +
      `(file is ${size} bytes)`);
  }
  const headerBytes = new Uint8Array(n);
  await readExactly(fh, headerBytes, 8, file);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch (e) {
    throw new FileFormatError(file, 'safetensors header is not valid UTF-8', { cause: e });
  }
  return parseSafetensorsHeader(file, text, 8 + n, size - 8 - n);
}

/**
 * Reads a file lazily: the header is read and validated on `open`, and each `read` loads one tensor
 * from the file descriptor, so peak memory is one tensor. Call `close()` when done.
 */
export class SafetensorsReader {
  private constructor(
    readonly file: string,
    readonly header: SafetensorsHeader,
    private fh: fs.promises.FileHandle | null,
    private readonly options: ReadOptions,
    private readonly byName: Map<string, SafetensorsEntry>,
  ) {}

  static async open(file: string, options: ReadOptions = {}): Promise<SafetensorsReader> {
    assertLittleEndianHost(file);
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(file, 'r');
    } catch (e) {
      throw new FileFormatError(file, `cannot open: ${(e as Error).message}`, { cause: e });
    }
    try {
      const header = await readHeaderFrom(fh, file, options);
      const byName = new Map(header.entries.map((e) => [e.name, e]));
      return new SafetensorsReader(file, header, fh, options, byName);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  get metadata(): Record<string, string> {
    return this.header.metadata;
  }

  /** Tensor names in data-offset order. */
  get names(): string[] {
    return this.header.entries.map((e) => e.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The validated header entry of a tensor; FileFormatError when absent. */
  entry(name: string): SafetensorsEntry {
    const e = this.byName.get(name);
    if (!e) {
      throw new FileFormatError(this.file, `no tensor named "${name}" (file has ${this.byName.size} tensors)`);
    }
    return e;
  }

  /** Reads and decodes one tensor. */
  async read(name: string): Promise<SafetensorsTensor> {
    const e = this.entry(name);
    if (!this.fh) throw new FileFormatError(this.file, 'reader is closed');
    const bytes = new Uint8Array(e.end - e.begin);
    await readExactly(this.fh, bytes, this.header.dataStart + e.begin, this.file);
    return { dtype: e.dtype, shape: e.shape.slice(), data: decode(this.file, e, bytes, this.options) };
  }

  /** Reads one tensor as a tf.Tensor (float32, int32, or bool for BOOL; U8 becomes int32). */
  async readTensor(name: string): Promise<tf.Tensor> {
    return toTfTensor(await this.read(name));
  }

  async close(): Promise<void> {
    if (this.fh) {
      const fh = this.fh;
      this.fh = null;
      await fh.close();
    }
  }
}

/** Reads only the validated header of a file (no tensor data). */
export async function readSafetensorsHeader(file: string, options: ReadOptions = {}): Promise<SafetensorsHeader> {
  const reader = await SafetensorsReader.open(file, options);
  await reader.close();
  return reader.header;
}

/** Reads a whole file into memory. `names` restricts which tensors are read (each must exist). */
export async function readSafetensors(
  file: string, options: ReadOptions & { names?: readonly string[] } = {},
): Promise<SafetensorsFile> {
  const reader = await SafetensorsReader.open(file, options);
  try {
    const tensors = new Map<string, SafetensorsTensor>();
    const names = options.names ?? reader.names;
    for (const name of names) tensors.set(name, await reader.read(name));
    return { metadata: { ...reader.metadata }, tensors };
  } finally {
    await reader.close();
  }
}

/** Decodes a safetensors file held in memory; `file` labels error messages. */
export function decodeSafetensors(bytes: Uint8Array, file = '<buffer>', options: ReadOptions = {}): SafetensorsFile {
  assertLittleEndianHost(file);
  const maxHeader = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (bytes.byteLength < 8) {
    throw new FileFormatError(file, `file is ${bytes.byteLength} bytes, too short for the 8-byte safetensors header length`);
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(maxHeader)) {
    throw new FileFormatError(file, `safetensors header length ${headerLength} exceeds the limit of ` +
      `${maxHeader} bytes (corrupt or hostile file)`);
  }
  const n = Number(headerLength);
  if (8 + n > bytes.byteLength) {
    throw new FileFormatError(file, `safetensors header length ${n} runs past the end of the file ` +
      `(file is ${bytes.byteLength} bytes)`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch (e) {
    throw new FileFormatError(file, 'safetensors header is not valid UTF-8', { cause: e });
  }
  const header = parseSafetensorsHeader(file, text, 8 + n, bytes.byteLength - 8 - n);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of header.entries) {
    const slice = bytes.subarray(header.dataStart + e.begin, header.dataStart + e.end);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape.slice(), data: decode(file, e, slice, options) });
  }
  return { metadata: header.metadata, tensors };
}

/** Converts decoded data to a tf.Tensor: floats → float32, I32/I64/U8 → int32, BOOL → bool. */
export function toTfTensor(t: SafetensorsTensor): tf.Tensor {
  switch (t.dtype) {
    case 'BOOL':
      return tf.tensor(t.data as Uint8Array, t.shape, 'bool');
    case 'U8':
      return tf.tensor(Int32Array.from(t.data as Uint8Array), t.shape, 'int32');
    case 'I32':
    case 'I64':
      return tf.tensor(t.data as Int32Array, t.shape, 'int32');
    default:
      return tf.tensor(t.data instanceof Float32Array ? t.data : Float32Array.from(t.data), t.shape, 'float32');
  }
}

/**
 * Loads every tensor (or those in `names`) of a file as tf.Tensors, one tensor in memory at a time
 * besides the results. The caller owns (and disposes) the returned tensors.
 */
export async function loadSafetensorsAsTf(
  file: string, options: ReadOptions & { names?: readonly string[] } = {},
): Promise<Record<string, tf.Tensor>> {
  const reader = await SafetensorsReader.open(file, options);
  const out: Record<string, tf.Tensor> = {};
  try {
    for (const name of options.names ?? reader.names) out[name] = await reader.readTensor(name);
    return out;
  } catch (e) {
    for (const t of Object.values(out)) t.dispose();
    throw e;
  } finally {
    await reader.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Writing.

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
