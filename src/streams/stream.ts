/**
 * Streams with demand-driven backpressure on top of RxJS.
 *
 * Where it sits: below the runtime, the nodes and the stage engine, which all use it (the runtime's
 * stream gate, dataset nodes producing batches, stages consuming them); it imports only RxJS, TF.js,
 * src/errors and src/event-loop. The public API re-exports it (src/runtime/index.ts).
 *
 * RxJS pushes; training pulls. `pullStream` bridges the two: it advances the producer's async generator
 * only while the slowest subscriber has fewer than `highWaterMark` items waiting, and hands each
 * subscriber one item at a time. `consume` is the matching consumer: it tells the producer when its
 * handler has finished with an item, which is what frees room for the next one.
 *
 * How the "finished" signal travels through operators: an item is delivered by a synchronous
 * `subscriber.next(item)` call. While that call runs, a delivery token is published in a global slot;
 * synchronous operators (map, filter, take, tap …) pass the item down the chain within the same call,
 * and `consume` claims the token there. The producer then waits for the claimed token to be released
 * (the handler's promise settled) before delivering the next item to that subscriber and before
 * disposing the item. An item that no `consume` claims during delivery (filtered out, or read by a plain
 * `subscribe`) is finished when `next` returns. Asynchronous operators (delay, mergeMap over promises)
 * cut that chain: items are finished when handed to them, and such operators buffer on their own.
 *
 * Ownership: an item belongs to the stream. Once every subscriber is finished with it the producer
 * disposes it (`tf.dispose` on the item, which releases every tensor inside it, e.g. a Batch's `x` and
 * `labels`). A consumer that keeps a tensor beyond its handler clones it (`tf.clone` / `tf.keep` do not
 * suffice across disposal: clone).
 */
import { Observable, type Subscriber } from 'rxjs';
import * as tf from '@tensorflow/tfjs-core';
import { CancelledError, DistilleryError, NodeRuntimeError } from '../errors';
import { eventLoopTurn } from '../event-loop';

/** One delivery of one item to one subscriber, claimable by `consume` while `next` runs. */
interface DeliveryToken {
  claims: number;
  releases: number;
  /** Set when the synchronous `next` call has returned; no more claims after that. */
  sealed: boolean;
  onFinished: () => void;
  finished: boolean;
}

// A global slot (not a module variable) so that two copies of this module — the framework built into
// dist/ and a plugin's own copy — still see each other's deliveries.
const SLOT = Symbol.for('distillery.stream.currentDelivery');
type Slot = { [SLOT]?: DeliveryToken };

function currentDelivery(): DeliveryToken | undefined {
  return (globalThis as Slot)[SLOT];
}

/**
 * Claims the delivery that is running right now, if any: returns the function to call when the item is
 * finished with. Exposed for consumers that do not use `consume` (e.g. a node that batches items itself).
 */
export function claimCurrentDelivery(): (() => void) | undefined {
  const token = currentDelivery();
  if (!token || token.sealed) return undefined;
  token.claims += 1;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    token.releases += 1;
    if (token.sealed && token.releases === token.claims && !token.finished) {
      token.finished = true;
      token.onFinished();
    }
  };
}

function deliver<T>(subscriber: Subscriber<T>, item: T, onFinished: () => void): void {
  const token: DeliveryToken = { claims: 0, releases: 0, sealed: false, onFinished, finished: false };
  const slot = globalThis as Slot;
  const outer = slot[SLOT];
  slot[SLOT] = token;
  try {
    subscriber.next(item);
  } finally {
    slot[SLOT] = outer;
    token.sealed = true;
    if (token.releases === token.claims && !token.finished) {
      token.finished = true;
      onFinished();
    }
  }
}

export interface PullStreamOptions<T> {
  /**
   * How many items may wait, pulled but not yet delivered, for the slowest subscriber (default 2). With
   * the one item a subscriber is working on, at most `highWaterMark + 1` items exist ahead of it.
   */
  highWaterMark?: number;
  /** Releases an item once every subscriber is done with it. Default: `tf.dispose(item)`; `false` keeps it. */
  dispose?: ((item: T) => void) | false;
  /** Aborting this ends the stream with a CancelledError (e.g. the producer node's `ctx.signal`). */
  signal?: AbortSignal;
}

interface Pending<T> {
  value: T;
  index: number;
  /** Subscribers currently working on it (delivered, not finished). */
  holders: number;
}

