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
 *
 * Files: header.ts (dtypes, types, header validation), half.ts (float16 / bfloat16), tensor-bytes.ts (one
 * tensor's bytes), reader.ts (SafetensorsReader, whole-file reads), tfjs.ts (TF.js tensors), writer.ts
 * (atomic writes through src/io/atomic-write.ts).
 */
export {
  SAFETENSORS_DTYPES, SUPPORTED_DTYPES, DEFAULT_MAX_HEADER_BYTES, parseSafetensorsHeader, shapeSize,
  type SafetensorsDtypeName, type SafetensorsDtype, type TensorArray, type SafetensorsTensor, type SafetensorsFile,
  type SafetensorsEntry, type SafetensorsHeader, type ReadOptions,
} from './header';
export { float16BitsToFloat32, float32ToFloat16Bits, bfloat16BitsToFloat32, float32ToBfloat16Bits } from './half';
export { SafetensorsReader, readSafetensorsHeader, readSafetensors, decodeSafetensors, loadSafetensorsAsTf } from './reader';
export { toTfTensor } from './tfjs';
export {
  encodeSafetensors, writeSafetensors, type SafetensorsWriteEntry, type SafetensorsLazyEntry, type WriteOptions,
} from './writer';
export { tempPathFor } from '../atomic-write';
