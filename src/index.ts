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
