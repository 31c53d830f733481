/**
 * Port presets: the port declarations several node types share, so that a data type's tensor layout is
 * written once. Pure data (no TF.js): the graph layer checks these before anything runs.
 */
import type { PortSpec } from './types';

/** Port data type of batch streams (items are `Batch`es: `x` [B, H, W, C] float32, `labels` [B] int32). */
export const BATCH_PORT_TYPE = 'batch';

/**
 * A stream of batches: `x` is float32 of rank 4 ([B, H, W, C]; images in [-1, 1] or latents). `shape`
 * where a node knows it (null for a dimension set by config or data, e.g. the batch size).
 */
export function batchStreamPort(description: string, options: { optional?: boolean; shape?: (number | null)[] } = {}): PortSpec {
  return {
    kind: 'stream', type: BATCH_PORT_TYPE, description, dtype: 'float32', rank: 4,
    ...(options.shape ? { shape: options.shape } : {}),
    ...(options.optional ? { optional: true } : {}),
  };
}
