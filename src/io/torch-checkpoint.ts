/**
 * Reading PyTorch checkpoints (the zip format of torch.save since PyTorch 1.6) without Python and
 * without executing anything.
 *
 * Layout: a zip whose entries share one top-level folder `<prefix>/` (`archive/` by default, the file's
 * stem in older versions): `<prefix>/data.pkl` is a pickle of the saved object in which every tensor is
 * `torch._utils._rebuild_tensor_v2(<storage>, offset, size, stride, …)` and every storage is a persistent
 * id `('storage', torch.FloatStorage, '<key>', '<location>', numel)` whose bytes are the zip entry
 * `<prefix>/data/<key>` (little-endian, stored uncompressed). `<prefix>/byteorder`, when present, says
 * `little` or `big`.
 *
 * The pickle is read by src/io/pickle.ts under the allow-list below; tensors come back as references
 * (dtype, shape, stride, storage), and `readTensor` loads one tensor's bytes at a time from the zip
 * (yauzl, random access through the central directory), so memory stays near the largest storage.
 */
import * as fs from 'node:fs';
import * as yauzl from 'yauzl';
import { FileFormatError } from '../errors';
import {
  PickleDict, PickleGlobal, PickleOpaque, PickleSet, PickleTuple, describeValue, unpickle,
  type GlobalHandler, type PicklePolicy, type PickleValue,
} from './pickle';
import type { SafetensorsDtype } from './safetensors';

/** Element types of torch storages, by their pickled class name. */
export const TORCH_STORAGE_DTYPES: Readonly<Record<string, { dtype: TorchDtype; bytes: number }>> = {
  FloatStorage: { dtype: 'F32', bytes: 4 },
  DoubleStorage: { dtype: 'F64', bytes: 8 },
  HalfStorage: { dtype: 'F16', bytes: 2 },
  BFloat16Storage: { dtype: 'BF16', bytes: 2 },
  LongStorage: { dtype: 'I64', bytes: 8 },
  IntStorage: { dtype: 'I32', bytes: 4 },
  ShortStorage: { dtype: 'I16', bytes: 2 },
  CharStorage: { dtype: 'I8', bytes: 1 },
  ByteStorage: { dtype: 'U8', bytes: 1 },
  BoolStorage: { dtype: 'BOOL', bytes: 1 },
};

/** A storage's element type, in safetensors' names (I16 and I8 cannot be written to safetensors here). */
export type TorchDtype = SafetensorsDtype | 'I16' | 'I8';

/** One storage of the checkpoint: a zip entry holding `numel` elements. */
export class TorchStorageRef {
  constructor(
    readonly key: string,
    readonly dtype: TorchDtype,
    readonly itemBytes: number,
    readonly numel: number,
    readonly location: string,
    readonly entryName: string,
  ) {}
}

/** A tensor of the checkpoint, not yet loaded: a strided view of a storage. */
export class TorchTensorRef {
  constructor(
    readonly storage: TorchStorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
    readonly requiresGrad: boolean,
  ) {}

  get dtype(): TorchDtype {
    return this.storage.dtype;
  }

  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  get byteLength(): number {
    return this.numel * this.storage.itemBytes;
  }
}

/** A tensor's bytes, contiguous (row-major), little-endian, in its own dtype. */
export interface LoadedTorchTensor {
  dtype: TorchDtype;
  shape: number[];
  bytes: Uint8Array;
}

/** What a file looks like from its first bytes. */
export type CheckpointKind = 'torch-zip' | 'torch-legacy' | 'pickle' | 'safetensors' | 'unknown';

// torch.save's legacy format starts with a pickled magic number (protocol 2, LONG1 of 10 bytes).
const LEGACY_MAGIC = Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);

/** Classifies a checkpoint file by its first bytes. */
export function detectCheckpointKind(head: Uint8Array): CheckpointKind {
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'torch-zip';
  if (head.length >= LEGACY_MAGIC.length && LEGACY_MAGIC.every((b, i) => head[i] === b)) return 'torch-legacy';
  if (head.length >= 2 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) return 'pickle';
  if (head.length >= 9) {
    const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
    if (n > 1n && n < 100_000_000n && head[8] === 0x7b) return 'safetensors';
  }
  return 'unknown';
}

