/** Small collectives built on the ProcessGroup seam. */
import type { ProcessGroup } from './process-group';

/**
 * Rank `root`'s string on every rank (UTF-8 bytes carried as float32 values, which hold them exactly).
 * `root` passes its value; the others pass anything (ignored).
 */
export async function broadcastString(group: ProcessGroup, value: string, root = 0): Promise<string> {
  const bytes = group.rank === root ? Buffer.from(value, 'utf8') : Buffer.alloc(0);
  const length = new Float32Array([bytes.length]);
  await group.broadcast(length, root);
  const buffer = new Float32Array(length[0]);
  if (group.rank === root) for (let i = 0; i < bytes.length; i++) buffer[i] = bytes[i];
  if (buffer.length > 0) await group.broadcast(buffer, root);
  return Buffer.from(Uint8Array.from(buffer)).toString('utf8');
}
