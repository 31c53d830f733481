/**
 * The seed's replay (spec 5.4) for a single-round stage: the targets of a block of `blockBatches`
 * micro-batches are computed once (`compute`, e.g. the guided teacher of stage one), spilled to
 * `<dir>/block-k.safetensors`, trained on `times` times (in order, or reshuffled into new batches every
 * pass with `shuffle`, as the seed's DataLoader does), then deleted. Item j of block k draws from
 * `stepRng(seed, stage, k, j)` and pass p's order from (seed, stage, k, p), so a resumed stage — which
 * restarts at the block of its checkpoint, reusing a surviving block file — replays the same numbers.
 */
import * as fs from 'node:fs';
import type * as tf from '@tensorflow/tfjs-core';
import type { Observable } from 'rxjs';
import type { Batch } from '../data/batch';
import type { Rng } from '../training/rng';
import { forEachBlock, shardRng, stepRng, type HeldBatch } from './common';
import {
  cloneReplayItem, concatReplayItems, deleteReplayBlock, disposeReplayItems, ensureReplayBlock, gatherReplayItem, readReplayBlock, replayPassOrder,
  type ReplayItem,
} from './replay';
import type { DistributedTraining, StageTrainer } from './trainer';

export interface ReplayLoopOptions {
  stage: string;
  seed: number;
  dir: string;
  blockBatches: number;
  times: number;
  shuffle: boolean;
  batches: Observable<Batch>;
  trainer: StageTrainer;
  accumulation: number;
  iterations: number;
  /** The stored item of one micro-batch (new tensors, owned by the loop). */
  compute(x: tf.Tensor4D, labels: tf.Tensor1D, rng: Rng): ReplayItem;
  /** The student's loss on one item (runs inside the optimizer's gradient). */
  loss(item: ReplayItem): tf.Scalar;
  /** Called before each optimizer step with its micro-batch items (e.g. to set the lr scale). */
  beforeStep?(items: readonly ReplayItem[]): void;
  /** Called after each optimizer step with its micro-batch items (e.g. a validation grid when due). */
  afterStep?(items: readonly ReplayItem[]): Promise<void>;
  signal?: AbortSignal;
  /**
   * Data-parallel run: the batches are this rank's shard and item draws are the rank's shard of the global
   * batch's (shardRng), the trainer all-reduces the gradients; blocks spill under this rank's own `dir`
   * (its scratch folder). With `shuffle` each rank reshuffles its own shard of a block.
   */
  distributed?: DistributedTraining;
}

/** Trains from the trainer's current step to `iterations` on replayed blocks. */
export async function runReplayLoop(o: ReplayLoopOptions): Promise<void> {
  const B = o.blockBatches;
  const perBlock = B * o.times;
  const totalMicro = o.iterations * o.accumulation;
  let micro = o.trainer.step * o.accumulation;
  const firstBlock = Math.floor(micro / perBlock);
  const lastBlock = Math.ceil(totalMicro / perBlock) - 1;
  const pending: ReplayItem[] = [];
  const owned = new Set<ReplayItem>();
  const trainOn = async (item: ReplayItem, own: boolean): Promise<void> => {
    pending.push(item);
    if (own) owned.add(item);
    micro += 1;
    if (pending.length < o.accumulation) return;
    const step = pending.splice(0);
    try {
      o.beforeStep?.(step);
      await o.trainer.update(step.map((it) => () => o.loss(it)));
      await o.afterStep?.(step);
    } finally {
      for (const it of step) if (owned.delete(it)) disposeReplayItems([it]);
    }
  };
  const runBlock = async (block: number, batches: HeldBatch[]): Promise<void> => {
    // Batch n of the stream (n = block·B + j) draws what lock-step training would draw for it, so one
    // in-order pass (times 1, no shuffle) gives exactly the lock-step numbers.
    const file = await ensureReplayBlock(o.dir, block, batches.length, (j) => {
      const n = block * B + j;
      return o.compute(batches[j].x, batches[j].labels, shardRng(stepRng(o.seed, o.stage, Math.floor(n / o.accumulation), n % o.accumulation), o.distributed));
    }, o.signal);
    const items = await readReplayBlock(file);
    const all = o.shuffle ? concatReplayItems(items) : undefined;
    const sizes = items.map((it) => it.x.shape[0]);
    try {
      while (micro < Math.min(totalMicro, (block + 1) * perBlock)) {
        const m = micro - block * perBlock;
        if (all) await trainOn(gatherReplayItem(all, replayPassOrder(o.seed, o.stage, block, Math.floor(m / B), sizes)[m % B]), true);
        // A clone shares the data: an item still waiting for an accumulation partner outlives its block.
        else await trainOn(cloneReplayItem(items[m % B]), true);
      }
    } finally {
      disposeReplayItems(items);
      if (all) disposeReplayItems([all]);
    }
    await deleteReplayBlock(file);
  };
  try {
    await forEachBlock(o.batches, firstBlock, lastBlock, B, runBlock, o.signal);
    await fs.promises.rm(o.dir, { recursive: true, force: true });
  } finally {
    for (const it of owned) disposeReplayItems([it]);
  }
}