function hexBytes(b: Uint8Array): string {
  return b.length ? Array.from(b.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join(' ') : '(nothing: empty file)';
}

/** The error for a file that is not a zip checkpoint, saying what it is and what to do. */
export function unsupportedCheckpointError(file: string, kind: CheckpointKind, head: Uint8Array = new Uint8Array(0)): FileFormatError {
  switch (kind) {
    case 'torch-legacy':
      return new FileFormatError(file, 'this is a legacy (PyTorch < 1.6, non-zip) torch.save checkpoint, which this ' +
        'reader does not support. Re-save it in the zip format with PyTorch ≥ 1.6 on a machine you trust (loading runs ' +
        'the pickle): python -c "import torch; torch.save(torch.load(\'model.ckpt\', map_location=\'cpu\'), \'model-zip.ckpt\')" ' +
        'and import model-zip.ckpt');
    case 'pickle':
      return new FileFormatError(file, 'this is a bare pickle, not a torch.save zip checkpoint; save the state dict with ' +
        'torch.save (PyTorch ≥ 1.6) and import that file');
    case 'safetensors':
      return new FileFormatError(file, 'this is a safetensors file, not a PyTorch checkpoint; give the .ckpt the model ' +
        'was released as (a safetensors copy of a full latent-diffusion state dict is not a supported input yet)');
    default:
      return new FileFormatError(file, 'not a PyTorch checkpoint: expected a zip archive (torch.save, PyTorch ≥ 1.6) ' +
        `starting with "PK\\x03\\x04"; the file starts with ${hexBytes(head)}. Check that the download is complete and is the model.ckpt file`);
  }
}

function asInt(v: PickleValue, what: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  throw new Error(`${what} must be an integer, found ${describeValue(v)}`);
}

function asIntTuple(v: PickleValue, what: string): number[] {
  if (v instanceof PickleTuple) return v.items.map((x, i) => asInt(x, `${what}[${i}]`));
  if (v instanceof PickleOpaque && v.global.qualifiedName === 'torch.Size') return asIntTuple(v.args[0] ?? new PickleTuple([]), what);
  throw new Error(`${what} must be a tuple of integers, found ${describeValue(v)}`);
}

function rebuildTensor(args: PickleValue[]): TorchTensorRef {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!(storage instanceof TorchStorageRef)) throw new Error(`first argument must be a storage, found ${describeValue(storage)}`);
  const shape = asIntTuple(size, 'size');
  const strides = asIntTuple(stride, 'stride');
  if (shape.length !== strides.length) throw new Error(`size ${JSON.stringify(shape)} and stride ${JSON.stringify(strides)} differ in rank`);
  const off = asInt(offset, 'storage offset');
  if (shape.some((d) => d < 0) || strides.some((s) => s < 0) || off < 0) throw new Error('negative size, stride or offset');
  const numel = shape.reduce((a, b) => a * b, 1);
  if (numel > 0) {
    const last = off + shape.reduce((acc, d, i) => acc + (d - 1) * strides[i], 0);
    if (last >= storage.numel) {
      throw new Error(`tensor view (offset ${off}, size ${JSON.stringify(shape)}, stride ${JSON.stringify(strides)}) runs past ` +
        `its storage "${storage.key}" of ${storage.numel} elements`);
    }
  }
  return new TorchTensorRef(storage, off, shape, strides, requiresGrad === true);
}

const callable = (call: (args: PickleValue[]) => PickleValue): GlobalHandler => ({ kind: 'call', call });
const INERT: GlobalHandler = { kind: 'inert' };

/**
 * The globals a torch.save checkpoint may name, implemented here. Every other global is refused,
 * except those in INERT_PREFIXES / INERT_NAMES, which are recorded but never called.
 */