interface Sub<T> {
  subscriber: Subscriber<T>;
  /** Index of the next item to deliver to it. */
  cursor: number;
  busy: boolean;
  closed: boolean;
}

function defaultDispose(item: unknown): void {
  if (item !== null && typeof item === 'object') tf.dispose(item as tf.TensorContainer);
}

/**
 * One run of the generator shared by the subscribers that joined before it finished. Subscribers that
 * subscribe in the same synchronous turn all see every item (the first pull waits for a microtask).
 */
class Connection<T> {
  private readonly subs: Sub<T>[] = [];
  private readonly queue: Pending<T>[] = [];
  private nextIndex = 0;
  private pulling = false;
  private ended = false;
  private failed: unknown;
  private stopped = false;
  private readonly abort = new AbortController();
  private iterator?: AsyncIterator<T>;
  private readonly highWaterMark: number;
  private readonly disposeItem: (item: T) => void;
  private readonly onAbort = (): void => this.fail(new CancelledError('stream cancelled'));

  constructor(
    private readonly factory: (signal: AbortSignal) => AsyncIterable<T>,
    private readonly options: PullStreamOptions<T>,
    private readonly onClosed: () => void,
  ) {
    this.highWaterMark = options.highWaterMark ?? 2;
    this.disposeItem = options.dispose === false ? () => {} : (options.dispose ?? defaultDispose);
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
    queueMicrotask(() => this.pump());
  }

  get open(): boolean {
    return !this.stopped;
  }

  add(subscriber: Subscriber<T>): () => void {
    const sub: Sub<T> = { subscriber, cursor: this.queue.length ? this.queue[0].index : this.nextIndex, busy: false, closed: false };
    this.subs.push(sub);
    if (this.options.signal?.aborted) queueMicrotask(this.onAbort);
    return () => this.remove(sub);
  }

  private remove(sub: Sub<T>): void {
    if (sub.closed) return;
    sub.closed = true;
    const i = this.subs.indexOf(sub);
    if (i >= 0) this.subs.splice(i, 1);
    if (this.subs.length === 0) this.stop();
    else {
      this.release();
      this.pump();
    }
  }

  private minCursor(): number {
    let min = Infinity;
    for (const s of this.subs) min = Math.min(min, s.cursor);
    return min;
  }

  private pump(): void {
    if (this.stopped || this.ended || this.pulling || this.subs.length === 0) return;
    if (this.nextIndex - this.minCursor() >= this.highWaterMark) return;
    this.pulling = true;
    let step: Promise<IteratorResult<T>>;
    try {
      this.iterator ??= this.factory(this.abort.signal)[Symbol.asyncIterator]();
      step = this.iterator.next();
    } catch (err) {
      this.pulling = false;
      this.fail(err);
      return;
    }
    step.then(
      (res) => {
        this.pulling = false;
        if (this.stopped) {
          if (!res.done) this.disposeItem(res.value);
          return;
        }
        if (res.done) this.ended = true;
        else this.queue.push({ value: res.value, index: this.nextIndex++, holders: 0 });
        this.deliverAll();
        this.pump();
      },
      (err: unknown) => {
        this.pulling = false;
        this.fail(err);
      },
    );
  }

  private deliverAll(): void {
    for (const sub of [...this.subs]) this.deliverTo(sub);
    this.release();
  }

  private deliverTo(sub: Sub<T>): void {
    if (sub.closed || sub.busy || this.stopped) return;
    const item = this.queue.find((p) => p.index === sub.cursor);
    if (!item) {
      if (this.ended && sub.cursor >= this.nextIndex) {
        sub.closed = true;
        this.subs.splice(this.subs.indexOf(sub), 1);
        sub.subscriber.complete();
        if (this.subs.length === 0) this.stop();
      }
      return;
    }
    sub.busy = true;
    sub.cursor += 1;
    item.holders += 1;
    deliver(sub.subscriber, item.value, () => {
      item.holders -= 1;
      sub.busy = false;
      if (this.stopped) {
        this.release();
        return;
      }
      // Deferred so a consumer that finishes synchronously does not recurse through the whole stream.
      queueMicrotask(() => {
        this.deliverTo(sub);
        this.release();
        this.pump();
      });
    });
  }

  /** Disposes items at the head of the queue that every subscriber has passed and nobody holds. */
  private release(): void {
    const min = this.stopped ? Infinity : this.minCursor();
    while (this.queue.length && this.queue[0].index < min && this.queue[0].holders === 0) {
      this.disposeItem(this.queue.shift()!.value);
    }
    if (this.stopped) {
      for (let i = this.queue.length - 1; i >= 0; i--) {
        if (this.queue[i].holders === 0) this.disposeItem(this.queue.splice(i, 1)[0].value);
      }
    }
  }

