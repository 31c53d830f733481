/**
 * The run folder's `manifest.json` as it is read back on `--resume`: checked against `runManifestSchema`
 * by the shared validation layer (src/schema/check.ts), every problem at its file:line:col, so a damaged
 * or hand-edited manifest is refused before the resumed run starts rather than carried into the new one.
 */
import * as fs from 'node:fs';
import { FileFormatError } from '../errors';
import { locatePointer, parseSource } from '../graph/source';
import { checkSchema } from '../schema/check';

const STATUS = { enum: ['running', 'completed', 'cancelled', 'failed'], description: 'How the run (or attempt) ended, or "running".' } as const;
const TIME = { type: 'string', description: 'An ISO 8601 time.' } as const;
const ARGV = { type: 'array', items: { type: 'string' }, description: 'The command line.' } as const;

/** The JSON Schema of manifest.json (what runGraph writes; `RunManifest` in src/runtime/run-folder.ts). */
export const runManifestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['graph', 'startedAt', 'status'],
  properties: {
    graph: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      description: 'The graph that ran.',
      properties: {
        name: { type: 'string', description: 'The graph\'s name.' },
        file: { type: 'string', description: 'Its file.' },
        seed: { type: 'number', description: 'Its seed.' },
      },
    },
    distillery: { type: 'string', description: 'The Distillery version.' },
    node: { type: 'string', description: 'The Node.js version.' },
    platform: { type: 'string', description: 'platform-arch.' },
    backend: {
      type: 'object',
      additionalProperties: false,
      description: 'The compute backend.',
      properties: {
        name: { type: 'string', description: 'Backend name.' },
        description: { type: 'string', description: 'What it is.' },
        threads: { type: 'number', description: 'CPU threads.' },
        precision: { enum: ['fp32', 'bf16'], description: 'Compute precision.' },
      },
    },
    argv: ARGV,
    git: {
      type: 'object',
      additionalProperties: false,
      required: ['commit', 'dirty'],
      description: 'The commit of the repository holding the graph file.',
      properties: { commit: { type: 'string', description: 'HEAD.' }, dirty: { type: 'boolean', description: 'Uncommitted changes.' } },
    },
    startedAt: TIME,
    endedAt: TIME,
    status: STATUS,
    error: { type: 'string', description: 'The error that ended the run.' },
    attempts: {
      type: 'array',
      description: 'Earlier attempts of this run folder.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['startedAt', 'status'],
        properties: { startedAt: TIME, endedAt: TIME, status: STATUS, argv: ARGV, error: { type: 'string', description: 'Its error.' } },
      },
    },
    distributed: {
      type: 'object',
      additionalProperties: false,
      required: ['worldSize'],
      description: 'Data-parallel runs: processes and engine.',
      properties: {
        worldSize: { type: 'integer', minimum: 1, description: 'Processes.' },
        backend: { type: 'string', description: 'The collective engine.' },
      },
    },
  },
} as const;

/**
 * Reads and checks a manifest file; a FileFormatError lists every problem with its line:col. Returns the
 * checked value; `readManifest` (run-folder.ts) gives it its type, so that this module needs no import of it.
 */
export function readManifestFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new FileFormatError(file, `cannot read the run manifest: ${(e as Error).message}`, { cause: e });
  }
  const { source, problems: syntax } = parseSource(text, file);
  if (!source) throw new FileFormatError(file, 'the run manifest is not valid JSON:', { problems: syntax });
  const { value, problems } = checkSchema<unknown>(runManifestSchema, source.value, {
    useDefaults: false, locate: (pointer, part) => ({ position: locatePointer(source, pointer, part) }),
  });
  const all = [...syntax, ...problems];
  if (all.length) throw new FileFormatError(file, `the run manifest is invalid (${all.length} problem${all.length === 1 ? '' : 's'}):`, { problems: all });
  return value;
}
