/**
 * Node config schemas are written once, with TypeBox: one declaration gives the JSON Schema that ajv
 * validates (and that the generated `schema.json`, the README config table and `distillery nodes` show)
 * and, through `Static`, the TypeScript type of the resolved config.
 *
 * One convention on top of TypeBox: a key with a `default` is declared without `Type.Optional` — it is
 * always present in the resolved config (the runtime fills schema defaults), so `Static` types it as
 * present — and `Obj`/`NodeConfig` leave it out of `required` (a user may omit it). Keys without a default
 * are `Type.Optional` (may be absent) or plain (required).
 *
 * Pure data: imports no TF.js and no RxJS.
 */
import { Type, type Static, type TObject, type TOptional, type TProperties, type TSchema, type TUnsafe, type ObjectOptions, type SchemaOptions } from '@sinclair/typebox';

export { Type, type Static, type TObject, type TOptional, type TProperties, type TSchema, type TUnsafe };

/** The JSON Schema dialect of every node config. */
export const CONFIG_SCHEMA_DRAFT = 'https://json-schema.org/draft/2020-12/schema';

function withoutDefaultedRequired<T>(schema: T): T {
  const s = schema as unknown as { required?: string[]; properties: Record<string, object> };
  const required = (s.required ?? []).filter((key) => !('default' in s.properties[key]));
  if (required.length) s.required = required;
  else delete s.required;
  return schema;
}

/** An object schema with `additionalProperties: false` whose keys with a default are not required. */
export function Obj<P extends TProperties>(properties: P, options: ObjectOptions = {}): TObject<P> {
  return withoutDefaultedRequired(Type.Object(properties, { additionalProperties: false, ...options }));
}

/** A node type's config schema: `$schema`, `title` (`<type> node config`), description, closed object. */
export function NodeConfig<P extends TProperties>(title: string, description: string | undefined, properties: P, options: ObjectOptions = {}): TObject<P> {
  return Obj(properties, { $schema: CONFIG_SCHEMA_DRAFT, title, ...(description !== undefined ? { description } : {}), ...options });
}

/** `{ enum: values }`: TypeBox's own unions render as anyOf; this keeps the plain JSON Schema enum. */
export function Enum<const V extends readonly (string | number | boolean | null)[]>(values: V, options: SchemaOptions = {}): TUnsafe<V[number]> {
  return Type.Unsafe<V[number]>({ enum: [...values], ...options });
}

/** `{ const: value }`. */
export function Const<const V extends string | number | boolean | null>(value: V, options: SchemaOptions = {}): TUnsafe<V> {
  return Type.Unsafe<V>({ const: value, ...options });
}

/** A JSON Schema written as plain data (a model's own config schema, `type: [..]` lists) typed as `T`. */
export function Json<T>(schema: Record<string, unknown>, options: SchemaOptions = {}): TUnsafe<T> {
  return Type.Unsafe<T>({ ...schema, ...options });
}

/** Renders a config schema as the checked-in `schema.json` text: plain JSON, keys in reading order. */
export function renderConfigSchema(schema: TSchema | Record<string, unknown>): string {
  return JSON.stringify(readingOrder(schema), null, 2) + '\n';
}

const HEAD = ['$schema', '$id', 'title', 'description'];

/** `type` first (after the root's $schema, title, description), `properties` / `items` last. */
function readingOrder(value: unknown, root = true): unknown {
  if (Array.isArray(value)) return value.map((v) => readingOrder(v, false));
  if (typeof value !== 'object' || value === null) return value;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  const head = root ? HEAD.filter((k) => k in obj) : [];
  const tail = ['required', 'properties', 'items'].filter((k) => k in obj && typeof obj[k] === 'object');
  const first = 'type' in obj ? ['type'] : [];
  const middle = keys.filter((k) => !head.includes(k) && !tail.includes(k) && !first.includes(k));
  const out: Record<string, unknown> = {};
  for (const k of [...head, ...first, ...middle, ...tail]) {
    out[k] = k === 'properties' ? Object.fromEntries(Object.entries(obj[k] as object).map(([p, s]) => [p, readingOrder(s, false)]))
      : k === 'default' || k === 'const' || k === 'enum' || k === 'required' ? obj[k] : readingOrder(obj[k], false);
  }
  return out;
}
