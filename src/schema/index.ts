/**
 * Schemas: the graph-file schema, node config validation, the shared check of every other config or state
 * (`checkSchema`/`applySchema`), ajv error mapping, did-you-mean, the generated full schema.
 */
export { createAjv, type CreateAjvOptions } from './ajv';
export { schemasDir, graphFileSchema, definitionsSchema, defaultFullSchemaPath, GRAPH_SCHEMA_FILE, DEFINITIONS_FILE, FULL_SCHEMA_FILE } from './files';
export {
  checkNodeTypeDefinition, compileConfigSchema, checkConfigDefaults, validateNodeConfig, normalizeConfigSchema,
  type ConfigValidation,
} from './config';
export {
  ajvErrorsToProblems, pointerToPath, joinPointer, describeValue, type PointerLocator, type PointerLocation,
} from './problems';
export {
  sharedAjv, compileSchema, checkSchema, applySchema, throwIfProblems, prefixProblems, locateProblems,
  type SchemaCheck, type SchemaCheckOptions,
} from './check';
export { editDistance, closestMatch, suggestionHint } from './suggest';
export { buildGraphJsonSchema, renderGraphJsonSchema, writeGraphJsonSchema, isGraphJsonSchemaCurrent } from './full-schema';
