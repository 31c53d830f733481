/**
 * The contract between the runtime and a node type. Built-in node types (nodes/*) and plugins
 * implement exactly this; nothing else is special about built-ins.
 *
 * This file imports only types: the graph layer may use it without pulling in TensorFlow.js or RxJS.
 */
import type { Observable } from 'rxjs';
import type { Container } from 'inversify';
import type { Problem } from '../errors';
import type { JsonSchema } from '../schema/json-schema';

/** A JSON Schema (draft 2020-12 / ajv) object (declared in the schema layer). Descriptions are the reference docs. */
export type { JsonSchema };

/**
 * resource: a value created once (a model, a scheduler, an optimizer, a data set of weights), bound in
 *   the run's inversify container under `<nodeId>.<port>` and injected into consumers before they start.
 *   A resource may be a Promise: consumers start only when it resolves (this is how "fine-tune, then
 *   distill" is ordered in one graph: the distill node needs the fine-tune node's trained model).
 * stream: items (batches of latents) flowing as an RxJS Observable with demand-driven backpressure.
 */
export type PortKind = 'resource' | 'stream';

/** Element type of the tensor a port carries (TF.js dtype names); declared with the schema layer's port shape. */
export { TENSOR_DTYPES, type TensorDType } from '../schema/json-schema';
import type { TensorDType } from '../schema/json-schema';

export interface PortSpec {
  kind: PortKind;
  /**
   * Data type carried, e.g. `model`, `scheduler`, `batch`, `latent-batch`, `metrics`. Connected ports
   * must have equal types, or one of them must be `any`.
   */
  type: string;
  description: string;
  /** An optional input may be left unconnected. Outputs are never required to be connected. */
  optional?: boolean;
  /**
   * Element type of the tensor the port carries; for a stream of batches, of each item's `x` (the images
   * or latents; labels are always int32 [B]). Absent on ports that carry no tensor (models, schedules).
   * `validate` refuses a connection whose two ends declare different dtypes.
   */
  dtype?: TensorDType;
  /** Rank of that tensor (4 for [B, H, W, C] batches); both ends declaring a rank must agree. */
  rank?: number;
  /**
   * Shape where known, one entry per dimension (`rank` entries; null = not known before the run, e.g. the
   * batch size). Where both ends know a dimension, the sizes must be equal.
   */
  shape?: ReadonlyArray<number | null>;
}

/** Logger handed to nodes; every record also goes to the run's `logs.jsonl`. */
export interface NodeLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  /** Numeric metrics at a step (loss, lr, fid …): shown in progress output and logged. */
  metrics(step: number, values: Record<string, number>): void;
  /**
   * An image at a step (PNG bytes; e.g. a validation grid), under a tag such as `validation/grid`. The
   * run records it in logs.jsonl (tag, step, the file if given) and in its TensorBoard log. `file` is where
   * the node already wrote the same PNG, relative to the run folder or absolute.
   */
  image(tag: string, step: number, png: Uint8Array, file?: string): void;
}

/** A progress indicator for long work (a bar on a TTY, periodic lines otherwise). */
export interface ProgressHandle {
  /** Advance to `current` (absolute), optionally with the latest metrics to display. */
  update(current: number, metrics?: Record<string, number>): void;
  done(): void;
}

export interface NodeContext<Config = Record<string, unknown>> {
  /** The node's id in the graph. */
  readonly id: string;
  /** The node's config, validated, with schema defaults filled in. */
  readonly config: Config;
  /** Resolved resource inputs by port name (absent optional ports are undefined). */
  readonly resources: Readonly<Record<string, unknown>>;
  /** Stream inputs by port name. */
  readonly streams: Readonly<Record<string, Observable<unknown>>>;
  /** The run's DI container (one per run). */
  readonly container: Container;
  /** Folder this node may write to: `<runDir>/<nodeId>`; created on first use by `ensureDir`. */
  readonly outDir: string;
  /** The run folder (`runs/NAME`). */
  readonly runDir: string;
  /** The graph's seed combined with the node id: a stable per-node seed. */
  readonly seed: number;
  /** True when the run was started with `--resume`: nodes continue from their last checkpoint. */
  readonly resume: boolean;
  readonly log: NodeLogger;
  /** Cancelled on SIGINT/SIGTERM or when another node fails. Long loops must check it. */
  readonly signal: AbortSignal;
  progress(label: string, total: number): ProgressHandle;
}

/** What `create` returns: the node's outputs and lifecycle hooks. */
export interface NodeInstance {
  /** Resource outputs by port name; a value or a Promise of one. */
  resources?: Record<string, unknown>;
  /** Stream outputs by port name. */
  streams?: Record<string, Observable<unknown>>;
  /**
   * The node's own work (training loop, evaluation, writing a report). The run finishes when every
   * node's `run` has resolved and every stream has completed.
   */
  run?(): Promise<void>;
  /** Called on cancellation before dispose: persist what is needed to resume. */
  saveState?(): Promise<void>;
  /** Release tensors and handles. Called exactly once, after success, failure or cancellation. */
  dispose?(): void | Promise<void>;
}

export interface NodeTypeDefinition<Config = any> {
  /** Unique type name, kebab-case, e.g. `ddim-sampler`. */
  type: string;
  /** One-line description (shown by `distillery nodes`). */
  description: string;
  /** JSON Schema of `config` (type object, additionalProperties false, defaults and descriptions). */
  configSchema: JsonSchema;
  inputs: Record<string, PortSpec>;
  outputs: Record<string, PortSpec>;
  /**
   * Cross-field checks that JSON Schema cannot express, run before anything is allocated. Paths are
   * relative to the node's config (e.g. `rounds.2.steps`).
   */
  check?(config: Config): Problem[];
  /** Build the node once its resource inputs have resolved. */
  create(ctx: NodeContext<Config>): NodeInstance | Promise<NodeInstance>;
}

/** What a plugin module exports (default export or `plugin` named export). */
export interface DistilleryPlugin {
  /** Plugin name, used in error messages (`registered by plugin "x"`). */
  name: string;
  nodeTypes: NodeTypeDefinition[];
  /** Optional DI bindings added to each run's container. */
  bindings?(container: Container): void;
}

/** Identity helpers that give plugin authors type inference. */
export function defineNodeType<Config>(def: NodeTypeDefinition<Config>): NodeTypeDefinition<Config> {
  return def;
}
export function definePlugin(plugin: DistilleryPlugin): DistilleryPlugin {
  return plugin;
}
