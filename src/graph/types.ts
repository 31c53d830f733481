/**
 * The graph layer's public types: what `loadGraph` / `validateGraph` return. The runtime builds on these;
 * nothing here refers to TensorFlow.js or RxJS.
 */
import type { Problem, SourcePosition } from '../errors';
import type { DistilleryPlugin, NodeTypeDefinition, PortKind } from '../registry/types';
import type { NodeRegistry } from '../registry/registry';

/** One end of a connection: a node id and one of its port names. */
export interface PortRef {
  node: string;
  port: string;
}

/** A data connection from an output port to an input port (ordering-only `after` edges are not edges). */
export interface GraphEdge {
  from: PortRef;
  to: PortRef;
  /** The kind both ports share (a kind mismatch is a validation problem, so resolved edges always agree). */
  kind: PortKind;
  /** The data type carried: the producer's type, or the consumer's where the producer says `any`. */
  type: string;
}

export interface ResolvedNode {
  id: string;
  type: string;
  def: NodeTypeDefinition;
  /** Validated config with the type's schema defaults filled in and `--set` overrides applied. */
  config: Record<string, unknown>;
  /** Connected inputs by input-port name. */
  inputs: Record<string, PortRef>;
  /** Node ids this node must wait for (ordering only, no data). */
  after: string[];
  /** Where the node is declared (its key under `nodes`). */
  position: SourcePosition;
  /** The node's optional `description` from the graph file. */
  description?: string;
}

/** A loaded plugin: the runtime calls `plugin.bindings?.(container)` for each. */
export interface LoadedPlugin {
  /** The spec as written in the graph file, e.g. `../../plugins/pseudo-huber-loss`. */
  spec: string;
  /** Human-readable origin used in error messages, e.g. `plugin "pseudo-huber-loss" (/abs/path)`. */
  source: string;
  plugin: DistilleryPlugin;
}

/** The graph file's `precision` (schemas/graph.schema.json): the run's compute precision. */
export type GraphPrecision = 'fp32' | 'bf16';

export interface ResolvedGraph {
  /** Absolute path of the graph file. */
  file: string;
  name: string;
  description?: string;
  seed: number;
  /** Compute precision (absent: fp32; `--precision` overrides it). */
  precision?: GraphPrecision;
  /** Plugin specs as written in the graph file. */
  plugins: string[];
  /** The plugins those specs loaded, in the same order. */
  loadedPlugins: LoadedPlugin[];
  /** Every node, in a topological order (producers before consumers; ties keep file order). */
  nodes: ResolvedNode[];
  edges: GraphEdge[];
  /** The graph as plain JSON with defaults filled in and overrides applied, for the run folder. */
  raw: unknown;
}

export interface LoadGraphOptions {
  /** The registry holding the node types; the graph's plugins are registered into it. */
  registry: NodeRegistry;
  /** `--set` overrides: `<nodeId>.config.<key>[.<key>…]=<value>` (value parsed as JSON5, else a string). */
  sets?: string[];
}

export interface ValidationResult {
  /** Present when no problem was found. */
  graph?: ResolvedGraph;
  problems: Problem[];
}
