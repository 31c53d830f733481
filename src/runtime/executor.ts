/**
 * The executor: runs a resolved graph.
 *
 * One inversify container per run. Each node is created as soon as its resource inputs have resolved
 * (resources may be Promises: a training node resolves its trained model when training ends), its
 * stream producers exist and its `after` nodes have finished; then its `run` starts. Nodes run
 * concurrently wherever the graph allows — a stream needs its producer and its consumers alive together.
 * When every node has finished, or one fails, or the signal aborts, all nodes are torn down: on
 * cancellation each node's `saveState` runs first, then `dispose` runs exactly once per created node, in
 * reverse creation order.
 */
import { setMaxListeners } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Container } from 'inversify';
import * as tf from '@tensorflow/tfjs-core';
import { CancelledError, DistilleryError, DistributedError, NodeRuntimeError } from '../errors';
import type { ResolvedGraph, ResolvedNode } from '../graph/types';
import type { NodeRegistry } from '../registry/registry';
import type { NodeContext, NodeInstance, NodeLogger } from '../registry/types';
import { activeBackend, selectBackend, setActivePrecision, type BackendInfo, type Precision } from '../backends';
import { RUN_BACKEND } from '../backends/context';
import { StreamGate } from './gate';
import { DISTRIBUTED_RUN, type DistributedRun } from '../distributed/context';
import { broadcastString } from '../distributed/collectives';
import { Turns } from '../distributed/turns';
import { displayPath } from '../registry/plugins';
import { ProgressReporter, formatMetrics, type ProgressMode } from './progress';
import {
  JsonLinesWriter,
  LOGS_FILE,
  MANIFEST_FILE,
  RESOLVED_GRAPH_FILE,
  distilleryVersion,
  gitInfo,
  prepareRunDir,
  readManifest,
  type RunManifest,
} from './run-folder';
import { RunTensorBoard } from './tensorboard';
import { writeJsonAtomicSync } from '../io/atomic-write';
import { FNV1A_OFFSET, fnv1a32 } from '../random';

export interface RunOptions {
  /** The registry the graph was loaded with; bound in the container as `distillery.registry`. */
  registry?: NodeRegistry;
  /** Run folder; default `<runsDir>/<graph-name>-<timestamp>`. */
  outDir?: string;
  /** Parent of generated run folders (default `runs`, relative to the working directory). */
  runsDir?: string;
  /** Compute backend to select first (`auto`, `cpu`, `wasm` …); absent: keep the active TF.js backend. */
  backend?: string;
  threads?: number;
  /** Compute precision; default the graph's `precision` key, else fp32 (bf16: libtorch autocast, docs/backends.md). */
  precision?: Precision;
  /** Continue the run in `outDir`: nodes see `ctx.resume = true`; logs are appended. */
  resume?: boolean;
  /** Aborting it cancels the run (status `cancelled`; nodes save state, then are disposed). */
  signal?: AbortSignal;
  /** Progress display (default `auto`: bars on a terminal, lines otherwise). */
  progress?: ProgressMode;
  /** Lines mode: seconds between progress lines, in ms (default 10 000). */
  progressIntervalMs?: number;
  /** Where the backend line, log lines and progress go (default process.stderr). */
  output?: NodeJS.WritableStream;
  /** Recorded in the manifest (default process.argv). */
  argv?: string[];
  /** Write every metric and image to `<run>/tensorboard/` as well (default true; false e.g. on ranks other than 0). */
  tensorboard?: boolean;
  /**
   * Data-parallel run (src/distributed): bound in the container for the nodes. Rank 0 owns the run
   * folder; every other rank works in a scratch folder `<run>/rank-<r>` (its node outputs, replay
   * spills and its own logs.jsonl) and prints nothing.
   */
  distributed?: DistributedRun;
}

