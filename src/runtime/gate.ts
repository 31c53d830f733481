/**
 * The runtime's wrapper around one stream output port. It holds the producer back until every consumer
 * connected to the port has subscribed (or finished without subscribing), so that consumers started at
 * different times still share one run of the producer and see every item; it names the producer node
 * and port when the stream fails; and it tells the executor when the stream is done.
 */
import { Observable, type Subscriber, type Subscription } from 'rxjs';
import { CancelledError, NodeRuntimeError } from '../errors';
import { STREAM_ORIGIN, type StreamOrigin } from '../streams/stream';

interface Entry {
  subscriber: Subscriber<unknown>;
  inner?: Subscription;
  closed: boolean;
}

interface Handle {
  node: string;
  port: string;
  /** Subscribed at least once, or released without subscribing. */
  joined: boolean;
}

export class StreamGate {
  private readonly handles: Handle[];
  private readonly pending: Entry[] = [];
  private readonly active = new Set<Entry>();
  private connected = false;
  private aborted?: unknown;
  private reported = false;
  private settle!: () => void;
  private isSettled = false;
  /** Resolves when every consumer has joined and no subscription is open. */
  readonly settled: Promise<void>;

  constructor(
    private readonly source: Observable<unknown>,
    private readonly producer: { node: string; port: string },
    consumers: StreamOrigin[],
    private readonly onError: (err: NodeRuntimeError) => void,
  ) {
    this.handles = consumers.map((c) => ({ node: c.node, port: c.port, joined: false }));
    this.settled = new Promise<void>((resolve) => (this.settle = resolve));
    this.check();
  }

  /** The Observable handed to one consumer as `ctx.streams[port]`. */
  handleFor(node: string, port: string): Observable<unknown> {
    const handle = this.handles.find((h) => h.node === node && h.port === port);
    if (!handle) throw new NodeRuntimeError(node, `no stream is connected to input "${port}"`, { port });
    const obs = new Observable<unknown>((subscriber) => {
      if (this.aborted !== undefined) {
        subscriber.error(this.aborted);
        return;
      }
      const entry: Entry = { subscriber, closed: false };
      this.active.add(entry);
      if (!handle.joined) {
        handle.joined = true;
        this.pending.push(entry);
        this.maybeConnect();
      } else if (this.connected) {
        this.connect(entry);
      } else {
        this.pending.push(entry);
      }
      return () => this.close(entry);
    });
    const origin: StreamOrigin = { node, port };
    Object.defineProperty(obs, STREAM_ORIGIN, { value: origin, enumerable: false });
    return obs;
  }

  /** A consumer finished (or was never created) without subscribing: stop waiting for it. */
  release(node: string, port: string): void {
    const handle = this.handles.find((h) => h.node === node && h.port === port);
    if (handle && !handle.joined) {
      handle.joined = true;
      this.maybeConnect();
    }
    this.check();
  }

  /** Ends every subscription with `reason` (run cancelled or failed elsewhere). */
  abort(reason: unknown): void {
    if (this.aborted !== undefined) return;
    this.aborted = reason ?? new CancelledError();
    for (const entry of [...this.active]) {
      entry.inner?.unsubscribe();
      this.close(entry);
      entry.subscriber.error(this.aborted);
    }
    for (const h of this.handles) h.joined = true;
    this.check();
  }

  private maybeConnect(): void {
    if (this.connected || !this.handles.every((h) => h.joined)) return;
    this.connected = true;
    // One synchronous loop, so a pull-based producer starts its run with every consumer attached.
    for (const entry of this.pending.splice(0)) if (!entry.closed) this.connect(entry);
    this.check();
  }

  private connect(entry: Entry): void {
    entry.inner = this.source.subscribe({
      next: (value) => entry.subscriber.next(value),
      error: (err: unknown) => {
        const wrapped = this.wrap(err);
        this.close(entry);
        entry.subscriber.error(wrapped);
      },
      complete: () => {
        this.close(entry);
        entry.subscriber.complete();
      },
    });
    if (entry.closed) entry.inner.unsubscribe();
  }

  private wrap(err: unknown): unknown {
    if (err instanceof CancelledError) return err;
    const wrapped = err instanceof NodeRuntimeError
      ? err
      : new NodeRuntimeError(this.producer.node, `stream failed: ${err instanceof Error ? err.message : String(err)}`, {
        port: this.producer.port,
        cause: err,
      });
    if (!this.reported) {
      this.reported = true;
      this.onError(wrapped);
    }
    return wrapped;
  }

  private close(entry: Entry): void {
    if (entry.closed) return;
    entry.closed = true;
    entry.inner?.unsubscribe();
    this.active.delete(entry);
    const i = this.pending.indexOf(entry);
    if (i >= 0) this.pending.splice(i, 1);
    this.check();
  }

  private check(): void {
    if (this.isSettled) return;
    if (this.handles.every((h) => h.joined) && this.active.size === 0 && (this.connected || this.aborted !== undefined || this.handles.length === 0 || this.pending.length === 0)) {
      this.isSettled = true;
      this.settle();
    }
  }
}
