/**
 * Test helpers: a pickle emitter and a writer of torch.save-format zip checkpoints, so that tests can
 * build checkpoints (hostile ones included) without Python. The layout follows what torch.save writes:
 * `<prefix>/data.pkl` (protocol 2), `<prefix>/data/<key>` storages stored uncompressed, `<prefix>/version`.
 */
import * as fs from 'node:fs';

/** Emits pickle opcodes. */
export class PickleEmitter {
  private readonly chunks: number[] = [];

  raw(...bytes: number[]): this {
    this.chunks.push(...bytes);
    return this;
  }
  op(ch: string): this {
    return this.raw(ch.charCodeAt(0));
  }
  proto(n = 2): this {
    return this.raw(0x80, n);
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    this.op('X');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return this.raw(...len, ...b);
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.raw(0x4b, n);
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    return this.raw(0x4a, ...b);
  }
  global(module: string, name: string): this {
    return this.raw(0x63, ...Buffer.from(`${module}\n${name}\n`, 'latin1'));
  }
  tupleOf(items: Array<(e: this) => void>): this {
    this.op('(');
    for (const it of items) it(this);
    return this.op('t');
  }
  intTuple(xs: number[]): this {
    return this.tupleOf(xs.map((x) => (e: this) => void e.int(x)));
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

export interface FakeTensor {
  /** Storage element type name, e.g. FloatStorage. */
  storage: string;
  /** Storage key (zip entry data/<key>); tensors may share one. */
  key: string;
  shape: number[];
  stride?: number[];
  offset?: number;
  parameter?: boolean;
}

function contiguousStride(shape: number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/** Emits `_rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())`, wrapped in `_rebuild_parameter` if asked. */
export function emitTensor(e: PickleEmitter, t: FakeTensor, storageNumel: number): void {
  if (t.parameter) e.global('torch._utils', '_rebuild_parameter').op('(');
  e.global('torch._utils', '_rebuild_tensor_v2').op('(');
  e.op('(').str('storage').global('torch', t.storage).str(t.key).str('cpu').int(storageNumel).op('t').op('Q');
  e.int(t.offset ?? 0).intTuple(t.shape).intTuple(t.stride ?? contiguousStride(t.shape));
  e.raw(0x89).global('collections', 'OrderedDict').raw(0x29).op('R');
  e.op('t').op('R');
  if (t.parameter) e.raw(0x88).global('collections', 'OrderedDict').raw(0x29).op('R').op('t').op('R');
}

/**
 * The pickle of `{'state_dict': OrderedDict(name → tensor), 'global_step': step, ...extra}` as torch.save
 * (protocol 2) writes it. `extra` emitters add more top-level items (key then value).
 */
export function stateDictPickle(tensors: Array<[string, FakeTensor]>, storageNumel: Map<string, number>, step = 7,
  extra: Array<(e: PickleEmitter) => void> = []): Uint8Array {
  const e = new PickleEmitter().proto(2).op('}').op('(');
  e.str('state_dict').global('collections', 'OrderedDict').raw(0x29).op('R').op('(');
  for (const [name, t] of tensors) {
    e.str(name);
    emitTensor(e, t, storageNumel.get(t.key) as number);
  }
  e.op('u');
  e.str('global_step').int(step);
  for (const x of extra) x(e);
  return e.op('u').op('.').bytes();
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(b: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * Writes a stored (uncompressed) zip, streaming each entry's bytes from `produce` so that a large file
 * never sits in memory. Sizes must stay below 4 GiB per entry and in total (no zip64).
 */
export async function writeStoredZip(file: string, entries: Array<{ name: string; size: number; produce: () => Uint8Array | Iterable<Uint8Array> }>): Promise<void> {
  const fh = await fs.promises.open(file, 'w');
  const central: Buffer[] = [];
  let offset = 0;
  try {
    for (const entry of entries) {
      const name = Buffer.from(entry.name, 'utf8');
      const local = Buffer.alloc(30);
      local.writeUInt32LE(0x04034b50, 0);
      local.writeUInt16LE(20, 4);
      local.writeUInt16LE(0x0008, 6); // sizes and CRC follow in a data descriptor
      local.writeUInt16LE(0, 8);
      local.writeUInt16LE(name.length, 26);
      await fh.write(Buffer.concat([local, name]));
      const headerOffset = offset;
      offset += 30 + name.length;
      let crc = 0;
      let size = 0;
      const produced = entry.produce();
      const parts = produced instanceof Uint8Array ? [produced] : produced;
      for (const part of parts) {
        crc = crc32(part, crc);
        size += part.length;
        await fh.write(part);
      }
      if (size !== entry.size) throw new Error(`entry ${entry.name}: produced ${size} bytes, declared ${entry.size}`);
      const desc = Buffer.alloc(16);
      desc.writeUInt32LE(0x08074b50, 0);
      desc.writeUInt32LE(crc, 4);
      desc.writeUInt32LE(size, 8);
      desc.writeUInt32LE(size, 12);
      await fh.write(desc);
      offset += size + 16;
      const c = Buffer.alloc(46);
      c.writeUInt32LE(0x02014b50, 0);
      c.writeUInt16LE(20, 4);
      c.writeUInt16LE(20, 6);
      c.writeUInt16LE(0x0008, 8);
      c.writeUInt32LE(crc, 16);
      c.writeUInt32LE(size, 20);
      c.writeUInt32LE(size, 24);
      c.writeUInt16LE(name.length, 28);
      c.writeUInt32LE(headerOffset, 42);
      central.push(Buffer.concat([c, name]));
    }
    const cd = Buffer.concat(central);
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(entries.length, 8);
    end.writeUInt16LE(entries.length, 10);
    end.writeUInt32LE(cd.length, 12);
    end.writeUInt32LE(offset, 16);
    await fh.write(Buffer.concat([cd, end]));
  } finally {
    await fh.close();
  }
}

/** Writes a torch.save-style checkpoint: a given pickle and storages by key. */
export async function writeTorchZip(file: string, pickle: Uint8Array, storages: Map<string, Uint8Array>, prefix = 'archive'): Promise<void> {
  await writeStoredZip(file, [
    { name: `${prefix}/data.pkl`, size: pickle.length, produce: () => pickle },
    ...[...storages].map(([key, b]) => ({ name: `${prefix}/data/${key}`, size: b.length, produce: () => b })),
    { name: `${prefix}/version`, size: 2, produce: () => Buffer.from('3\n') },
  ]);
}
