/** The one way this project builds an ajv instance: draft 2020-12, every error, defaults filled, strict. */
import Ajv2020 from 'ajv/dist/2020';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

export type { ErrorObject, ValidateFunction };
export type Ajv = Ajv2020;

export interface CreateAjvOptions {
  /** Fill `default`s into the validated data (true for node configs). */
  useDefaults?: boolean;
}

/**
 * allErrors: report every problem, not the first. verbose: errors carry the failing data and the parent
 * schema, which the problem messages use (found value, "did you mean" among the declared properties).
 * strict: unknown keywords and ill-typed schemas are compile errors rather than silent no-ops.
 */
export function createAjv(options: CreateAjvOptions = {}): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: true,
    verbose: true,
    useDefaults: options.useDefaults ?? false,
    strict: true,
    allowUnionTypes: true,
  });
  addFormats(ajv);
  return ajv;
}

const shared = new Map<boolean, Ajv2020>();

/**
 * The project's shared ajv instances (one that fills defaults, one that leaves the data untouched): graph
 * files, node configs and every other config or state (src/schema/check.ts) compile into these.
 */
export function sharedAjv(useDefaults: boolean): Ajv2020 {
  let ajv = shared.get(useDefaults);
  if (!ajv) {
    ajv = createAjv({ useDefaults });
    shared.set(useDefaults, ajv);
  }
  return ajv;
}
