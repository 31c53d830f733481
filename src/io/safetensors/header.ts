/**
 * The safetensors header: dtypes, the in-memory types, and validation of the JSON header (bounded length,
 * every entry checked, offsets tiling the data buffer exactly) before any tensor memory is allocated.
 */
import * as os from 'node:os';
import { FileFormatError } from '../../errors';

/** Every dtype name of the safetensors format. */
export const SAFETENSORS_DTYPES = [
  'BOOL', 'U8', 'I8', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64',
  'F8_E4M3', 'F8_E5M2',
] as const;
export type SafetensorsDtypeName = (typeof SAFETENSORS_DTYPES)[number];

/** The dtypes this module reads and writes. */
export const SUPPORTED_DTYPES = ['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'U8', 'BOOL'] as const;
export type SafetensorsDtype = (typeof SUPPORTED_DTYPES)[number];

export const DTYPE_BYTES: Record<SafetensorsDtypeName, number> = {
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

export function assertLittleEndianHost(file: string): void {
  if (os.endianness() !== 'LE') {
    throw new FileFormatError(file, 'safetensors I/O requires a little-endian host');
  }
}

export function isSupported(dtype: string): dtype is SafetensorsDtype {
  return (SUPPORTED_DTYPES as readonly string[]).includes(dtype);
}

export function describe(v: unknown): string {
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
