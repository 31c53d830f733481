/**
 * Distillery's public API (`import { … } from 'distillery'`). Each layer adds its exports here.
 */
export * from './errors';
export * from './registry';
export * from './graph';
export {
  buildGraphJsonSchema, writeGraphJsonSchema, isGraphJsonSchemaCurrent, renderGraphJsonSchema, validateNodeConfig,
  defaultFullSchemaPath, schemasDir,
} from './schema';
export {
  checkSchema, applySchema, locateProblems, prefixProblems, type SchemaCheck, type SchemaCheckOptions,
} from './schema/check';
/** Writing a node type's config schema once (TypeBox): the JSON Schema and, via Static, its config type. */
export { Type, NodeConfig, Obj, Enum, Const, Json, renderConfigSchema, CONFIG_SCHEMA_DRAFT, type Static, type TObject, type TSchema } from './schema/typebox';
export * from './training';
export * from './diffusion';
export * from './models';
export {
  readSafetensors, readSafetensorsHeader, loadSafetensorsAsTf, writeSafetensors, encodeSafetensors, decodeSafetensors,
  SafetensorsReader, toTfTensor, DEFAULT_MAX_HEADER_BYTES,
  type SafetensorsFile, type SafetensorsTensor, type SafetensorsWriteEntry, type SafetensorsDtype, type ReadOptions as SafetensorsReadOptions,
} from './io/safetensors';
/** Atomic file writes (temp file, fsync, rename, fsync of the folder): what every run output goes through. */
export { writeFileAtomic, writeFileAtomicSync, writeJsonAtomic, writeJsonAtomicSync } from './io/atomic-write';
export * from './runtime';
export { createRegistry, BUILTIN_SOURCE } from '../nodes/builtin-registry';
export {
  selectBackend, activeBackend, shutdownBackend, defaultThreads, AUTO_ORDER, BACKEND_CHOICES,
  type BackendName, type BackendInfo, type BackendOptions, type BackendProvider,
} from './backends';
export type { Batch } from './data/batch';
