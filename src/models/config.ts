/**
 * Model configs: JSON Schema first (every error, defaults filled, unknown keys refused), then the
 * model's cross-field checks; both report Problems through one ConfigError.
 */
import { ConfigError, type Problem } from '../errors';
import { createAjv, type Ajv, type ValidateFunction } from '../schema/ajv';
import { ajvErrorsToProblems } from '../schema/problems';

let ajv: Ajv | undefined;
const compiled = new WeakMap<object, ValidateFunction>();

/**
 * Validates `input` against `schema` and returns a deep copy with defaults filled in. `what` names the
 * config in the error (e.g. `UNet config`). Throws ConfigError listing every schema problem.
 */
export function applySchema<T>(what: string, schema: Record<string, unknown>, input: unknown): T {
  let validate = compiled.get(schema);
  if (!validate) {
    ajv ??= createAjv({ useDefaults: true });
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  const copy = input === undefined ? {} : structuredClone(input);
  if (!validate(copy)) throw new ConfigError(what, ajvErrorsToProblems(validate.errors, ''));
  return copy as T;
}

/** Throws ConfigError when `problems` is not empty. */
export function throwIfProblems(what: string, problems: Problem[]): void {
  if (problems.length) throw new ConfigError(what, problems);
}

/**
 * `true` when A and B are assignable both ways and have the same keys (optional ones included). Used as `true satisfies SameShape<A, B>` to fail the build
 * when a model's config input and its on-disk form (src/io/ldm-model-params.ts) drift apart.
 */
export type SameShape<A, B> = [A, keyof A] extends [B, keyof B] ? ([B, keyof B] extends [A, keyof A] ? true : false) : false;
