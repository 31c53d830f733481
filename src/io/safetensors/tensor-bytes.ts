/** Decoding and encoding of one tensor's bytes (little-endian on disk). */
import { FileFormatError } from '../../errors';
import { shapeSize, type ReadOptions, type SafetensorsDtype, type SafetensorsEntry, type TensorArray } from './header';
import { float16Table, float32BitsToFloat16Bits, float32ToBfloat16Bits } from './half';

export function decode(file: string, entry: SafetensorsEntry, bytes: Uint8Array, options: ReadOptions): TensorArray {
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

export type NumericArray = ArrayLike<number>;

export function encode(dtype: SafetensorsDtype, data: NumericArray, name: string, file: string): Uint8Array {
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