  private fail(err: unknown): void {
    if (this.stopped) return;
    this.failed = err;
    const subs = [...this.subs];
    this.subs.length = 0;
    this.stop();
    for (const s of subs) {
      s.closed = true;
      s.subscriber.error(err);
    }
  }

  /** Ends this run of the generator: aborts it, returns it, releases every item nobody holds. */
  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.abort.abort(this.failed ?? new CancelledError('stream unsubscribed'));
    const it = this.iterator;
    if (it?.return && !this.ended) {
      // The generator may be suspended in a pull; `return` runs its finally blocks once it yields.
      Promise.resolve()
        .then(() => it.return!())
        .catch(() => {});
    }
    this.release();
    this.onClosed();
  }
}

/**
 * A stream whose producer is pulled on demand. `generatorFactory` is called once per run of the stream
 * with a signal that aborts when the stream ends early (every subscriber gone, an error, or
 * `options.signal`); its items are yielded one at a time and disposed once every subscriber is finished
 * with them (see the file comment for what "finished" means).
 *
 * Subscribers that subscribe together share one run; a subscriber that arrives while a run is going
 * joins it from the oldest item still held; after a run has ended the next subscriber starts a new one.
 */
export function pullStream<T>(
  generatorFactory: (signal: AbortSignal) => AsyncIterable<T>,
  options: PullStreamOptions<T> = {},
): Observable<T> {
  const hwm = options.highWaterMark ?? 2;
  if (!Number.isInteger(hwm) || hwm < 1) {
    throw new DistilleryError('STREAM', `pullStream: highWaterMark must be an integer >= 1 (found ${hwm})`);
  }
  let connection: Connection<T> | undefined;
  return new Observable<T>((subscriber) => {
    if (!connection || !connection.open) {
      const c: Connection<T> = new Connection<T>(generatorFactory, options, () => {
        if (connection === c) connection = undefined;
      });
      connection = c;
    }
    return connection.add(subscriber);
  });
}

/** Where a stream comes from, attached by the runtime to the Observables it hands to nodes. */
export const STREAM_ORIGIN = Symbol.for('distillery.stream.origin');
export interface StreamOrigin {
  /** The consuming node and its input port. */
  node: string;
  port: string;
}

/**
 * Runs `handler` on every item of `stream`, one item at a time, and resolves when the stream completes.
 * The producer (if made with `pullStream`, through synchronous operators) is told when each handler call
 * has settled, so it never runs more than its high-water mark ahead. Rejects with the stream's error,
 * with the handler's error (the subscription is then dropped, which stops the producer), or with a
 * CancelledError when `signal` aborts. On a stream the runtime handed to a node (`ctx.streams.x`), a
 * handler's error becomes a NodeRuntimeError naming the node and the input port.
 */
export function consume<T>(
  stream: Observable<T>,
  handler: (item: T) => void | Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const origin = (stream as unknown as { [STREAM_ORIGIN]?: StreamOrigin })[STREAM_ORIGIN];
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new CancelledError());
      return;
    }
    let settled = false;
    let chain: Promise<void> = Promise.resolve();
    const finish = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      subscription?.unsubscribe();
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = (): void => finish(new CancelledError());
    signal?.addEventListener('abort', onAbort, { once: true });
    let subscription: { unsubscribe(): void } | undefined;
    const wrapHandlerError = (err: unknown): unknown => {
      if (!origin || err instanceof NodeRuntimeError || err instanceof CancelledError) return err;
      const message = err instanceof Error ? err.message : String(err);
      return new NodeRuntimeError(origin.node, message, { port: origin.port, cause: err });
    };
    subscription = stream.subscribe({
      next(item) {
        const done = claimCurrentDelivery();
        chain = chain.then(async () => {
          try {
            // Items that are already waiting arrive as microtasks: give timers and signals their turn.
            if (!settled) await eventLoopTurn();
            if (!settled) await handler(item);
          } catch (err) {
            finish(wrapHandlerError(err));
          } finally {
            done?.();
          }
        });
      },
      error(err: unknown) {
        void chain.then(() => finish(err));
      },
      complete() {
        void chain.then(() => finish());
      },
    });
    if (settled) subscription.unsubscribe();
  });
}
