/**
 * A TensorBoard event file: `<dir>/events.out.tfevents.<unix seconds>.<host>`, a sequence of TFRecords each
 * holding one `Event` proto (encoded with @bufbuild/protobuf from src/io/tensorboard/proto). The first
 * record names the format version ("brain.Event:2"); then each scalar is a `Summary.Value.simple_value`
 * (float32) and each image a `Summary.Value.image` holding the PNG bytes as they are.
 *
 * Records are queued in memory and written out by `flush()`: every `flushIntervalMs` (a timer that does
 * not keep the process alive), as soon as `maxQueuedBytes` are queued, on `close()`, and when the process
 * exits with the file still open (`process.exit`, e.g. a second Ctrl-C). A crash (a kill, a fatal signal)
 * loses at most what was queued since the last flush; every record written is complete, so the file stays
 * readable.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { EventSchema, type Event } from './gen/event_pb';
import { SummarySchema, Summary_ImageSchema, Summary_ValueSchema, type Summary_Value } from './gen/summary_pb';
import { tfrecord } from './tfrecord';
import { FileFormatError } from '../../errors';

export const EVENT_FILE_VERSION = 'brain.Event:2';
export const EVENT_FILE_PREFIX = 'events.out.tfevents.';

export interface EventFileWriterOptions {
  /** Write queued records out at least this often (default 2000 ms; 0: only on size, flush() and close()). */
  flushIntervalMs?: number;
  /** Write out as soon as this many bytes are queued (default 1 MiB). */
  maxQueuedBytes?: number;
  /** Host name in the file name (default os.hostname()). */
  hostname?: string;
  /** Clock (tests). */
  now?: () => Date;
}

/** PNG color type → TensorBoard colorspace (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA); palette images are RGB. */
const COLORSPACE: Record<number, number> = { 0: 1, 4: 2, 2: 3, 3: 3, 6: 4 };
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width, height and TensorBoard colorspace from a PNG's IHDR chunk (the first chunk of every PNG). */
export function pngHeader(png: Uint8Array, what: string): { width: number; height: number; colorspace: number } {
  const b = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (b.length < 33 || !b.subarray(0, 8).equals(PNG_SIGNATURE) || b.toString('latin1', 12, 16) !== 'IHDR') {
    throw new FileFormatError(what, `not a PNG image (${b.length} bytes${b.length >= 8 ? `, starting ${b.subarray(0, 8).toString('hex')}` : ''})`);
  }
  const colorspace = COLORSPACE[b[25]];
  if (colorspace === undefined) throw new FileFormatError(what, `PNG color type ${b[25]} is not one of 0, 2, 3, 4, 6`);
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20), colorspace };
}

/** `events.out.tfevents.<10-digit seconds>.<host>`; `.2`, `.3` … appended when that file exists (a quick resume). */
export function eventFileName(dir: string, now: Date, hostname: string): string {
  const seconds = String(Math.floor(now.getTime() / 1000)).padStart(10, '0');
  const host = hostname.replace(/[^A-Za-z0-9._-]+/g, '-') || 'localhost';
  const base = `${EVENT_FILE_PREFIX}${seconds}.${host}`;
  let name = base;
  for (let i = 2; fs.existsSync(path.join(dir, name)); i++) name = `${base}.${i}`;
  return name;
}

export class EventFileWriter {
  /** The event file's absolute path. */
  readonly file: string;
  private fd: number | undefined;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** A failed timer flush, thrown from the next call (never swallowed). */
  private failure: unknown;
  private readonly maxQueuedBytes: number;
  private readonly now: () => Date;
  private readonly onExit = (): void => {
    try {
      this.close();
    } catch {
      // The process is exiting: there is no one left to report a failed last write to.
    }
  };

  constructor(dir: string, options: EventFileWriterOptions = {}) {
    this.now = options.now ?? (() => new Date());
    this.maxQueuedBytes = options.maxQueuedBytes ?? 1 << 20;
    fs.mkdirSync(dir, { recursive: true });
    this.file = path.resolve(dir, eventFileName(dir, this.now(), options.hostname ?? os.hostname()));
    this.fd = fs.openSync(this.file, 'wx');
    this.append(create(EventSchema, {
      wallTime: this.wallTime(), step: 0n, what: { case: 'fileVersion', value: EVENT_FILE_VERSION }, sourceMetadata: { writer: 'distillery' },
    }));
    this.flush();
    const interval = options.flushIntervalMs ?? 2000;
    if (interval > 0) {
      this.timer = setInterval(() => {
        try {
          this.flush();
        } catch (err) {
          this.failure ??= err;
        }
      }, interval);
      this.timer.unref();
    }
    process.once('exit', this.onExit);
  }

  get closed(): boolean {
    return this.fd === undefined;
  }

  /** One scalar (stored as float32, TensorBoard's `simple_value`). */
  scalar(tag: string, step: number, value: number): void {
    this.scalars(step, { [tag]: value });
  }

  /** Several scalars at one step, in one event. */
  scalars(step: number, values: Record<string, number>): void {
    const value = Object.entries(values).map(([tag, v]) => create(Summary_ValueSchema, { tag, value: { case: 'simpleValue', value: v } }));
    if (value.length > 0) this.summary(step, value);
  }

  /** An image summary holding `png` as it is (its size and colorspace read from the PNG header). */
  image(tag: string, step: number, png: Uint8Array): void {
    const { width, height, colorspace } = pngHeader(png, `image "${tag}" at step ${step}`);
    this.summary(step, [create(Summary_ValueSchema, {
      tag, value: { case: 'image', value: create(Summary_ImageSchema, { width, height, colorspace, encodedImageString: png }) },
    })]);
  }

  /** Writes every queued record to the file. */
  flush(): void {
    this.rethrow();
    if (this.fd === undefined || this.queue.length === 0) return;
    const data = this.queue.length === 1 ? this.queue[0] : Buffer.concat(this.queue, this.queuedBytes);
    this.queue = [];
    this.queuedBytes = 0;
    let at = 0;
    while (at < data.length) at += fs.writeSync(this.fd, data, at, data.length - at);
  }

  /** Flushes and closes the file; later calls do nothing. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    process.removeListener('exit', this.onExit);
    if (this.fd === undefined) return;
    try {
      this.flush();
    } finally {
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
  }

  private summary(step: number, value: Summary_Value[]): void {
    this.rethrow();
    if (this.fd === undefined) throw new FileFormatError(this.file, 'the TensorBoard event file is closed');
    if (!Number.isSafeInteger(step) || step < 0) throw new FileFormatError(this.file, `step must be a non-negative integer, found ${step}`);
    this.append(create(EventSchema, { wallTime: this.wallTime(), step: BigInt(step), what: { case: 'summary', value: create(SummarySchema, { value }) } }));
  }

  private append(event: Event): void {
    const record = tfrecord(toBinary(EventSchema, event));
    this.queue.push(record);
    this.queuedBytes += record.length;
    if (this.queuedBytes >= this.maxQueuedBytes) this.flush();
  }

  private wallTime(): number {
    return this.now().getTime() / 1000;
  }

  private rethrow(): void {
    if (this.failure === undefined) return;
    const err = this.failure;
    this.failure = undefined;
    throw new FileFormatError(this.file, `writing the TensorBoard event file failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
