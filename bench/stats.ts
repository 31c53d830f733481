/** Helpers shared by the benchmark scripts: option parsing and order statistics. */
import { InvalidArgumentError } from 'commander';

/** Commander parser for a positive integer option. */
export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, found "${v}"`);
  return n;
}

export interface Stats { median: number; min: number; max: number; n: number }

/** Median (mean of the middle two for an even count), min, max and count. */
export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { median: m, min: s[0], max: s[s.length - 1], n: s.length };
}

export function median(xs: number[]): number {
  return stats(xs).median;
}
