/**
 * A TensorFlow.js backend whose tensors live in libtorch (ATen) memory. Each tfjs DataId maps to a
 * native handle; data is copied only when written from JS or read back. Kernels (kernels.ts) call the
 * addon's primitives by handle.
 */
import { KernelBackend, engine, util } from '@tensorflow/tfjs-core';
import type { BackendTimingInfo, BackendValues, DataId, DataType, TensorInfo } from '@tensorflow/tfjs-core';
import { BackendError } from '../../errors';
import type { Precision } from '../precision';
import { DTYPE_CODE, DTYPE_OF_CODE, type LibtorchAddon, type NativeDType } from './native';

interface TensorEntry {
  /** Native handle; -1 for string tensors, whose values stay in JS (no kernel computes on them). */
  handle: number;
  dtype: DataType;
  shape: number[];
  refCount: number;
  strings?: BackendValues;
}

export const LIBTORCH_BACKEND_NAME = 'libtorch';

/**
 * Tensor entries live on the DataId objects themselves, under a key private to each backend instance:
 * a property read instead of tfjs's DataStorage (a WeakMap), whose set/delete cost ~2 ms per
 * reference-UNet training step (~650 kernels). A DataId of another backend has no entry here until
 * the engine moves its data over (as DataStorage.get does).
 */
type Keyed = Record<symbol, TensorEntry | undefined>;

export class LibtorchBackend extends KernelBackend {
  readonly native: LibtorchAddon;
  private readonly key = Symbol('libtorch tensor entry');
  private entries = 0;
  private readonly meta = new Int32Array(18);
  private readonly unaryCodes = new Map<string, number>();
  private readonly binaryCodes = new Map<string, number>();
  private readonly reduceCodes = new Map<string, number>();
  private disposed = false;

  constructor(native: LibtorchAddon, threads: number) {
    super();
    this.native = native;
    native.init(this.meta);
    native.setAutocast(false);
    native.unaryOps.forEach((name, i) => this.unaryCodes.set(name, i));
    native.binaryOps.forEach((name, i) => this.binaryCodes.set(name, i));
    native.reduceOps.forEach((name, i) => this.reduceCodes.set(name, i));
    this.setThreads(threads);
  }

  /** Sets libtorch's intra-op thread count (OpenMP) for the JS thread, which issues every op. */
  setThreads(threads: number): number {
    if (!Number.isInteger(threads) || threads < 1) throw new BackendError(`libtorch: threads must be a positive integer, found ${threads}`);
    return this.native.setThreads(threads);
  }

  threads(): number {
    return this.native.getThreads();
  }

  /**
   * bf16 autocast on or off (issue 17; src/backends/precision.ts): the addon's convolution and matmul
   * kernels then compute in bf16 and return float32. The caller checks that the CPU has native bf16.
   */
  setPrecision(precision: Precision): void {
    this.native.setAutocast(precision === 'bf16');
  }

  precision(): Precision {
    return this.native.getAutocast() ? 'bf16' : 'fp32';
  }

  /**
   * How bf16 convolutions run (docs/backends.md#bf16-autocast): `onednn` — bf16 operands, float32 results
   * straight from oneDNN — or `aten` — ATen's bf16 results widened to float32 (an addon built without
   * oneDNN's headers, or DISTILLERY_BF16_DNNL=0); with the oneDNN implementations chosen so far.
   */
  bf16Convolutions(): { path: 'onednn' | 'aten'; implementations: string } {
    return this.native.bf16Convolutions();
  }

  // ----- storage -------------------------------------------------------------------------------

  override write(values: BackendValues, shape: number[], dtype: DataType): DataId {
    const dataId = {};
    this.setEntry(dataId, this.entryFor(values, shape, dtype, 1));
    return dataId;
  }

  override move(dataId: DataId, values: BackendValues, shape: number[], dtype: DataType, refCount: number): void {
    this.setEntry(dataId, this.entryFor(values, shape, dtype, refCount));
  }

  private setEntry(dataId: DataId, entry: TensorEntry): void {
    const keyed = dataId as Keyed;
    if (keyed[this.key] === undefined) this.entries++;
    keyed[this.key] = entry;
  }

  /** The entry of a DataId, moving its data here from another backend first when needed. */
  private entry(dataId: DataId): TensorEntry {
    let e = (dataId as Keyed)[this.key];
    if (e === undefined) {
      engine().moveData(this, dataId);
      e = (dataId as Keyed)[this.key];
      if (e === undefined) throw new BackendError('libtorch backend: tensor data could not be moved to this backend');
    }
    return e;
  }

