/**
 * Batch streams: a planned sequence of batches (src/data/dataset.ts) turned into tensors on demand,
 * with pullStream's backpressure (./stream.ts: at most a couple of batches exist ahead of the slowest
 * consumer). The data layer plans the batches; making them an RxJS stream happens here, so that
 * src/data needs no RxJS.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Observable } from 'rxjs';
import { pullStream } from './stream';
import type { Batch } from '../data/batch';
import { gatherExamples, planBatches, type ArrayDataset, type BatchPlanOptions } from '../data/dataset';

export function batchStream(ds: ArrayDataset, plan: BatchPlanOptions, signal?: AbortSignal): Observable<Batch> {
  const [, h, w, c] = ds.shape;
  return pullStream<Batch>(async function* (abort) {
    for (const planned of planBatches(ds, plan)) {
      if (abort.aborted) return;
      const n = planned.indices.length;
      yield {
        x: tf.tensor4d(gatherExamples(ds, planned.indices), [n, h, w, c], 'float32'),
        labels: tf.tensor1d(planned.labels, 'int32'),
        index: planned.index,
        epoch: planned.epoch,
      };
    }
  }, signal ? { signal } : {});
}
