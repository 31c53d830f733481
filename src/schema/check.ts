/**
 * The one validation layer for everything that is not a graph file: schedule configs, training options,
 * model configs, LDM YAML, checkpoint state. Each is a JSON Schema compiled into the shared ajv instances
 * that graph files and node configs use (`sharedAjv`: every error, strict), mapped to the same Problem
 * (path, expected, found, hint with "did you mean") as graph files, and located in its file when a
 * locator is given. Cross-field rules come after the schema, as more Problems of the same shape, and
 * every problem is reported at once.
 */
import { ConfigError, type Problem } from '../errors';
import { sharedAjv, type ValidateFunction } from './ajv';
import { ajvErrorsToProblems, joinPointer, type PointerLocator } from './problems';

export { sharedAjv };

const compiled = new Map<boolean, WeakMap<object, ValidateFunction>>();

export interface SchemaCheckOptions {
  /** Fill `default`s into the returned copy (default true: configs take their defaults from the schema). */
  useDefaults?: boolean;
  /** Where the checked value sits in its document, as a JSON pointer (problem paths are prefixed with it). */
  basePointer?: string;
  /** Maps a JSON pointer to a file position, for values read from a file. */
  locate?: PointerLocator;
}

/**
 * Compiles a schema once per schema object (and per defaults mode). `$schema` and `$id` are dropped:
 * every schema here is draft 2020-12 and ajv refuses a second schema with the same `$id`.
 */
export function compileSchema(schema: object, useDefaults = true): ValidateFunction {
  let cache = compiled.get(useDefaults);
  if (!cache) {
    cache = new WeakMap();
    compiled.set(useDefaults, cache);
  }
  const hit = cache.get(schema);
  if (hit) return hit;
  const { $schema: _schema, $id: _id, ...rest } = schema as Record<string, unknown>;
  const validate = sharedAjv(useDefaults).compile(rest);
  cache.set(schema, validate);
  return validate;
}

export interface SchemaCheck<T> {
  /** A deep copy of the input (defaults filled in when asked); meaningful only when `problems` is empty. */
  value: T;
  problems: Problem[];
}

/**
 * Checks `input` against `schema`, returning every problem (the input itself is never modified). An
 * absent input is checked as `{}`: a config left out is a config with every default.
 */
export function checkSchema<T>(schema: object, input: unknown, options: SchemaCheckOptions = {}): SchemaCheck<T> {
  const validate = compileSchema(schema, options.useDefaults ?? true);
  const copy = input === undefined ? {} : structuredClone(input);
  if (validate(copy)) return { value: copy as T, problems: [] };
  return { value: copy as T, problems: ajvErrorsToProblems(validate.errors, options.basePointer ?? '', options.locate) };
}

/** Throws one ConfigError naming `what` and listing every problem, when there are any. */
export function throwIfProblems(what: string, problems: Problem[]): void {
  if (problems.length) throw new ConfigError(what, problems);
}

/**
 * Validates `input` against `schema` and returns a deep copy with defaults filled in; `what` names the
 * config in the error (e.g. `AdamW options`). Throws ConfigError listing every schema problem.
 */
export function applySchema<T>(what: string, schema: object, input: unknown, options: SchemaCheckOptions = {}): T {
  const { value, problems } = checkSchema<T>(schema, input, options);
  throwIfProblems(what, problems);
  return value;
}

/** `problems` moved under `prefix` (a dotted path), e.g. the problems of a nested object reported at `best.mode`. */
export function prefixProblems(problems: Problem[], prefix: string): Problem[] {
  if (!prefix) return problems;
  return problems.map((p) => ({ ...p, path: p.path ? `${prefix}.${p.path}` : prefix }));
}

/**
 * Adds file positions to problems made by hand (cross-field rules), from their dotted paths: the key for
 * an unknown-key problem is not needed here, so each is located at its value (or nearest written ancestor).
 */
export function locateProblems(problems: Problem[], locate: PointerLocator | undefined): Problem[] {
  if (!locate) return problems;
  return problems.map((p) => {
    if (p.position) return p;
    const where = locate(p.path ? joinPointer('', ...p.path.split('.')) : '', 'value');
    const out: Problem = { ...p };
    if (where.position) out.position = where.position;
    if (where.note) out.hint = [p.hint, where.note].filter(Boolean).join('; ');
    return out;
  });
}
