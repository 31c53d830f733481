/**
 * Graph validation in layers, every problem reported at once:
 *   1. JSON5 syntax (line:col) and duplicate keys;
 *   2. plugins loaded and registered (src/registry/plugins.ts); `--set` overrides applied;
 *   3. the graph-file schema;
 *   4. each node's config against its type's schema (defaults filled), then the type's `check`;
 *   5. cross-node checks: unknown types, ports and node ids, missing inputs, port kind/type mismatches,
 *      `after` references, cycles.
 * Only a syntax error stops early (there is no document to check without it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GraphValidationError, type Problem, type SourcePosition } from '../errors';
import type { NodeRegistry } from '../registry/registry';
import { loadPluginList } from '../registry/plugins';
import { suggestionHint } from '../schema/suggest';
import type { NodeTypeDefinition, PortSpec } from '../registry/types';
import { sharedAjv, type ValidateFunction } from '../schema/ajv';
import { NODE_TYPE_PATTERN, PORT_NAME_PATTERN, validateNodeConfig } from '../schema/config';
import { definitionsSchema, graphFileSchema, DEFINITIONS_FILE } from '../schema/files';
import { ajvErrorsToProblems, joinPointer, pointerToPath, type PointerLocator } from '../schema/problems';
import { applySets, type AppliedSet } from './overrides';
import { locatePointer, parseSource, pointerExists, type ParsedSource } from './source';
import type { GraphEdge, GraphPrecision, LoadedPlugin, LoadGraphOptions, PortRef, ResolvedGraph, ResolvedNode, ValidationResult } from './types';

const PORT_REFERENCE = /^([A-Za-z][A-Za-z0-9_-]*)\.([A-Za-z][A-Za-z0-9_]*)$/;

let graphValidator: ValidateFunction | undefined;

/** The compiled graph-file schema (schemas/graph.schema.json with schemas/definitions.json). */
export function graphFileValidator(): ValidateFunction {
  if (!graphValidator) {
    const ajv = sharedAjv(false);
    if (!ajv.getSchema(DEFINITIONS_FILE)) ajv.addSchema(definitionsSchema(), DEFINITIONS_FILE);
    graphValidator = ajv.compile(graphFileSchema());
  }
  return graphValidator;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describePort(spec: PortSpec): string {
  return `${spec.kind === 'resource' ? 'a resource' : 'a stream'} of ${spec.type}`;
}

function shapeText(shape: ReadonlyArray<number | null>): string {
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

/**
 * Where both ends of a connection declare a tensor dtype, rank or shape, they must agree (a dimension
 * only where both know it). Each mismatch names what the input expects and what the output carries.
 */
function tensorMismatches(input: PortSpec, output: PortSpec): { what: string; expected: string; found: string }[] {
  const out: { what: string; expected: string; found: string }[] = [];
  if (input.dtype !== undefined && output.dtype !== undefined && input.dtype !== output.dtype) {
    out.push({ what: 'dtype', expected: input.dtype, found: output.dtype });
  }
  if (input.rank !== undefined && output.rank !== undefined && input.rank !== output.rank) {
    out.push({ what: 'rank', expected: `rank ${input.rank}`, found: `rank ${output.rank}` });
  } else if (input.shape && output.shape && input.shape.length === output.shape.length
    && input.shape.some((d, i) => d !== null && output.shape![i] !== null && d !== output.shape![i])) {
    out.push({ what: 'shape', expected: shapeText(input.shape), found: shapeText(output.shape) });
  }
  return out;
}

/** Position-less problems (from `--set`) first, then the rest in file order. */
function sortProblems(problems: Problem[]): Problem[] {
  const indexed = problems.map((p, i) => ({ p, i }));
  indexed.sort((a, b) => {
    const pa = a.p.position;
    const pb = b.p.position;
    if (!pa || !pb) return (pa ? 1 : 0) - (pb ? 1 : 0) || a.i - b.i;
    return pa.line - pb.line || pa.column - pb.column || a.i - b.i;
  });
  return indexed.map((x) => x.p);
}

function makeLocator(source: ParsedSource, applied: AppliedSet[]): PointerLocator {
  return (pointer, part) => {
    const direct = applied.find((s) => pointer === s.pointer || pointer.startsWith(s.pointer + '/'));
    const created = !pointerExists(source, pointer) ? applied.find((s) => s.pointer.startsWith(pointer + '/')) : undefined;
    const set = direct ?? created;
    if (set) return { note: `value given by --set "${set.arg}"` };
    return { position: locatePointer(source, pointer, part) };
  };
}

interface NodeDraft {
  id: string;
  index: number;
  raw: Record<string, unknown>;
  def?: NodeTypeDefinition;
  config?: Record<string, unknown>;
  inputs: Record<string, PortRef>;
  after: string[];
  /** Dependencies (producer node ids) with the pointer of the reference that creates each. */
  deps: { node: string; pointer: string }[];
}

/** Every elementary cycle representative: one per strongly connected component that has a cycle. */
function findCycles(drafts: NodeDraft[]): { cycle: string[]; closing: { node: string; pointer: string } }[] {
  const byId = new Map(drafts.map((d) => [d.id, d]));
  // Tarjan's SCC over producer → consumer edges.
  const consumers = new Map<string, string[]>(drafts.map((d) => [d.id, []]));
  for (const d of drafts) for (const dep of d.deps) if (consumers.has(dep.node)) consumers.get(dep.node)!.push(d.id);
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const sccs: string[][] = [];
  const strongConnect = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of consumers.get(v)!) {
      if (!index.has(w)) {
        strongConnect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      sccs.push(scc);
    }
  };
  for (const d of drafts) if (!index.has(d.id)) strongConnect(d.id);

  const result: { cycle: string[]; closing: { node: string; pointer: string } }[] = [];
  for (const scc of sccs) {
    const members = new Set(scc);
    const start = scc.map((id) => byId.get(id)!).sort((a, b) => a.index - b.index)[0];
    const selfDep = start.deps.find((dep) => dep.node === start.id);
    if (scc.length === 1) {
      if (selfDep) result.push({ cycle: [start.id, start.id], closing: { node: start.id, pointer: selfDep.pointer } });
      continue;
    }
    // Shortest path start → … → p inside the SCC where p feeds start; BFS in file order keeps it stable.
    const prev = new Map<string, string>();
    const queue = [start.id];
    const seen = new Set([start.id]);
    let closing: { node: string; pointer: string } | undefined;
    while (queue.length && !closing) {
      const v = queue.shift()!;
      const next = consumers.get(v)!.filter((w) => members.has(w))
        .sort((a, b) => byId.get(a)!.index - byId.get(b)!.index);
      for (const w of next) {
        if (w === start.id) {
          const dep = start.deps.find((d) => d.node === v)!;
          closing = { node: v, pointer: dep.pointer };
          break;
        }
        if (!seen.has(w)) {
          seen.add(w);
          prev.set(w, v);
          queue.push(w);
        }
      }
    }
    const chain: string[] = [];
    for (let v: string | undefined = closing!.node; v !== undefined && v !== start.id; v = prev.get(v)) chain.unshift(v);
    result.push({ cycle: [start.id, ...chain, start.id], closing: closing! });
  }
  return result;
}

/** Kahn's algorithm; among ready nodes the one declared first goes first. Assumes no cycle. */
function topologicalOrder(drafts: NodeDraft[]): NodeDraft[] {
  const remaining = new Map(drafts.map((d) => [d.id, new Set(d.deps.map((x) => x.node))]));
  const order: NodeDraft[] = [];
  const done = new Set<string>();
  const sorted = [...drafts].sort((a, b) => a.index - b.index);
  while (order.length < drafts.length) {
    const next = sorted.find((d) => !done.has(d.id) && [...remaining.get(d.id)!].every((x) => done.has(x)));
    if (!next) break;
    done.add(next.id);
    order.push(next);
  }
  return order;
}

/**
 * Checks a graph given as text. `file` names it in positions and anchors relative plugin paths.
 * Returns the resolved graph when there is no problem, else every problem found.
 */
export async function validateGraphText(text: string, file: string, options: LoadGraphOptions): Promise<ValidationResult> {
  const absFile = path.resolve(file);
  const parsed = parseSource(text, file);
  if (!parsed.source) return { problems: parsed.problems };
  const source = parsed.source;
  const problems: Problem[] = [...parsed.problems];
  const doc = structuredClone(source.value) as unknown;

  let locate: PointerLocator = (pointer, part) => ({ position: locatePointer(source, pointer, part) });
  const problemAt = (pointer: string, message: string, extra: Partial<Problem> = {}, part: 'value' | 'key' = 'value'): void => {
    const where = locate(pointer, part);
    const hint = [extra.hint, where.note].filter(Boolean).join('; ') || undefined;
    const p: Problem = { path: pointerToPath(pointer), message };
    if (where.position) p.position = where.position;
    if (extra.expected !== undefined) p.expected = extra.expected;
    if (extra.found !== undefined) p.found = extra.found;
    if (hint) p.hint = hint;
    problems.push(p);
  };

  // 2. Plugins, then overrides.
  const plugins = await loadPluginList(isPlainObject(doc) ? doc.plugins : undefined, path.dirname(absFile), options.registry);
  for (const { index, message } of plugins.problems) problemAt(joinPointer('/plugins', index), message);
  const loadedPlugins: LoadedPlugin[] = plugins.loaded;
  const sets = applySets(doc, options.sets ?? []);
  problems.push(...sets.problems);
  locate = makeLocator(source, sets.applied);

  // 3. Graph-file schema.
  const validateFile = graphFileValidator();
  if (!validateFile(doc)) problems.push(...ajvErrorsToProblems(validateFile.errors, '', locate));

  // 4. Node configs, and 5. cross-node checks.
  const registry = options.registry;
  const nodesValue = isPlainObject(doc) && isPlainObject(doc.nodes) ? doc.nodes : {};
  const nodeIds = Object.keys(nodesValue);
  const drafts: NodeDraft[] = [];
  nodeIds.forEach((id, index) => {
    const raw = nodesValue[id];
    if (!isPlainObject(raw)) return; // the schema reports it
    const draft: NodeDraft = { id, index, raw, inputs: {}, after: [], deps: [] };
    drafts.push(draft);
    const nodePointer = joinPointer('/nodes', id);
    if (typeof raw.type !== 'string' || !NODE_TYPE_PATTERN.test(raw.type)) return; // the schema reports it
    const def = registry.get(raw.type);
    if (!def) {
      const known = registry.list().map((d) => d.type);
      problemAt(`${nodePointer}/type`, `unknown node type "${raw.type}"`, {
        hint: known.length ? suggestionHint(raw.type, known, 'registered types') : 'no node types are registered',
      });
      return;
    }
    draft.def = def;
    if (raw.config === undefined || isPlainObject(raw.config)) {
      const checked = validateNodeConfig(def, raw.config ?? {}, { basePointer: `${nodePointer}/config`, locate });
      problems.push(...checked.problems);
      draft.config = checked.config;
    }
  });
  const draftById = new Map(drafts.map((d) => [d.id, d]));
  const edges: GraphEdge[] = [];

  for (const d of drafts) {
    const nodePointer = joinPointer('/nodes', d.id);
    const inputs = isPlainObject(d.raw.inputs) ? d.raw.inputs : undefined;
    for (const [port, ref] of Object.entries(inputs ?? {})) {
      const refPointer = joinPointer(nodePointer, 'inputs', port);
      const m = typeof ref === 'string' ? PORT_REFERENCE.exec(ref) : null;
      if (!m) continue; // the schema reports it
      const [, srcId, srcPort] = m;
      const producer = draftById.get(srcId);
      if (!Object.prototype.hasOwnProperty.call(nodesValue, srcId)) {
        problemAt(refPointer, `unknown node "${srcId}" in input reference "${ref}"`, {
          hint: suggestionHint(srcId, nodeIds.filter((n) => n !== d.id), 'nodes in this graph'),
        });
      } else if (producer) {
        d.deps.push({ node: srcId, pointer: refPointer });
      }
      if (!d.def || !PORT_NAME_PATTERN.test(port)) continue;
      const inSpec = d.def.inputs[port];
      if (!inSpec) {
        const names = Object.keys(d.def.inputs);
        problemAt(refPointer, `node type "${d.def.type}" has no input port "${port}"`, {
          hint: names.length ? suggestionHint(port, names, 'its inputs') : `"${d.def.type}" has no inputs`,
        }, 'key');
        continue;
      }
      if (!producer?.def) continue;
      const outSpec = producer.def.outputs[srcPort];
      if (!outSpec) {
        const names = Object.keys(producer.def.outputs);
        problemAt(refPointer, `node "${srcId}" (type "${producer.def.type}") has no output port "${srcPort}"`, {
          hint: names.length ? suggestionHint(srcPort, names, 'its outputs') : `"${producer.def.type}" has no outputs`,
        });
        continue;
      }
      if (outSpec.kind !== inSpec.kind) {
        problemAt(refPointer, `port kind mismatch: input "${port}" takes a ${inSpec.kind}, but "${ref}" is a ${outSpec.kind}`, {
          expected: inSpec.kind, found: outSpec.kind,
          hint: 'resources (models, schedulers) are created once; streams (batches) flow item by item — connect an output of the same kind',
        });
        continue;
      }
      if (outSpec.type !== inSpec.type && outSpec.type !== 'any' && inSpec.type !== 'any') {
        problemAt(refPointer, `port type mismatch: input "${port}" takes ${inSpec.type}, but "${ref}" carries ${outSpec.type}`, {
          expected: inSpec.type, found: outSpec.type,
        });
        continue;
      }
      const tensorProblems = tensorMismatches(inSpec, outSpec);
      for (const m of tensorProblems) problemAt(refPointer, `port ${m.what} mismatch: input "${port}" takes ${m.expected}, but "${ref}" carries ${m.found}`, { expected: m.expected, found: m.found });
      if (tensorProblems.length) continue;
      d.inputs[port] = { node: srcId, port: srcPort };
      edges.push({
        from: { node: srcId, port: srcPort }, to: { node: d.id, port }, kind: inSpec.kind,
        type: outSpec.type === 'any' ? inSpec.type : outSpec.type,
      });
    }
    if (d.def) {
      for (const [port, spec] of Object.entries(d.def.inputs)) {
        if (spec.optional || (inputs && Object.prototype.hasOwnProperty.call(inputs, port))) continue;
        const candidates = drafts.filter((p) => p.id !== d.id && p.def).flatMap((p) =>
          Object.entries(p.def!.outputs)
            .filter(([, o]) => o.kind === spec.kind && (o.type === spec.type || o.type === 'any' || spec.type === 'any'))
            .map(([name]) => `${p.id}.${name}`));
        problemAt(inputs ? joinPointer(nodePointer, 'inputs') : nodePointer, `missing required input "${port}"`, {
          expected: describePort(spec),
          hint: candidates.length
            ? `connect it, e.g. inputs: { ${port}: '${candidates[0]}' }`
            : `no node in this graph outputs ${describePort(spec)}`,
        });
      }
    }
    if (Array.isArray(d.raw.after)) {
      d.raw.after.forEach((target, i) => {
        if (typeof target !== 'string') return;
        const pointer = joinPointer(nodePointer, 'after', i);
        if (!Object.prototype.hasOwnProperty.call(nodesValue, target)) {
          problemAt(pointer, `"after" names unknown node "${target}"`, {
            hint: suggestionHint(target, nodeIds.filter((n) => n !== d.id), 'nodes in this graph'),
          });
          return;
        }
        d.after.push(target);
        if (draftById.has(target)) d.deps.push({ node: target, pointer });
      });
    }
  }

  // `after` waits for a node to finish, but a stream producer finishes only once every consumer has taken
  // its items (lock-step fan-out): waiting for the producer of a stream one reads, or for another reader
  // of the same stream, would never end.
  const streamSources = new Map<string, Set<string>>(); // reader -> producers of the streams it reads
  for (const e of edges) {
    if (e.kind !== 'stream') continue;
    if (!streamSources.has(e.to.node)) streamSources.set(e.to.node, new Set());
    streamSources.get(e.to.node)!.add(e.from.node);
  }
  for (const d of drafts) {
    const mine = streamSources.get(d.id);
    if (!mine) continue;
    for (const target of d.after) {
      const pointer = joinPointer(joinPointer('/nodes', d.id), 'after', (d.raw.after as unknown[]).indexOf(target));
      if (mine.has(target)) {
        problemAt(pointer, `node "${d.id}" reads a stream of "${target}" and also waits for it to finish ("after"): "${target}" finishes only when its stream has been read, so both would wait forever`, {
          hint: `remove "${target}" from "after": reading its stream already orders the two`,
        });
        continue;
      }
      const shared = [...(streamSources.get(target) ?? [])].filter((p) => mine.has(p));
      if (shared.length > 0) {
        problemAt(pointer, `node "${d.id}" waits for "${target}" ("after"), but both read the stream of "${shared[0]}", which moves in lock step to all its readers: "${target}" cannot finish while "${d.id}" waits`, {
          hint: `give "${d.id}" its own data node, or remove "${target}" from "after"`,
        });
      }
    }
  }

  const cycles = findCycles(drafts);
  for (const { cycle, closing } of cycles) {
    const self = cycle.length === 2;
    problemAt(closing.pointer, `cycle: ${cycle.join(' → ')}`, {
      hint: self
        ? `node "${cycle[0]}" depends on itself`
        : 'a node cannot depend, directly or through others, on its own output; remove one of these connections',
    });
  }
  // A resource input waits for its producer's value, and a stage's trained model exists only once that stage
  // has read its stream. A node that reads a stream and waits, through resource inputs, for another reader of
  // the same stream never subscribes while that reader needs it: the stream, moving in lock step to all its
  // readers, holds both back for ever (and the run would stop with nothing left to do).
  const streamKeys = new Map<string, Set<string>>(); // reader -> `producer.port` of the streams it reads
  for (const e of edges) {
    if (e.kind !== 'stream') continue;
    if (!streamKeys.has(e.to.node)) streamKeys.set(e.to.node, new Set());
    streamKeys.get(e.to.node)!.add(`${e.from.node}.${e.from.port}`);
  }
  // (A cycle is reported as such: waiting in a circle is its own problem.)
  for (const d of cycles.length ? [] : drafts) {
    const mine = streamKeys.get(d.id);
    if (!mine) continue;
    const firstHops = edges.filter((e) => e.kind === 'resource' && e.to.node === d.id);
    for (const hop of firstHops) {
      const seen = new Set<string>();
      const queue = [hop.from.node];
      let culprit: { node: string; stream: string } | undefined;
      while (queue.length && !culprit) {
        const n = queue.shift()!;
        if (seen.has(n) || n === d.id) continue;
        seen.add(n);
        const shared = [...(streamKeys.get(n) ?? [])].find((k) => mine.has(k));
        if (shared) culprit = { node: n, stream: shared };
        for (const e of edges) if (e.kind === 'resource' && e.to.node === n) queue.push(e.from.node);
      }
      if (!culprit) continue;
      problemAt(joinPointer(joinPointer(joinPointer('/nodes', d.id), 'inputs'), hop.to.port),
        `node "${d.id}" reads the stream "${culprit.stream}" and waits for "${hop.from.node}.${hop.from.port}", which needs "${culprit.node}" to finish reading the same stream: a stream moves in lock step to all its readers, so both would wait for ever`, {
          hint: `give "${d.id}" its own data node (as graphs/mnist/distill.json5 gives each stage one)`,
        });
    }
  }



  const sorted = sortProblems(problems);
  if (sorted.length > 0) return { problems: sorted };

  // No problem: every draft has a def and a config, and the graph is acyclic.
  const d0 = doc as Record<string, unknown>;
  const ordered = topologicalOrder(drafts);
  const nodes: ResolvedNode[] = ordered.map((d) => {
    const node: ResolvedNode = {
      id: d.id, type: d.def!.type, def: d.def!, config: d.config!, inputs: d.inputs, after: d.after,
      position: locatePointer(source, joinPointer('/nodes', d.id), 'key') as SourcePosition,
    };
    if (typeof d.raw.description === 'string') node.description = d.raw.description;
    return node;
  });
  const rawNodes: Record<string, unknown> = {};
  for (const d of drafts) {
    const { config: _config, ...rest } = d.raw;
    rawNodes[d.id] = { ...rest, config: d.config };
  }
  const raw: Record<string, unknown> = {
    version: d0.version, name: d0.name,
    ...(typeof d0.description === 'string' ? { description: d0.description } : {}),
    seed: (d0.seed as number | undefined) ?? 0,
    // Written only when the file sets it, so resolved graphs of fp32 runs stay as they were.
    ...(d0.precision !== undefined ? { precision: d0.precision } : {}),
    plugins: (d0.plugins as string[] | undefined) ?? [],
    nodes: rawNodes,
  };
  const graph: ResolvedGraph = {
    file: absFile,
    name: d0.name as string,
    seed: raw.seed as number,
    precision: (d0.precision as GraphPrecision | undefined) ?? 'fp32',
    plugins: raw.plugins as string[],
    loadedPlugins,
    nodes,
    edges,
    raw,
  };
  if (typeof d0.description === 'string') graph.description = d0.description;
  return { graph, problems: [] };
}

/** Reads and checks a graph file; never throws for problems in the file (they are returned). */
export async function validateGraph(file: string, options: LoadGraphOptions): Promise<ValidationResult> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : (err as Error).message;
    return { problems: [{ path: '', message: `cannot read graph file "${file}": ${why}` }] };
  }
  return validateGraphText(text, file, options);
}

/** Reads, checks and resolves a graph file; throws one GraphValidationError listing every problem. */
export async function loadGraph(file: string, options: LoadGraphOptions): Promise<ResolvedGraph> {
  const result = await validateGraph(file, options);
  if (!result.graph) throw new GraphValidationError(result.problems);
  return result.graph;
}

/** `loadGraph` for a graph held in memory (`file` names it in messages and anchors relative plugin paths). */
export async function parseGraphText(text: string, file: string, options: LoadGraphOptions): Promise<ResolvedGraph> {
  const result = await validateGraphText(text, file, options);
  if (!result.graph) throw new GraphValidationError(result.problems);
  return result.graph;
}