const CALLABLE_GLOBALS: Record<string, GlobalHandler> = {
  'collections.OrderedDict': callable((args) => {
    const d = new PickleDict(true);
    const init = args[0];
    if (Array.isArray(init)) {
      for (const pair of init) {
        if (!(pair instanceof PickleTuple) || pair.items.length !== 2) throw new Error('OrderedDict items must be pairs');
        d.map.set(pair.items[0], pair.items[1]);
      }
    } else if (init !== undefined) throw new Error(`OrderedDict(${describeValue(init)}) is not supported`);
    return d;
  }),
  'torch._utils._rebuild_tensor_v2': callable((args) => rebuildTensor(args)),
  'torch._utils._rebuild_tensor': callable((args) => rebuildTensor([...args.slice(0, 4), false])),
  'torch._utils._rebuild_parameter': callable((args) => {
    if (!(args[0] instanceof TorchTensorRef)) throw new Error(`data must be a tensor, found ${describeValue(args[0])}`);
    return args[0];
  }),
  'torch._utils._rebuild_parameter_with_state': callable((args) => {
    if (!(args[0] instanceof TorchTensorRef)) throw new Error(`data must be a tensor, found ${describeValue(args[0])}`);
    return args[0];
  }),
  'torch._tensor._rebuild_from_type_v2': callable((args) => {
    const [func, newType, funcArgs] = args;
    if (!(func instanceof PickleGlobal) || func.handler.kind !== 'call') throw new Error(`cannot rebuild with ${describeValue(func)}`);
    if (!(newType instanceof PickleGlobal) || !['torch.Tensor', 'torch.nn.parameter.Parameter'].includes(newType.qualifiedName)) {
      throw new Error(`tensor subclass ${describeValue(newType)} is not supported`);
    }
    if (!(funcArgs instanceof PickleTuple)) throw new Error('arguments must be a tuple');
    return func.handler.call(funcArgs.items);
  }),
  // Protocol 2 pickles bytes as _codecs.encode(text, 'latin1').
  '_codecs.encode': callable((args) => {
    const [s, enc] = args;
    if (typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) throw new Error('only _codecs.encode(str, "latin1") is supported');
    return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
  }),
  'builtins.set': callable((args) => new PickleSet(Array.isArray(args[0]) ? args[0] : [], false)),
  'builtins.frozenset': callable((args) => new PickleSet(Array.isArray(args[0]) ? args[0] : [], true)),
};

/**
 * Globals that may appear in a training checkpoint outside the weights (Lightning's callback states,
 * hyper-parameters, numpy scalars in logged metrics). They are never called: REDUCE / NEWOBJ / BUILD
 * on them produce a PickleOpaque, and an opaque value where a tensor is needed is an error.
 */
export const INERT_PREFIXES = ['pytorch_lightning.', 'lightning.', 'lightning_fabric.', 'omegaconf.'] as const;
export const INERT_NAMES = [
  'torch.Tensor', 'torch.nn.parameter.Parameter', 'torch.Size', 'torch.device',
  'numpy.core.multiarray.scalar', 'numpy._core.multiarray.scalar', 'numpy.dtype',
  'numpy.core.multiarray._reconstruct', 'numpy._core.multiarray._reconstruct', 'numpy.ndarray',
] as const;

/** The allow-list policy, with storages resolved against a zip's entries. */
export function torchPicklePolicy(
  file: string, prefix: string, entrySize: (name: string) => number | undefined,
): PicklePolicy {
  return {
    refusalHint: 'a PyTorch checkpoint may only use collections.OrderedDict, torch._utils._rebuild_tensor_v2, ' +
      '_rebuild_parameter, torch.*Storage types and data-only names under ' + INERT_PREFIXES.join(', '),
    resolveGlobal(module, name) {
      const q = `${module}.${name}`;
      const handler = CALLABLE_GLOBALS[module === '__builtin__' ? `builtins.${name}` : q];
      if (handler) return handler;
      if (module === 'torch' && Object.prototype.hasOwnProperty.call(TORCH_STORAGE_DTYPES, name)) return INERT;
      if ((INERT_NAMES as readonly string[]).includes(q) || INERT_PREFIXES.some((p) => q.startsWith(p))) return INERT;
      return undefined;
    },
    persistentLoad(pid) {
      if (!(pid instanceof PickleTuple) || pid.items[0] !== 'storage' || pid.items.length < 5) {
        throw new Error(`unsupported persistent id ${describeValue(pid)} (expected ('storage', type, key, location, numel))`);
      }
      const [, type, key, location, numel] = pid.items;
      if (!(type instanceof PickleGlobal) || type.module !== 'torch' || !(type.name in TORCH_STORAGE_DTYPES)) {
        throw new Error(`unsupported storage type ${describeValue(type)}`);
      }
      if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(key)) throw new Error(`invalid storage key ${describeValue(key)}`);
      const info = TORCH_STORAGE_DTYPES[type.name];
      const n = asInt(numel, 'storage size');
      const entryName = `${prefix}data/${key}`;
      const size = entrySize(entryName);
      if (size === undefined) throw new FileFormatError(file, `storage "${key}" is referenced by the pickle but the zip has no entry ${entryName}`);
      if (size < n * info.bytes) {
        throw new FileFormatError(file, `storage "${key}" (${type.name}, ${n} elements) needs ${n * info.bytes} bytes but ${entryName} has ${size}`);
      }
      return new TorchStorageRef(key, info.dtype, info.bytes, n, String(location), entryName);
    },
  };
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: false, decodeStrings: true, validateEntrySizes: true }, (err, zip) => {
      if (err || !zip) reject(err ?? new Error('yauzl returned no zip file'));
      else resolve(zip);
    });
  });
}