export type NodeStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface NodeTiming {
  id: string;
  type: string;
  status: NodeStatus;
  /** ISO times; absent when the node never got that far. */
  createdAt?: string;
  endedAt?: string;
  /** From the start of `create` to the end of `run` (and of its streams). */
  durationMs?: number;
}

export interface RunResult {
  runDir: string;
  status: 'completed' | 'cancelled' | 'failed';
  /** The first failure (a NodeRuntimeError naming the node and, for streams, the port), or the cancellation. */
  error?: DistilleryError;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  backend: BackendInfo;
  /** Per-node status and timings, in the graph's topological order. */
  nodes: NodeTiming[];
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

interface NodeState {
  node: ResolvedNode;
  timing: NodeTiming;
  /** Settles when `create` has returned (rejects when the node was never created). */
  created: Deferred<void>;
  /** Settles when the node's run, its resource outputs and its output streams are all done. */
  finished: Deferred<void>;
  instance?: NodeInstance;
  /** Resource outputs as Promises (settle when the node's value resolves). */
  resources: Map<string, Promise<unknown>>;
  gates: Map<string, StreamGate>;
  createStart?: number;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** 32-bit FNV-1a of `<seed>:<nodeId>` (by code point): a stable, distinct seed per node. */
export function nodeSeed(graphSeed: number, nodeId: string): number {
  return fnv1a32(`${graphSeed}:${nodeId}`, FNV1A_OFFSET, 'code-point');
}

/** Waits for `promise` unless `signal` aborts first (then rejects with the abort reason). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function asNodeError(nodeId: string, err: unknown, what: string, port?: string): DistilleryError {
  if (err instanceof NodeRuntimeError || err instanceof CancelledError) return err;
  return new NodeRuntimeError(nodeId, `${what}${message(err)}`, { port, cause: err });
}

/**
 * Runs a resolved graph, in named steps: choose the backend → build the run's DI container → open the run
 * folder (manifest, resolved graph) → open logs, TensorBoard and progress and announce the run → watch for
 * cancellation and the first failure → run every node's lifecycle → tear down (saveState on cancel, then
 * dispose in reverse creation order) → close the manifest and return the result.
 */
export async function runGraph(graph: ResolvedGraph, options: RunOptions = {}): Promise<RunResult> {
  const startedAt = new Date();
  const dist = options.distributed && options.distributed.group.worldSize > 1 ? options.distributed : undefined;
  const { backend, precision } = await chooseBackend(graph, options);
  const { container, turns } = buildContainer(graph, options, dist, backend);
  const folder = await openRunFolder(graph, options, dist, backend, precision, startedAt);
  container.bind('distillery.runDir').toConstantValue(folder.runDir);
  const run = new GraphRun(graph, options, dist, backend, container, turns, folder, startedAt);
  run.announce();
  run.watchSignals();
  await run.runNodes();
  await run.tearDown();
  return run.finish();
}

/** Step 1: the compute backend and precision (select one, or keep the active TF.js backend). */
async function chooseBackend(graph: ResolvedGraph, options: RunOptions): Promise<{ backend: BackendInfo; precision: Precision }> {
  const precision: Precision = options.precision ?? graph.precision ?? 'fp32';
  let backend: BackendInfo;
  if (options.backend !== undefined) {
    backend = await selectBackend(options.backend, { threads: options.threads, precision });
  } else {
    setActivePrecision(precision);
    backend = activeBackend() ?? { name: tf.getBackend() as BackendInfo['name'], tfBackend: tf.getBackend(), threads: 1, description: `${tf.getBackend()} (selected outside Distillery)` };
  }
  return { backend, precision };
}

/** Step 2: the run's inversify container (graph, registry, distributed run, the run's backend, plugin bindings) and, data-parallel, the run turns. */
function buildContainer(graph: ResolvedGraph, options: RunOptions, dist: DistributedRun | undefined, backend: BackendInfo): { container: Container; turns?: Turns } {
  const container = new Container();
  container.bind('distillery.graph').toConstantValue(graph);
  if (options.registry) container.bind('distillery.registry').toConstantValue(options.registry);
  if (dist) container.bind(DISTRIBUTED_RUN).toConstantValue(dist);
  container.bind(RUN_BACKEND).toConstantValue(backend);
  // Data-parallel: the nodes that may use the process group run() one at a time, in topological order
  // (src/distributed/turns.ts), so their collectives are issued in the same order on every rank.
  const turns = dist
    ? new Turns(graph.nodes.filter((n) => !Object.values(n.def.outputs).some((spec) => spec.kind === 'stream')).map((n) => n.id))
    : undefined;

  for (const plugin of graph.loadedPlugins ?? []) {
    try {
      plugin.plugin.bindings?.(container);
    } catch (err) {
      throw new DistilleryError('PLUGIN', `${plugin.source}: bindings() failed: ${message(err)}`, { cause: err });
    }
  }
  return { container, turns };
}

interface RunFolder {
  runDir: string;
  resume: boolean;
  previous?: RunManifest;
  manifest: RunManifest;
}

/** Step 3: the run folder (agreed across ranks), its manifest (with earlier attempts on resume) and the resolved graph. */
async function openRunFolder(
  graph: ResolvedGraph, options: RunOptions, dist: DistributedRun | undefined, backend: BackendInfo, precision: Precision, startedAt: Date,
): Promise<RunFolder> {
  const prepare = (): string => prepareRunDir({ graphName: graph.name, outDir: options.outDir, runsDir: options.runsDir, resume: options.resume, now: startedAt });
  const runDir = dist ? await agreeRunDir(dist, prepare) : prepare();
  const resume = options.resume === true;
  const argv = options.argv ?? process.argv;
  const previous = resume ? readManifest(runDir) : undefined;
  const manifest: RunManifest = {
    graph: { name: graph.name, file: graph.file, seed: graph.seed },
    distillery: distilleryVersion(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    backend: { name: backend.name, description: backend.description, threads: backend.threads, precision },
    argv,
    git: gitInfo(path.dirname(graph.file)),
    startedAt: startedAt.toISOString(),
    status: 'running',
    attempts: previous
      ? [...(previous.attempts ?? []), { startedAt: previous.startedAt, endedAt: previous.endedAt, status: previous.status, argv: previous.argv, error: previous.error }]
      : [],
    ...(dist ? { distributed: { worldSize: dist.group.worldSize, backend: dist.group.backend } } : {}),
  };
  writeJsonAtomicSync(path.join(runDir, RESOLVED_GRAPH_FILE), graph.raw);
  writeJsonAtomicSync(path.join(runDir, MANIFEST_FILE), manifest);
  return { runDir, resume, previous, manifest };
}

/** One run of a graph: the state the remaining steps share (logs, signals, node states, the first failure). */
class GraphRun {
  private readonly runDir: string;
  /** Set on data-parallel ranks other than 0, which work in a scratch folder and print nothing. */
  private readonly scratchRank?: number;
  private readonly logs: JsonLinesWriter;
  private readonly tensorboard: RunTensorBoard;
  private readonly reporter: ProgressReporter;
  private readonly controller = new AbortController();
  private readonly states = new Map<string, NodeState>();
  private readonly creationOrder: NodeState[] = [];
  private primaryError: DistilleryError | undefined;
  private cancelled = false;
  private readonly onExternalAbort = (): void => {
    if (this.controller.signal.aborted) return;
    this.cancelled = true;
    this.event(undefined, 'cancel-requested');
    this.controller.abort(new CancelledError());
  };

  /** Step 4 (first half): logs.jsonl, TensorBoard (rank 0 alone) and the progress reporter. */
  constructor(
    private readonly graph: ResolvedGraph,
    private readonly options: RunOptions,
    private readonly dist: DistributedRun | undefined,
    private readonly backend: BackendInfo,
    private readonly container: Container,
    private readonly turns: Turns | undefined,
    private readonly folder: RunFolder,
    private readonly startedAt: Date,
  ) {
    this.runDir = folder.runDir;
    this.scratchRank = dist && dist.group.rank !== 0 ? dist.group.rank : undefined;
    this.logs = new JsonLinesWriter(path.join(this.runDir, LOGS_FILE));
    // TensorBoard: rank 0 alone (the other ranks' scratch folders get no tensorboard/ folder).
    this.tensorboard = new RunTensorBoard(this.runDir, options.tensorboard !== false && this.scratchRank === undefined);
    const output = options.output ?? process.stderr;
    this.reporter = new ProgressReporter({ mode: this.scratchRank === undefined ? options.progress ?? 'auto' : 'none', output, intervalMs: options.progressIntervalMs });
  }

  private event(node: string | undefined, name: string, fields: Record<string, unknown> = {}): void {
    this.logs.write({ time: new Date().toISOString(), kind: 'event', ...(node !== undefined ? { node } : {}), event: name, ...fields });
  }

  /** Step 4 (second half): the run-started event, the backend / run-folder lines, the process-count warning on resume. */
  announce(): void {
    const { dist, backend, runDir, reporter, logs } = this;
    const { resume, previous } = this.folder;
    this.event(undefined, resume ? 'run-resumed' : 'run-started', { runDir, backend: backend.description });
    if (this.scratchRank === undefined) {
      reporter.line(`backend: ${backend.description}`);
      if (dist) reporter.line(`distributed: ${dist.group.worldSize} processes (${dist.group.backend}), global batch = ${dist.group.worldSize} × the per-process batch size`);
      reporter.line(`run folder: ${displayPath(runDir)}${resume ? ' (resumed)' : ''}`);
    }
    const previousWorld = previous ? previous.distributed?.worldSize ?? 1 : undefined;
    const world = dist?.group.worldSize ?? 1;
    if (this.scratchRank === undefined && previousWorld !== undefined && previousWorld !== world) {
      // Resuming with another process count works (every rank takes rank 0's state) but changes the data shards.
      const msg = `resuming a ${previousWorld}-process run with ${world} process${world > 1 ? 'es' : ''}: the global batch and the data shards of the remaining steps change, so the result will differ from an uninterrupted run`;
      logs.write({ time: new Date().toISOString(), kind: 'log', level: 'warn', message: msg });
      reporter.line(`warning: ${msg}`);
    }
  }

  /** Step 5: the caller's signal cancels the run; the first failure aborts every node and stream gate. */
  watchSignals(): void {
    // Every node (and its streams) listens to the run's signal: a graph of more than ten nodes is normal,
    // not a leak, so Node's default warning at eleven listeners would only mislead.
    setMaxListeners(0, this.controller.signal);
    if (this.options.signal?.aborted) this.onExternalAbort();
    else this.options.signal?.addEventListener('abort', this.onExternalAbort, { once: true });
    this.controller.signal.addEventListener('abort', () => {
      for (const st of this.states.values()) for (const gate of st.gates.values()) gate.abort(this.controller.signal.reason);
    }, { once: true });
  }

  /** Records a node's failure: the first one aborts the run; later ones (consequences) go to the log only. */
  private fail(err: DistilleryError): void {
    const { controller, logs } = this;
    if (controller.signal.aborted) {
      // A consequence of the first failure or of the cancellation: keep it in the log only.
      if (!(err instanceof CancelledError)) logs.write({ time: new Date().toISOString(), kind: 'log', level: 'error', node: (err as NodeRuntimeError).nodeId, message: err.message });
      return;
    }
    this.primaryError = err;
    logs.write({ time: new Date().toISOString(), kind: 'log', level: 'error', node: (err as NodeRuntimeError).nodeId, ...((err as NodeRuntimeError).port ? { port: (err as NodeRuntimeError).port } : {}), message: err.message });
    controller.abort(err);
  }

  /** Step 6: every node's lifecycle, concurrently; then the final node statuses. */
  async runNodes(): Promise<void> {
    const { graph, states } = this;
    for (const node of graph.nodes) {
      states.set(node.id, {
        node,
        timing: { id: node.id, type: node.type, status: 'pending' },
        created: deferred<void>(),
        finished: deferred<void>(),
        resources: new Map(),
        gates: new Map(),
      });
    }
    // Release stream handles of nodes that never got created, so their producers are not held back.
    const tasks = graph.nodes.map((node) => {
      const st = states.get(node.id)!;
      return this.lifecycle(st).finally(() => {
        this.turns?.release(node.id);
        if (st.instance === undefined) {
          for (const [port, ref] of Object.entries(node.inputs)) {
            if (node.def.inputs[port]?.kind === 'stream') states.get(ref.node)!.gates.get(ref.port)?.release(node.id, port);
          }
        }
      });
    });
    await Promise.allSettled(tasks);

    // Nodes that never started (their inputs failed) are pending; count them as cancelled in the result.
    for (const st of states.values()) if (st.timing.status === 'pending' || st.timing.status === 'running') st.timing.status = 'cancelled';
    // A stream failure is reported by the producer's gate; the producer node is the one that failed.
    if (this.primaryError instanceof NodeRuntimeError) {
      const culprit = states.get(this.primaryError.nodeId);
      if (culprit) culprit.timing.status = 'failed';
    }
  }

  private consumersOf(nodeId: string, port: string): { node: string; port: string }[] {
    return this.graph.edges.filter((e) => e.from.node === nodeId && e.from.port === port).map((e) => ({ node: e.to.node, port: e.to.port }));
  }

  /** The logger a node gets: every record to logs.jsonl, lines to the reporter, metrics and images to TensorBoard. */
  private nodeLogger(id: string): NodeLogger {
    const { logs, reporter, tensorboard, runDir } = this;
    const write = (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void => {
      logs.write({ time: new Date().toISOString(), kind: 'log', level, node: id, message: msg, ...(fields ? { fields } : {}) });
      const extra = fields && Object.keys(fields).length ? ' ' + JSON.stringify(fields) : '';
      reporter.line(`[${id}]${level === 'warn' ? ' warning:' : ''} ${msg}${extra}`);
    };
    return {
      info: (msg, fields) => write('info', msg, fields),
      warn: (msg, fields) => write('warn', msg, fields),
      metrics: (step, values) => {
        logs.write({ time: new Date().toISOString(), kind: 'metrics', node: id, step, values });
        reporter.metrics(id, step, values);
        tensorboard.metrics(id, step, values);
      },
      image: (tag, step, png, file) => {
        logs.write({ time: new Date().toISOString(), kind: 'image', node: id, tag, step, bytes: png.length, ...(file ? { file: path.isAbsolute(file) ? path.relative(runDir, file) : file } : {}) });
        tensorboard.image(id, tag, step, png);
      },
    };
  }

  /** The context a node's `create` receives (its node folder is made on first use). */
  private nodeContext(node: ResolvedNode, resources: Record<string, unknown>, streams: NodeContext['streams']): NodeContext {
    const { runDir, reporter } = this;
    let outDirMade = false;
    const nodeOutDir = path.join(runDir, node.id);
    return {
      id: node.id,
      config: node.config,
      resources,
      streams,
      container: this.container,
      get outDir() {
        if (!outDirMade) {
          fs.mkdirSync(nodeOutDir, { recursive: true });
          outDirMade = true;
        }
        return nodeOutDir;
      },
      runDir,
      seed: nodeSeed(this.graph.seed, node.id),
      resume: this.folder.resume,
      log: this.nodeLogger(node.id),
      signal: this.controller.signal,
      progress: (label, total) => reporter.handle(node.id, label, total),
    };
  }

  /** One node: wait for its inputs and `after` nodes, create it, publish its outputs, run it, settle. */
  private async lifecycle(st: NodeState): Promise<void> {
    const { node } = st;
    const { states, container } = this;
    const signal = this.controller.signal;
    const resources: Record<string, unknown> = {};
    const streams: Record<string, ReturnType<StreamGate['handleFor']>> = {};
    try {
      for (const [port, ref] of Object.entries(node.inputs)) {
        const producer = states.get(ref.node)!;
        const spec = node.def.inputs[port];
        await untilAborted(producer.created.promise, signal);
        if (spec?.kind === 'stream') {
          streams[port] = producer.gates.get(ref.port)!.handleFor(node.id, port);
        } else {
          resources[port] = await untilAborted(producer.resources.get(ref.port)!, signal);
        }
      }
      for (const dep of node.after) await untilAborted(states.get(dep)!.finished.promise, signal);
    } catch (err) {
      st.timing.status = signal.aborted ? 'cancelled' : 'failed';
      st.created.reject(err);
      st.finished.reject(err);
      return;
    }

    const ctx = this.nodeContext(node, resources, streams);
    st.createStart = Date.now();
    st.timing.createdAt = new Date(st.createStart).toISOString();
    st.timing.status = 'running';
    const ownWork: Promise<unknown>[] = [];
    try {
      const instance = await node.def.create(ctx);
      st.instance = instance ?? {};
      this.creationOrder.push(st);
      this.event(node.id, 'created');
      for (const [port, spec] of Object.entries(node.def.outputs)) {
        const connected = this.consumersOf(node.id, port);
        if (spec.kind === 'resource') {
          const has = st.instance.resources !== undefined && port in st.instance.resources;
          if (!has) {
            if (connected.length > 0) throw new NodeRuntimeError(node.id, `create() did not provide resource output "${port}"`, { port });
            continue;
          }
          const value = Promise.resolve(st.instance.resources![port]).then(
            (v) => {
              container.bind(`${node.id}.${port}`).toConstantValue(v);
              return v;
            },
            (err: unknown) => {
              const e = asNodeError(node.id, err, 'resource output failed: ', port);
              this.fail(e);
              throw e;
            },
          );
          value.catch(() => {});
          st.resources.set(port, value);
          ownWork.push(value);
        } else {
          const stream = st.instance.streams?.[port];
          if (stream === undefined) {
            if (connected.length > 0) throw new NodeRuntimeError(node.id, `create() did not provide stream output "${port}"`, { port });
            continue;
          }
          const gate = new StreamGate(stream, { node: node.id, port }, connected, (e) => this.fail(e));
          if (signal.aborted) gate.abort(signal.reason);
          st.gates.set(port, gate);
          ownWork.push(gate.settled);
        }
      }
      st.created.resolve();
      if (st.instance.run) {
        if (this.turns) await untilAborted(this.turns.wait(node.id), signal);
        this.event(node.id, 'run-started');
        await st.instance.run();
      }
      await Promise.all(ownWork);
      st.timing.status = 'completed';
      this.event(node.id, 'finished');
      st.finished.resolve();
    } catch (err) {
      const e = asNodeError(node.id, err, '');
      if (!signal.aborted) {
        st.timing.status = 'failed';
        this.fail(e);
      } else if (e === signal.reason || e instanceof CancelledError || (err as Error)?.name === 'AbortError') {
        // Stopped because the run was cancelled or another node failed.
        st.timing.status = 'cancelled';
      } else {
        st.timing.status = 'failed';
        this.fail(e);
      }
      this.event(node.id, st.timing.status, { message: e.message });
      st.created.reject(e);
      st.finished.reject(e);
    } finally {
      for (const port of Object.keys(streams)) states.get(node.inputs[port].node)!.gates.get(node.inputs[port].port)?.release(node.id, port);
      const end = Date.now();
      st.timing.endedAt = new Date(end).toISOString();
      st.timing.durationMs = end - st.createStart;
    }
  }

  /** Step 7: on cancellation every created node saves its state; then each is disposed, in reverse creation order. */
  async tearDown(): Promise<void> {
    const { logs, reporter } = this;
    const teardown = [...this.creationOrder].reverse();
    if (this.cancelled) {
      for (const st of teardown) {
        if (!st.instance?.saveState) continue;
        try {
          await st.instance.saveState();
          this.event(st.node.id, 'state-saved');
        } catch (err) {
          const msg = `saveState failed: ${message(err)}`;
          logs.write({ time: new Date().toISOString(), kind: 'log', level: 'error', node: st.node.id, message: msg });
          reporter.line(`[${st.node.id}] error: ${msg}`);
        }
      }
    }
    for (const st of teardown) {
      try {
        await st.instance?.dispose?.();
        this.event(st.node.id, 'disposed');
      } catch (err) {
        const e = new NodeRuntimeError(st.node.id, `dispose failed: ${message(err)}`, { cause: err });
        logs.write({ time: new Date().toISOString(), kind: 'log', level: 'error', node: st.node.id, message: e.message });
        if (!this.primaryError && !this.cancelled) this.primaryError = e;
      }
    }
    this.options.signal?.removeEventListener('abort', this.onExternalAbort);
    reporter.stop();
    try {
      this.tensorboard.close();
    } catch (err) {
      const e = err instanceof DistilleryError ? err : new DistilleryError('TENSORBOARD', `closing the TensorBoard log failed: ${message(err)}`, { cause: err });
      logs.write({ time: new Date().toISOString(), kind: 'log', level: 'error', message: e.message });
      if (!this.primaryError && !this.cancelled) this.primaryError = e;
    }
  }

  /** Step 8: the run's status into the manifest and the log; the result. */
  finish(): RunResult {
    const { manifest } = this.folder;
    const endedAt = new Date();
    const status: RunResult['status'] = this.cancelled ? 'cancelled' : this.primaryError ? 'failed' : 'completed';
    const error: DistilleryError | undefined = status === 'cancelled' ? new CancelledError() : this.primaryError;
    manifest.endedAt = endedAt.toISOString();
    manifest.status = status;
    if (error) manifest.error = error.message;
    writeJsonAtomicSync(path.join(this.runDir, MANIFEST_FILE), manifest);
    this.event(undefined, `run-${status}`, error ? { message: error.message } : {});
    this.logs.close();

    return {
      runDir: this.runDir,
      status,
      error,
      startedAt: this.startedAt.toISOString(),
      endedAt: endedAt.toISOString(),
      durationMs: endedAt.getTime() - this.startedAt.getTime(),
      backend: this.backend,
      nodes: this.graph.nodes.map((n) => this.states.get(n.id)!.timing),
    };
  }
}

/**
 * Rank 0 prepares the run folder (its default name has a timestamp) and tells the others, whose folder is
 * the scratch folder `<run>/rank-<r>`. When rank 0 cannot prepare it, every rank fails with rank 0's reason.
 */
async function agreeRunDir(dist: DistributedRun, prepare: () => string): Promise<string> {
  const { group } = dist;
  let dir = '';
  let failure: unknown;
  if (group.rank === 0) {
    try {
      dir = prepare();
    } catch (err) {
      failure = err;
    }
  }
  const agreed = await broadcastString(group, failure ? `!${message(failure)}` : dir);
  if (failure) throw failure;
  if (agreed.startsWith('!')) throw new DistributedError(`rank ${group.rank}: rank 0 could not prepare the run folder: ${agreed.slice(1)}`);
  if (group.rank === 0) return dir;
  const scratch = path.join(agreed, `rank-${group.rank}`);
  fs.mkdirSync(scratch, { recursive: true });
  return scratch;
}

export { formatMetrics };
