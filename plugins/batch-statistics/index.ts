/**
 * The `batch-statistics` plugin: one node type that reads a batch stream (images or latents) and
 * reports per-channel statistics and the latent scale factor — what you check before training a
 * diffusion model on a new data set (is it scaled to unit variance? are the classes balanced?).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { take, type Observable } from 'rxjs';
import { batchStreamPort, consume, defineNodeType, definePlugin, writeFileAtomicSync, type Batch } from 'distillery';
import { configSchema, type BatchStatisticsConfig } from './config';
import { StatisticsAccumulator, type DataStatistics } from './statistics';

export { configSchema, type BatchStatisticsConfig } from './config';
export { StatisticsAccumulator, mergeMoments, type DataStatistics, type ChannelStatistics, type Moments } from './statistics';

export const batchStatisticsNode = defineNodeType<BatchStatisticsConfig>({
  type: 'batch-statistics',
  description: 'Per-channel mean, std, min and max, label counts and the latent scale factor (1/std) of the first maxBatches batches of a stream',
  configSchema,
  inputs: {
    batches: batchStreamPort('The batches to measure (only the first maxBatches are read).'),
  },
  outputs: {
    statistics: {
      kind: 'resource',
      type: 'data-statistics',
      description: 'The DataStatistics, resolved when maxBatches batches (or the whole stream, if shorter) have been read.',
    },
  },
  create(ctx) {
    const { maxBatches, file, logEvery } = ctx.config;
    let resolveStatistics!: (s: DataStatistics) => void;
    const statistics = new Promise<DataStatistics>((resolve) => (resolveStatistics = resolve));
    return {
      resources: { statistics },
      async run() {
        const acc = new StatisticsAccumulator();
        const progress = ctx.progress('batches', maxBatches);
        // take() ends the subscription after maxBatches: the producer stops, nothing more is read.
        const batches = (ctx.streams.batches as Observable<Batch>).pipe(take(maxBatches));
        await consume(batches, async (batch) => {
          const [x, labels] = await Promise.all([batch.x.data(), batch.labels.data()]);
          acc.add(x, batch.x.shape, labels);
          if (acc.batchCount % logEvery === 0) {
            const s = acc.result();
            ctx.log.metrics(acc.batchCount, { mean: s.overall.mean, std: s.overall.std });
          }
          progress.update(acc.batchCount);
        }, ctx.signal);
        progress.done();
        if (acc.batchCount === 0) throw new RangeError('the input stream ended before its first batch: there is nothing to measure');
        const result = acc.result();
        const target = path.join(ctx.outDir, file);
        writeFileAtomicSync(target, JSON.stringify(result, null, 2) + '\n');
        ctx.log.info(`${result.examples} examples: mean ${result.overall.mean.toPrecision(4)}, std ${result.overall.std.toPrecision(4)}, scale factor ${result.scaleFactor.toPrecision(4)}; wrote ${file}`);
        resolveStatistics(result);
      },
    };
  },
});

export default definePlugin({ name: 'batch-statistics', nodeTypes: [batchStatisticsNode] });