function readEntries(zip: yauzl.ZipFile): Promise<Map<string, yauzl.Entry>> {
  return new Promise((resolve, reject) => {
    const entries = new Map<string, yauzl.Entry>();
    zip.on('entry', (e: yauzl.Entry) => {
      entries.set(e.fileName, e);
      zip.readEntry();
    });
    zip.on('end', () => resolve(entries));
    zip.on('error', reject);
    zip.readEntry();
  });
}

/** Reads a whole zip entry into a new buffer of its uncompressed size (one allocation). */
function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => {
      if (err || !stream) {
        reject(err ?? new Error('no stream'));
        return;
      }
      const out = new Uint8Array(entry.uncompressedSize);
      let at = 0;
      stream.on('data', (chunk: Buffer) => {
        if (at + chunk.length > out.length) {
          stream.destroy(new Error(`entry ${entry.fileName} is longer than its recorded size ${out.length}`));
          return;
        }
        out.set(chunk, at);
        at += chunk.length;
      });
      stream.on('error', reject);
      stream.on('end', () => {
        if (at !== out.length) reject(new Error(`entry ${entry.fileName} ended after ${at} of ${out.length} bytes`));
        else resolve(out);
      });
    });
  });
}

/** Largest data.pkl this reader accepts (real checkpoints hold a few hundred KB of pickle). */
export const MAX_PICKLE_BYTES = 1 << 30;

/**
 * An open torch.save zip checkpoint: the unpickled object (`root`, tensors as TorchTensorRef) and
 * `readTensor` to load one tensor. Close it when done.
 */
export class TorchCheckpoint {
  private constructor(
    readonly file: string,
    private zip: yauzl.ZipFile | null,
    private readonly entries: Map<string, yauzl.Entry>,
    readonly prefix: string,
    readonly root: PickleValue,
  ) {}

  /** Opens a checkpoint; FileFormatError for any other kind of file, a hostile pickle, or a broken zip. */
  static async open(file: string): Promise<TorchCheckpoint> {
    let head: Uint8Array;
    try {
      const fh = await fs.promises.open(file, 'r');
      try {
        head = new Uint8Array(16);
        const { bytesRead } = await fh.read(head, 0, 16, 0);
        head = head.subarray(0, bytesRead);
      } finally {
        await fh.close();
      }
    } catch (e) {
      throw new FileFormatError(file, `cannot open: ${(e as Error).message}`, { cause: e });
    }
    const kind = detectCheckpointKind(head);
    if (kind !== 'torch-zip') throw unsupportedCheckpointError(file, kind, head);
    let zip: yauzl.ZipFile;
    let entries: Map<string, yauzl.Entry>;
    try {
      zip = await openZip(file);
      entries = await readEntries(zip);
    } catch (e) {
      throw new FileFormatError(file, `not a readable zip archive: ${(e as Error).message}`, { cause: e });
    }
    try {
      const pkls = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
      if (pkls.length !== 1) {
        throw new FileFormatError(file, pkls.length === 0
          ? 'zip has no <folder>/data.pkl entry: not a torch.save checkpoint (a zip of something else?)'
          : `zip has ${pkls.length} data.pkl entries (${pkls.join(', ')}); expected one`);
      }
      const prefix = pkls[0].slice(0, -'data.pkl'.length);
      const order = entries.get(`${prefix}byteorder`);
      if (order) {
        const text = new TextDecoder().decode(await readEntry(zip, order)).trim();
        if (text !== 'little') throw new FileFormatError(file, `checkpoint byte order is "${text}"; only little-endian checkpoints are supported`);
      }
      const pklEntry = entries.get(pkls[0]) as yauzl.Entry;
      if (pklEntry.uncompressedSize > MAX_PICKLE_BYTES) {
        throw new FileFormatError(file, `${pkls[0]} is ${pklEntry.uncompressedSize} bytes, over the ${MAX_PICKLE_BYTES}-byte limit`);
      }
      const pkl = await readEntry(zip, pklEntry);
      const policy = torchPicklePolicy(`${file}:${pkls[0]}`, prefix, (n) => entries.get(n)?.uncompressedSize);
      const root = unpickle(pkl, { file: `${file}:${pkls[0]}`, policy });
      return new TorchCheckpoint(file, zip, entries, prefix, root);
    } catch (e) {
      zip.close();
      if (e instanceof FileFormatError) throw e;
      throw new FileFormatError(file, (e as Error).message, { cause: e });
    }
  }

