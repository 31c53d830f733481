/**
 * The shapes the schema layer works on. Node-type definitions (src/registry/types.ts) are richer; these
 * are the parts of them that config checks and the generated graph schema read, declared here so that
 * src/schema imports nothing of src/registry (the registry is built on the schema layer, not the reverse).
 */
import type { Problem } from '../errors';

/** A JSON Schema (draft 2020-12 / ajv) object. Descriptions are the reference docs. */
export type JsonSchema = Record<string, unknown>;

/** Element type of the tensor a port carries (TF.js dtype names). */
export type TensorDType = 'float32' | 'int32' | 'bool';
export const TENSOR_DTYPES: readonly TensorDType[] = ['float32', 'int32', 'bool'];

/** What the schema layer reads of a port spec (src/registry/types.ts `PortSpec`). */
export interface PortShape {
  kind: 'resource' | 'stream';
  type: string;
  description: string;
  optional?: boolean;
  dtype?: TensorDType;
  rank?: number;
  shape?: ReadonlyArray<number | null>;
}

/**
 * What the schema layer reads of a node-type definition (src/registry/types.ts `NodeTypeDefinition`):
 * its name, description, config schema, ports and cross-field check.
 */
export interface NodeTypeShape {
  type: string;
  description: string;
  configSchema: JsonSchema;
  inputs: Record<string, PortShape>;
  outputs?: Record<string, PortShape>;
  // A method, so that a definition whose check takes its own config type is accepted (bivariant).
  check?(config: any): Problem[];
}
