/** Where the hand-written schemas live, found the same way from `src/` (tsx) and from `dist/src/` (built). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DistilleryError } from '../errors';
import type { JsonSchema } from './json-schema';

export const GRAPH_SCHEMA_FILE = 'graph.schema.json';
export const DEFINITIONS_FILE = 'definitions.json';
export const FULL_SCHEMA_FILE = 'graph.full.schema.json';

let cachedDir: string | undefined;

/** The package's `schemas/` folder (the nearest ancestor folder holding `schemas/graph.schema.json`). */
export function schemasDir(): string {
  if (cachedDir) return cachedDir;
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, 'schemas');
    if (fs.existsSync(path.join(candidate, GRAPH_SCHEMA_FILE))) return (cachedDir = candidate);
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new DistilleryError('SCHEMA_FILES', `cannot find schemas/${GRAPH_SCHEMA_FILE} above ${__dirname}`);
    }
    dir = parent;
  }
}

const cache = new Map<string, JsonSchema>();

function readSchema(name: string): JsonSchema {
  const hit = cache.get(name);
  if (hit) return hit;
  const file = path.join(schemasDir(), name);
  const schema = JSON.parse(fs.readFileSync(file, 'utf8')) as JsonSchema;
  cache.set(name, schema);
  return schema;
}

/** The hand-written schema of a graph file (structure only; node configs are checked per type). */
export function graphFileSchema(): JsonSchema {
  return readSchema(GRAPH_SCHEMA_FILE);
}

/** Shared definitions (`node-id`, `port-reference`, …) referenced by the graph-file schema. */
export function definitionsSchema(): JsonSchema {
  return readSchema(DEFINITIONS_FILE);
}

/** Default location of the generated full schema: `schemas/graph.full.schema.json`. */
export function defaultFullSchemaPath(): string {
  return path.join(schemasDir(), FULL_SCHEMA_FILE);
}
