/**
 * Distillery's one error hierarchy. Library code throws only these (never a bare `Error`), so callers
 * can branch on `instanceof` or on `code`, and tests assert on message text.
 */

/** A source position: 1-based line and column in a file. */
export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

/** One problem found while checking a graph or a config, with enough context to fix it. */
export interface Problem {
  /** Where it is; absent only when the problem has no place in a file (e.g. a `--set` override). */
  position?: SourcePosition;
  /** JSON path inside the document, e.g. `nodes.teacher.config.lr` (empty for the root). */
  path: string;
  /** What is wrong, in one sentence. */
  message: string;
  expected?: string;
  found?: string;
  /** How to fix it, e.g. `did you mean "ddim-sampler"?`. */
  hint?: string;
}

/** Renders a problem as `file:line:col: path: message (expected …, found …) hint`. */
export function formatProblem(p: Problem): string {
  const where = p.position ? `${p.position.file}:${p.position.line}:${p.position.column}: ` : '';
  const path = p.path ? `${p.path}: ` : '';
  const parts: string[] = [];
  if (p.expected !== undefined) parts.push(`expected ${p.expected}`);
  if (p.found !== undefined) parts.push(`found ${p.found}`);
  const ef = parts.length ? ` (${parts.join(', ')})` : '';
  const hint = p.hint ? ` — ${p.hint}` : '';
  return `${where}${path}${p.message}${ef}${hint}`;
}

export class DistilleryError extends Error {
  /** Stable machine-readable kind, e.g. `GRAPH_INVALID`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The graph file could not be read or has problems (syntax, schema, config, cross-node checks). */
export class GraphValidationError extends DistilleryError {
  readonly problems: Problem[];
  constructor(problems: Problem[], options?: { cause?: unknown }) {
    super('GRAPH_INVALID', `${problems.length} problem${problems.length === 1 ? '' : 's'} found:\n` +
      problems.map((p) => '  ' + formatProblem(p)).join('\n'), options);
    this.problems = problems;
  }
}

/** A config object (node config, scheduler config, model config) is invalid. */
export class ConfigError extends DistilleryError {
  readonly problems: Problem[];
  constructor(what: string, problems: Problem[]) {
    super('CONFIG_INVALID', `invalid ${what}:\n` + problems.map((p) => '  ' + formatProblem(p)).join('\n'));
    this.problems = problems;
  }
}

/** Node-type registry errors: duplicate registration, unknown type. */
export class RegistryError extends DistilleryError {
  constructor(message: string) {
    super('REGISTRY', message);
  }
}

/** A plugin could not be found, loaded, or does not export a valid definition. */
export class PluginError extends DistilleryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PLUGIN', message, options);
  }
}

/** A node failed while running; names the node id and, where known, the port. */
export class NodeRuntimeError extends DistilleryError {
  readonly nodeId: string;
  readonly port?: string;
  constructor(nodeId: string, message: string, options?: { port?: string; cause?: unknown }) {
    super('NODE_FAILED', `node "${nodeId}"${options?.port ? ` port "${options.port}"` : ''}: ${message}`, options);
    this.nodeId = nodeId;
    this.port = options?.port;
  }
}

/** The run was cancelled (SIGINT/SIGTERM or an AbortSignal). */
export class CancelledError extends DistilleryError {
  constructor(message = 'run cancelled') {
    super('CANCELLED', message);
  }
}

/** A compute backend could not be selected, initialised, or lacks a kernel. */
export class BackendError extends DistilleryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BACKEND', message, options);
  }
}

/**
 * A compute precision that cannot run here: `bf16` on a CPU without native bf16 instructions, or on a
 * backend that has no bf16 autocast.
 */
export class PrecisionError extends DistilleryError {
  constructor(message: string) {
    super('PRECISION', message);
  }
}

/** Invalid noise schedule / sampler configuration or use. */
export class ScheduleError extends DistilleryError {
  constructor(message: string) {
    super('SCHEDULE', message);
  }
}

/** Model construction or weight-loading problems (missing/unexpected parameters, shape mismatch). */
export class ModelError extends DistilleryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MODEL', message, options);
  }
}

/**
 * A weight, data or checkpoint file is missing, corrupt, hostile or of an unsupported format. When the
 * file's content was checked against a schema (e.g. a checkpoint's state), `problems` lists every problem
 * found and the message ends with them, one per line.
 */
export class FileFormatError extends DistilleryError {
  readonly file: string;
  readonly problems: Problem[];
  constructor(file: string, message: string, options?: { cause?: unknown; problems?: Problem[] }) {
    const problems = options?.problems ?? [];
    super('FILE_FORMAT', `${file}: ${message}` + problems.map((p) => '\n  ' + formatProblem(p)).join(''),
      options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.file = file;
    this.problems = problems;
  }
}

/** A command-line usage problem (bad flag, bad `--set`). */
export class UsageError extends DistilleryError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/**
 * A training step cannot proceed: a non-finite loss or gradient norm, gradients that do not match the
 * optimizer's variables, optimizer / EMA state that does not fit the model.
 */
export class TrainingError extends DistilleryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TRAINING', message, options);
  }
}

/**
 * Data-parallel training cannot start or continue: a half-configured launcher environment, a rendezvous
 * that fails (port in use, peers absent), a rank that died or hung, parameters that differ across ranks.
 */
export class DistributedError extends DistilleryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DISTRIBUTED', message, options);
  }
}