  private entryFor(values: BackendValues, shape: number[], dtype: DataType, refCount: number): TensorEntry {
    if (dtype === 'string') return { handle: -1, dtype, shape, refCount, strings: values };
    if (dtype === 'complex64') throw new BackendError('libtorch backend: complex64 tensors are not supported');
    const size = util.sizeFromShape(shape);
    const data = values ?? (dtype === 'float32' ? new Float32Array(size) : dtype === 'int32' ? new Int32Array(size) : new Uint8Array(size));
    const handle = this.native.fromData(data as ArrayBufferView, shape, DTYPE_CODE[dtype]);
    return { handle, dtype, shape, refCount };
  }

  override readSync(dataId: DataId): BackendValues {
    const entry = this.entry(dataId);
    if (entry.handle < 0) return entry.strings as BackendValues;
    return this.native.toData(entry.handle);
  }

  override async read(dataId: DataId): Promise<BackendValues> {
    return this.readSync(dataId);
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const keyed = dataId as Keyed;
    const entry = keyed[this.key];
    if (entry === undefined) return true;
    entry.refCount--;
    if (!force && entry.refCount > 0) return false;
    if (entry.handle >= 0) this.native.free(entry.handle);
    keyed[this.key] = undefined;
    this.entries--;
    return true;
  }

  override refCount(dataId: DataId): number {
    return (dataId as Keyed)[this.key]?.refCount ?? 0;
  }

  override incRef(dataId: DataId): void {
    this.entry(dataId).refCount++;
  }

  override numDataIds(): number {
    return this.entries;
  }

  /** Live native tensors, and the bytes of freed tensor memory the addon keeps for reuse. */
  override memory(): { unreliable: boolean; reasons?: string[]; numNativeTensors: number; cachedBytes: number } {
    return { unreliable: false, numNativeTensors: this.native.live(), cachedBytes: this.native.cachedBytes() };
  }

  override timerAvailable(): boolean {
    return true;
  }

  /** Wall time of `f`; the profile's extra info is the part of it spent inside the addon (ATen work). */
  override async time(f: () => void): Promise<BackendTimingInfo> {
    const native0 = this.native.nativeMs();
    const start = performance.now();
    f();
    const kernelMs = performance.now() - start;
    const nativeMs = this.native.nativeMs() - native0;
    return { kernelMs, getExtraProfileInfo: () => `native ${nativeMs}` };
  }

  override floatPrecision(): 32 {
    return 32;
  }

  override dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.native.freeAll();
    // The autocast switch lives in the addon (process-wide); a later instance starts in float32.
    this.native.setAutocast(false);
  }

  // ----- helpers for kernels -------------------------------------------------------------------

  /** The native handle of a tensor (moving it here from another backend if needed). */
  handle(t: TensorInfo): number {
    const entry = this.entry(t.dataId);
    if (entry.handle < 0) throw new BackendError(`libtorch backend: kernels do not compute on ${entry.dtype} tensors`);
    return entry.handle;
  }

  /** The dtype and shape the addon reported for its last output. */
  lastShape(): number[] {
    const m = this.meta;
    const rank = m[1];
    const shape = new Array<number>(rank);
    for (let i = 0; i < rank; i++) shape[i] = m[2 + i];
    return shape;
  }

  /**
   * Wraps a native handle just returned by the addon as a tfjs tensor. When `dtype` is given and the
   * native result has another type, it is cast (and the uncast handle freed).
   */
  output(handle: number, dtype?: DataType): TensorInfo {
    let h = handle;
    let nativeDtype: NativeDType = DTYPE_OF_CODE[this.meta[0]];
    if (dtype !== undefined && dtype !== nativeDtype) {
      if (dtype === 'string' || dtype === 'complex64') throw new BackendError(`libtorch backend: cannot produce ${dtype} tensors`);
      h = this.native.cast(handle, DTYPE_CODE[dtype]);
      this.native.free(handle);
      nativeDtype = dtype;
    }
    const shape = this.lastShape();
    const dataId = {};
    this.setEntry(dataId, { handle: h, dtype: nativeDtype, shape, refCount: 1 });
    return { dataId, shape, dtype: nativeDtype };
  }

  /** Wraps several handles (after a multi-output primitive). */
  outputs(handles: number[], dtype?: DataType): TensorInfo[] {
    return handles.map((h) => {
      this.native.describe(h);
      return this.output(h, dtype);
    });
  }

  unaryCode(name: string): number {
    const code = this.unaryCodes.get(name);
    if (code === undefined) throw new BackendError(`libtorch addon has no unary op "${name}" (rebuild it: npm run build:native)`);
    return code;
  }

  binaryCode(name: string): number {
    const code = this.binaryCodes.get(name);
    if (code === undefined) throw new BackendError(`libtorch addon has no binary op "${name}" (rebuild it: npm run build:native)`);
    return code;
  }

  reduceCode(name: string): number {
    const code = this.reduceCodes.get(name);
    if (code === undefined) throw new BackendError(`libtorch addon has no reduction "${name}" (rebuild it: npm run build:native)`);
    return code;
  }
}
