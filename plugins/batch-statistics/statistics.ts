/**
 * Streaming statistics of NHWC data: per-channel and overall mean, standard deviation, minimum and
 * maximum, and a label histogram, accumulated batch by batch in float64.
 *
 * Each batch is summarised in two passes (mean, then the sum of squared deviations M2), and summaries
 * are merged with the pairwise update of Chan, Golub & LeVeque (1979):
 *   n = n_a + n_b,  δ = mean_b − mean_a,  mean = mean_a + δ·n_b/n,  M2 = M2_a + M2_b + δ²·n_a·n_b/n
 * which stays accurate where the one-pass "sum of squares minus square of sum" formula cancels badly.
 */

/** Count, mean and M2 (sum of squared deviations from the mean) of some numbers. */
export interface Moments {
  n: number;
  mean: number;
  m2: number;
}

export function mergeMoments(a: Moments, b: Moments): Moments {
  if (a.n === 0) return { ...b };
  if (b.n === 0) return { ...a };
  const n = a.n + b.n;
  const delta = b.mean - a.mean;
  return { n, mean: a.mean + (delta * b.n) / n, m2: a.m2 + b.m2 + (delta * delta * a.n * b.n) / n };
}

export interface ChannelStatistics {
  mean: number;
  /** Population standard deviation (divides by n). */
  std: number;
  min: number;
  max: number;
}

export interface DataStatistics {
  batches: number;
  /** Examples seen (sum of batch sizes). */
  examples: number;
  /** Values per channel seen (examples × height × width). */
  valuesPerChannel: number;
  /** Shape of one example, [H, W, C]. */
  exampleShape: [number, number, number];
  channels: ChannelStatistics[];
  overall: ChannelStatistics;
  /**
   * 1 / overall std: the factor latent diffusion multiplies latents by so that they have unit variance
   * (Rombach et al. 2022 estimate it from the first batch of latents; here, from every batch read).
   */
  scaleFactor: number;
  /** Examples per label, keyed by the label as a string. */
  labelCounts: Record<string, number>;
}

export class StatisticsAccumulator {
  private channels: Moments[] = [];
  private mins: number[] = [];
  private maxs: number[] = [];
  private shape?: [number, number, number];
  private batches = 0;
  private examples = 0;
  private readonly labels = new Map<number, number>();

  /** Adds one batch: `x` holds B·H·W·C values in NHWC order; `labels` one per example. */
  add(x: ArrayLike<number>, shape: readonly [number, number, number, number], labels: ArrayLike<number>): void {
    const [b, h, w, c] = shape;
    if (x.length !== b * h * w * c) throw new RangeError(`batch data has ${x.length} values, shape [${shape.join(', ')}] needs ${b * h * w * c}`);
    if (this.shape && (this.shape[0] !== h || this.shape[1] !== w || this.shape[2] !== c)) {
      throw new RangeError(`batch ${this.batches} has examples of shape [${h}, ${w}, ${c}], earlier batches [${this.shape.join(', ')}]`);
    }
    if (!this.shape) {
      this.shape = [h, w, c];
      this.channels = Array.from({ length: c }, () => ({ n: 0, mean: 0, m2: 0 }));
      this.mins = new Array<number>(c).fill(Infinity);
      this.maxs = new Array<number>(c).fill(-Infinity);
    }
    const perChannel = b * h * w;
    for (let ch = 0; ch < c; ch++) {
      let sum = 0;
      let min = this.mins[ch];
      let max = this.maxs[ch];
      for (let i = ch; i < x.length; i += c) {
        const v = x[i];
        sum += v;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const mean = sum / perChannel;
      let m2 = 0;
      for (let i = ch; i < x.length; i += c) m2 += (x[i] - mean) * (x[i] - mean);
      this.channels[ch] = mergeMoments(this.channels[ch], { n: perChannel, mean, m2 });
      this.mins[ch] = min;
      this.maxs[ch] = max;
    }
    for (let i = 0; i < labels.length; i++) this.labels.set(labels[i], (this.labels.get(labels[i]) ?? 0) + 1);
    this.batches += 1;
    this.examples += b;
  }

  get batchCount(): number {
    return this.batches;
  }

  /** The statistics so far; throws when no batch was added. */
  result(): DataStatistics {
    if (!this.shape) throw new RangeError('no batch was read, so there are no statistics');
    const describe = (m: Moments, min: number, max: number): ChannelStatistics => ({ mean: m.mean, std: Math.sqrt(m.m2 / m.n), min, max });
    const overallMoments = this.channels.reduce(mergeMoments, { n: 0, mean: 0, m2: 0 });
    const overall = describe(overallMoments, Math.min(...this.mins), Math.max(...this.maxs));
    const labelCounts: Record<string, number> = {};
    for (const [label, count] of [...this.labels].sort((a, b) => a[0] - b[0])) labelCounts[String(label)] = count;
    return {
      batches: this.batches,
      examples: this.examples,
      valuesPerChannel: this.channels[0].n,
      exampleShape: [...this.shape],
      channels: this.channels.map((m, i) => describe(m, this.mins[i], this.maxs[i])),
      overall,
      scaleFactor: 1 / overall.std,
      labelCounts,
    };
  }
}
