/**
 * The run's TensorBoard log: `<run>/tensorboard/events.out.tfevents.<time>.<host>`. Every metric a node
 * logs becomes a scalar tagged `<node id>/<key>` at the node's step, every image an image summary tagged
 * `<node id>/<tag>`, so TensorBoard groups them by node (`tensorboard --logdir runs`). logs.jsonl carries
 * the same numbers (TensorBoard's as float32).
 *
 * Off (`enabled: false`) it writes nothing: under distributed training only rank 0 writes.
 */
import * as path from 'node:path';
import { EventFileWriter, type EventFileWriterOptions } from '../io/tensorboard';
import { TENSORBOARD_DIR } from './run-folder';

export class RunTensorBoard {
  private readonly writer: EventFileWriter | undefined;

  constructor(runDir: string, enabled = true, options: EventFileWriterOptions = {}) {
    this.writer = enabled ? new EventFileWriter(path.join(runDir, TENSORBOARD_DIR), options) : undefined;
  }

  /** The event file, when enabled. */
  get file(): string | undefined {
    return this.writer?.file;
  }

  metrics(nodeId: string, step: number, values: Record<string, number>): void {
    if (!this.writer) return;
    const scalars: Record<string, number> = {};
    for (const [key, v] of Object.entries(values)) if (typeof v === 'number') scalars[`${nodeId}/${key}`] = v;
    this.writer.scalars(step, scalars);
  }

  image(nodeId: string, tag: string, step: number, png: Uint8Array): void {
    this.writer?.image(`${nodeId}/${tag}`, step, png);
  }

  /** Writes out what is queued and closes the file (after success, failure or cancellation). */
  close(): void {
    this.writer?.close();
  }
}
