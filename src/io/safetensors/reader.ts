/** Reading safetensors files: the lazy reader (header first, tensors on demand), whole-file reads, and loads as TF.js tensors. */
import * as fs from 'node:fs';
import type * as tf from '@tensorflow/tfjs-core';
import { FileFormatError } from '../../errors';
import {
  assertLittleEndianHost, DEFAULT_MAX_HEADER_BYTES, parseSafetensorsHeader, type ReadOptions, type SafetensorsEntry,
  type SafetensorsFile, type SafetensorsHeader, type SafetensorsTensor,
} from './header';
import { decode } from './tensor-bytes';
import { toTfTensor } from './tfjs';

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

