/**
 * Node-type definitions and their config schemas: the structural check done at registration, the one
 * compilation of each config schema, and validation of a config (defaults filled, unknown keys refused).
 */
import type { Problem } from '../errors';
import { TENSOR_DTYPES, type JsonSchema, type NodeTypeShape, type PortShape } from './json-schema';
import { sharedAjv, type ValidateFunction } from './ajv';
import { ajvErrorsToProblems, joinPointer, pointerToPath, type PointerLocator } from './problems';

export const NODE_TYPE_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
export const PORT_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_]*$/;
export const PORT_TYPE_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Walks `properties` (and array `items`) of an object schema, checking descriptions and closedness. */
function checkSchemaProperties(schema: Record<string, unknown>, where: string, out: string[]): void {
  const props = schema.properties;
  if (props === undefined) return;
  if (!isPlainObject(props)) {
    out.push(`${where}: "properties" must be an object`);
    return;
  }
  if (where !== 'configSchema' && schema.additionalProperties !== false) {
    out.push(`${where}: an object with "properties" must set "additionalProperties": false (unknown keys are errors)`);
  }
  for (const [name, sub] of Object.entries(props)) {
    const at = `${where}.properties.${name}`;
    if (!isPlainObject(sub)) {
      out.push(`${at}: must be a schema object`);
      continue;
    }
    if (typeof sub.description !== 'string' || sub.description.trim() === '') {
      out.push(`${at}: needs a "description" (descriptions are the reference docs)`);
    }
    checkSchemaProperties(sub, at, out);
    if (isPlainObject(sub.items)) checkSchemaProperties(sub.items, `${at}.items`, out);
  }
}

function checkPorts(ports: unknown, side: 'inputs' | 'outputs', out: string[]): void {
  if (!isPlainObject(ports)) {
    out.push(`${side}: must be an object of port name to port spec`);
    return;
  }
  for (const [name, spec] of Object.entries(ports)) {
    const at = `${side}.${name}`;
    if (!PORT_NAME_PATTERN.test(name)) out.push(`${at}: port name must match ${PORT_NAME_PATTERN.source}`);
    if (!isPlainObject(spec)) {
      out.push(`${at}: must be a port spec object { kind, type, description }`);
      continue;
    }
    const s = spec as Partial<PortShape> & Record<string, unknown>;
    if (s.kind !== 'resource' && s.kind !== 'stream') out.push(`${at}.kind: must be "resource" or "stream" (found ${JSON.stringify(s.kind)})`);
    if (typeof s.type !== 'string' || !(s.type === 'any' || PORT_TYPE_PATTERN.test(s.type))) {
      out.push(`${at}.type: must be a kebab-case data type name or "any" (found ${JSON.stringify(s.type)})`);
    }
    if (typeof s.description !== 'string' || s.description.trim() === '') out.push(`${at}.description: must be a non-empty string`);
    if (s.optional !== undefined && typeof s.optional !== 'boolean') out.push(`${at}.optional: must be a boolean`);
    if (side === 'outputs' && s.optional !== undefined) out.push(`${at}.optional: outputs are never required to be connected; remove "optional"`);
    if (s.dtype !== undefined && !(TENSOR_DTYPES as readonly unknown[]).includes(s.dtype)) {
      out.push(`${at}.dtype: must be one of ${TENSOR_DTYPES.map((d) => `"${d}"`).join(', ')} (found ${JSON.stringify(s.dtype)})`);
    }
    if (s.rank !== undefined && !(Number.isInteger(s.rank) && (s.rank as number) >= 0)) out.push(`${at}.rank: must be a non-negative integer (found ${JSON.stringify(s.rank)})`);
    if (s.shape !== undefined) {
      if (!Array.isArray(s.shape) || !s.shape.every((d) => d === null || (Number.isInteger(d) && (d as number) >= 1))) {
        out.push(`${at}.shape: must be an array of positive integers or null (unknown) (found ${JSON.stringify(s.shape)})`);
      } else if (s.rank === undefined) {
        out.push(`${at}.shape: needs rank (${s.shape.length})`);
      } else if (s.shape.length !== s.rank) {
        out.push(`${at}.shape: has ${s.shape.length} dimensions but rank is ${s.rank}`);
      }
    }
    for (const key of Object.keys(s)) {
      if (!['kind', 'type', 'description', 'optional', 'dtype', 'rank', 'shape'].includes(key)) out.push(`${at}: unknown key "${key}"`);
    }
  }
}

/**
 * Structural problems in a node-type definition, as `<field>: <what is wrong>` lines (empty when fine).
 * Does not compile the config schema; `compileConfigSchema` does.
 */
