/**
 * TFRecord framing, the container of TensorBoard event files. Each record is
 *
 *   uint64 length (little-endian) · uint32 masked CRC32C of those 8 bytes · data · uint32 masked CRC32C of data
 *
 * where the mask is TensorFlow's: rotate the CRC right by 15 bits and add 0xa282ead8 (mod 2³²), so that a
 * CRC of data that itself holds CRCs does not degenerate. CRC32C (Castagnoli) comes from @aws-crypto/crc32c.
 */
import { crc32c } from '@aws-crypto/crc32c';

const MASK_DELTA = 0xa282ead8;

/** TensorFlow's masked CRC32C of `data`. */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(data) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

/** One record, framed: 16 bytes of header and footer around `data`. */
export function tfrecord(data: Uint8Array): Buffer {
  const out = Buffer.alloc(data.length + 16);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}