  /** Loads one tensor as contiguous little-endian bytes in its own dtype (reads only its storage). */
  async readTensor(ref: TorchTensorRef): Promise<LoadedTorchTensor> {
    if (!this.zip) throw new FileFormatError(this.file, 'checkpoint is closed');
    const entry = this.entries.get(ref.storage.entryName);
    if (!entry) throw new FileFormatError(this.file, `missing storage entry ${ref.storage.entryName}`);
    let storage: Uint8Array;
    try {
      storage = await readEntry(this.zip, entry);
    } catch (e) {
      throw new FileFormatError(this.file, `cannot read ${ref.storage.entryName}: ${(e as Error).message}`, { cause: e });
    }
    return { dtype: ref.dtype, shape: ref.shape.slice(), bytes: gatherStrided(storage, ref) };
  }

  async close(): Promise<void> {
    if (this.zip) {
      this.zip.close();
      this.zip = null;
    }
  }
}

/** Copies a strided view out of a storage's bytes into a contiguous row-major array. */
export function gatherStrided(storage: Uint8Array, ref: TorchTensorRef): Uint8Array {
  const item = ref.storage.itemBytes;
  const { shape, stride, offset } = ref;
  const n = ref.numel;
  const contiguous = shape.every((_, i) => shape[i] === 1 || stride[i] === shape.slice(i + 1).reduce((a, b) => a * b, 1));
  // A view, not a copy: the storage buffer was read for this tensor alone.
  if (contiguous) return storage.subarray(offset * item, (offset + n) * item);
  const out = new Uint8Array(n * item);
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < n; k++) {
    let src = offset;
    for (let d = 0; d < shape.length; d++) src += idx[d] * stride[d];
    out.set(storage.subarray(src * item, (src + 1) * item), k * item);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * The state dict of a checkpoint root: `root['state_dict']` (Lightning / latent-diffusion) or the root
 * itself when it is a dict of tensors. Non-tensor values are returned in `others` by name.
 */
export function stateDictOf(file: string, root: PickleValue): { tensors: Map<string, TorchTensorRef>; others: Map<string, PickleValue>; topLevelKeys: string[] } {
  if (!(root instanceof PickleDict)) throw new FileFormatError(file, `checkpoint holds ${describeValue(root)}, not a dict`);
  const topLevelKeys = root.stringKeys();
  const sd = root.get('state_dict');
  const dict = sd instanceof PickleDict ? sd : root;
  if (dict === root && ![...root.map.values()].some((v) => v instanceof TorchTensorRef)) {
    throw new FileFormatError(file, `checkpoint has no "state_dict" and holds no tensors at the top level (keys: ${topLevelKeys.join(', ')})`);
  }
  const tensors = new Map<string, TorchTensorRef>();
  const others = new Map<string, PickleValue>();
  for (const [k, v] of dict.map) {
    if (typeof k !== 'string') throw new FileFormatError(file, `state dict key ${describeValue(k)} is not a string`);
    if (v instanceof TorchTensorRef) tensors.set(k, v);
    else others.set(k, v);
  }
  return { tensors, others, topLevelKeys };
}