export function checkNodeTypeDefinition(def: unknown): string[] {
  const out: string[] = [];
  if (!isPlainObject(def)) return ['the definition must be an object'];
  const d = def as Partial<NodeTypeShape> & { create?: unknown };
  if (typeof d.type !== 'string' || !NODE_TYPE_PATTERN.test(d.type)) {
    out.push(`type: must be a kebab-case name like "ddim-sampler" (found ${JSON.stringify(d.type)})`);
  }
  if (typeof d.description !== 'string' || d.description.trim() === '') out.push('description: must be a non-empty string');
  const schema = d.configSchema;
  if (!isPlainObject(schema)) {
    out.push('configSchema: must be a JSON Schema object');
  } else {
    if (schema.type !== 'object') out.push(`configSchema.type: must be "object" (found ${JSON.stringify(schema.type)})`);
    if (schema.additionalProperties !== false) out.push('configSchema.additionalProperties: must be false (unknown config keys are errors)');
    if (schema.properties === undefined) out.push('configSchema.properties: must be present (use {} for a node without settings)');
    checkSchemaProperties(schema, 'configSchema', out);
  }
  checkPorts(d.inputs, 'inputs', out);
  checkPorts(d.outputs, 'outputs', out);
  if (d.check !== undefined && typeof d.check !== 'function') out.push('check: must be a function when present');
  if (typeof d.create !== 'function') out.push('create: must be a function');
  return out;
}

const compiled = new WeakMap<object, ValidateFunction>();

/** A copy of a config schema ready for ajv: `$schema`/`$id` are dropped (all configs are draft 2020-12). */
export function normalizeConfigSchema(schema: JsonSchema): JsonSchema {
  const { $schema: _schema, $id: _id, ...rest } = schema;
  return rest;
}

/**
 * Compiles a node type's config schema (once per schema object). Throws ajv's compile error for an invalid
 * schema; `NodeRegistry.register` turns that into a RegistryError naming the type.
 */
export function compileConfigSchema(def: Pick<NodeTypeShape, 'configSchema'>): ValidateFunction {
  const hit = compiled.get(def.configSchema);
  if (hit) return hit;
  const validate = sharedAjv(true).compile(normalizeConfigSchema(def.configSchema));
  compiled.set(def.configSchema, validate);
  return validate;
}

/**
 * Problems with a schema's defaults: validates the all-defaults config and keeps every error except
 * missing required properties (a required property has no default by design).
 */
export function checkConfigDefaults(def: Pick<NodeTypeShape, 'configSchema'>): string[] {
  const validate = compileConfigSchema(def);
  const config: Record<string, unknown> = {};
  if (validate(config)) return [];
  return ajvErrorsToProblems((validate.errors ?? []).filter((e) => e.keyword !== 'required'), '')
    .map((p) => `configSchema default for ${p.path || '(root)'}: ${p.message}${p.found ? ` (found ${p.found})` : ''}`);
}

export interface ConfigValidation {
  /** A deep copy of the input with schema defaults filled in. */
  config: Record<string, unknown>;
  /** Schema problems, then (only when the schema passed) the type's `check` problems. */
  problems: Problem[];
}

/**
 * Validates a node config: the type's JSON Schema (every error, defaults filled, unknown keys refused),
 * then its cross-field `check`. Problem paths are `basePointer`-prefixed (default: relative to the config);
 * `locate` adds file positions.
 */
export function validateNodeConfig(
  def: Pick<NodeTypeShape, 'type' | 'configSchema' | 'check'>, config: unknown, options: { basePointer?: string; locate?: PointerLocator } = {},
): ConfigValidation {
  const base = options.basePointer ?? '';
  const copy = (config === undefined ? {} : structuredClone(config)) as Record<string, unknown>;
  const validate = compileConfigSchema(def);
  if (!validate(copy)) {
    return { config: copy, problems: ajvErrorsToProblems(validate.errors, base, options.locate) };
  }
  if (!def.check) return { config: copy, problems: [] };
  let checked: Problem[];
  try {
    checked = def.check(structuredClone(copy));
  } catch (err) {
    const pos = options.locate?.(base, 'value');
    return {
      config: copy,
      problems: [{
        ...(pos?.position ? { position: pos.position } : {}),
        path: pointerToPath(base),
        message: `the "${def.type}" check failed: ${err instanceof Error ? err.message : String(err)}`,
        hint: 'this is a bug in the node type\'s check function',
      }],
    };
  }
  const problems = checked.map((p) => {
    const relPointer = p.path ? joinPointer('', ...p.path.split('.')) : '';
    const pointer = base + relPointer;
    const where = options.locate?.(pointer, 'value') ?? {};
    const out: Problem = { ...p, path: [pointerToPath(base), p.path].filter(Boolean).join('.') };
    // A problem the check located itself is in another file the config names (a schedule file): it keeps
    // that position, and says where the graph names the file.
    const named = p.position && where.position
      ? `named at ${where.position.file}:${where.position.line}:${where.position.column}` : undefined;
    if (!p.position && where.position) out.position = where.position;
    else if (!p.position) delete out.position;
    if (where.note || named) out.hint = [p.hint, named, where.note].filter(Boolean).join('; ');
    return out;
  });
  return { config: copy, problems };
}
