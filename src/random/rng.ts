/**
 * A deterministic, seedable random-number generator for training: noise, timesteps, label dropout,
 * data order. It is pure JavaScript (xoshiro128**, 128-bit state), so a run with the same seed draws
 * the same numbers on every backend, and its state is four 32-bit words that a checkpoint stores and
 * restores exactly.
 *
 * Independent streams come from `fork(name)`: the child's seed is a hash of the parent's key and the
 * name, not of the parent's current position, so adding draws to one stream never shifts another.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors';
import { fmix32 } from './hash';

export type RngSeed = number | string;

/** Serialisable generator state (JSON-safe). */
export interface RngState {
  algorithm: 'xoshiro128**';
  /** The stream's identity: the seed, then `/name` per fork, e.g. `1234/noise`. */
  key: string;
  /** The four 32-bit state words, as unsigned integers. */
  s: [number, number, number, number];
}

const TWO_PI = 2 * Math.PI;

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Four 32-bit words from a string: four differently-seeded multiplicative hashes, each finalised. */
function stateFromKey(key: string): [number, number, number, number] {
  const lanes = [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344];
  const mults = [0x01000193, 0x5bd1e995, 0x27d4eb2f, 0x165667b1];
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    for (let l = 0; l < 4; l++) lanes[l] = Math.imul(lanes[l] ^ c, mults[l]) ^ (lanes[l] >>> 15);
  }
  const s = lanes.map((h, l) => fmix32(h ^ Math.imul(key.length + 1, mults[l]))) as [number, number, number, number];
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1; // the all-zero state is a fixed point
  return s;
}

function seedKey(seed: RngSeed): string {
  if (typeof seed === 'number') {
    if (!Number.isSafeInteger(seed)) {
      throw new ConfigError('random seed', [{ path: 'seed', message: 'seed must be an integer', found: String(seed) }]);
    }
    return String(seed);
  }
  if (typeof seed !== 'string' || seed.length === 0) {
    throw new ConfigError('random seed', [{ path: 'seed', message: 'seed must be an integer or a non-empty string', found: JSON.stringify(seed) }]);
  }
  return seed;
}

function badArgument(what: string, found: unknown): ConfigError {
  return new ConfigError('random draw', [{ path: '', message: what, found: String(found) }]);
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private streamKey: string;
  /** Data-parallel draws (see `sharded`); inherited by forks. */
  private shard?: { rank: number; worldSize: number };

  private constructor(key: string, s: readonly number[]) {
    this.streamKey = key;
    this.s0 = s[0] | 0;
    this.s1 = s[1] | 0;
    this.s2 = s[2] | 0;
    this.s3 = s[3] | 0;
  }

  /** A generator whose whole stream is determined by `seed` (an integer or a string). */
  static fromSeed(seed: RngSeed): Rng {
    const key = seedKey(seed);
    return new Rng(key, stateFromKey(key));
  }

  /** A generator continuing exactly where the one that produced `state` was. */
  static fromState(state: RngState): Rng {
    const r = Rng.fromSeed(0);
    r.setState(state);
    return r;
  }

  get key(): string {
    return this.streamKey;
  }

  /** An independent stream named `name`; depends only on this stream's key and the name. */
  fork(name: string): Rng {
    if (typeof name !== 'string' || name.length === 0) throw badArgument('fork name must be a non-empty string', name);
    const key = `${this.streamKey}/${name}`;
    const child = new Rng(key, stateFromKey(key));
    child.shard = this.shard;
    return child;
  }

  /**
   * The same stream for rank `rank` of a data-parallel run of `worldSize` processes: every array draw of
   * n values draws the n × worldSize values of the global batch and returns the rank's n, at
   * [rank·n, (rank+1)·n). Draws whose leading dimension is the per-rank batch thus give each rank exactly
   * the noise the examples of its shard get in one process with the whole global batch, so a K-process
   * run equals a 1-process run with K× the batch up to float summation order. Costs K× the draws.
   */
  sharded(rank: number, worldSize: number): Rng {
    if (!Number.isInteger(worldSize) || worldSize < 1 || !Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
      throw badArgument('shard must have 0 ≤ rank < worldSize', `${rank}/${worldSize}`);
    }
    const copy = Rng.fromState(this.getState());
    copy.shard = worldSize > 1 ? { rank, worldSize } : undefined;
    return copy;
  }

  /** The rank's part of a global draw (identity without a shard). */
  private part<T extends Float32Array | Int32Array | Uint8Array>(n: number, draw: (count: number) => T): T {
    if (!this.shard) return draw(n);
    const all = draw(n * this.shard.worldSize);
    return all.slice(this.shard.rank * n, (this.shard.rank + 1) * n) as T;
  }

  getState(): RngState {
    return { algorithm: 'xoshiro128**', key: this.streamKey, s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0] };
  }

  setState(state: RngState): void {
    const problems = [];
    if (state === null || typeof state !== 'object') {
      throw new ConfigError('random generator state', [{ path: '', message: 'state must be an object', found: JSON.stringify(state) }]);
    }
    if (state.algorithm !== 'xoshiro128**') {
      problems.push({ path: 'algorithm', message: 'unsupported generator', expected: '"xoshiro128**"', found: JSON.stringify(state.algorithm) });
    }
    if (typeof state.key !== 'string' || state.key.length === 0) {
      problems.push({ path: 'key', message: 'key must be a non-empty string', found: JSON.stringify(state.key) });
    }
    const s = state.s;
    if (!Array.isArray(s) || s.length !== 4 || !s.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff)) {
      problems.push({ path: 's', message: 'state must be four unsigned 32-bit integers', found: JSON.stringify(s) });
    } else if ((s[0] | s[1] | s[2] | s[3]) === 0) {
      problems.push({ path: 's', message: 'the all-zero state is invalid', found: JSON.stringify(s) });
    }
    for (const key of Object.keys(state)) {
      if (key !== 'algorithm' && key !== 'key' && key !== 's') problems.push({ path: key, message: 'unknown key' });
    }
    if (problems.length) throw new ConfigError('random generator state', problems);
    this.streamKey = state.key;
    [this.s0, this.s1, this.s2, this.s3] = s.map((w) => w | 0);
  }

  /** Next raw output: an unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9);
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result >>> 0;
  }

  /** Uniform double in [0, 1) with 53 random bits (two raw draws). */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal double (Box–Muller; one of the pair, so two uniforms per value). */
  normal(): number {
    const u1 = 1 - this.uniform(); // (0, 1]: log is finite
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(TWO_PI * u2);
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling); 1 ≤ n ≤ 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) throw badArgument('n must be an integer in [1, 2^32]', n);
    const limit = Math.floor(4294967296 / n) * n;
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** true with probability p. */
  bernoulli(p: number): boolean {
    if (!(p >= 0 && p <= 1)) throw badArgument('probability must be in [0, 1]', p);
    return this.uniform() < p;
  }

  /** n float32 values uniform in [lo, hi) (24 random bits each, one raw draw per value). */
  uniformArray(n: number, lo = 0, hi = 1): Float32Array {
    checkCount(n);
    return this.part(n, (count) => this.uniformValues(count, lo, hi));
  }

  private uniformValues(n: number, lo: number, hi: number): Float32Array {
    const out = new Float32Array(n);
    const span = hi - lo;
    for (let i = 0; i < n; i++) out[i] = lo + span * ((this.nextUint32() >>> 8) * 5.9604644775390625e-8);
    return out;
  }

  /**
   * n float32 normal values (Box–Muller, both values of each pair used; 53-bit uniforms, so tails
   * reach about 8.6 σ). `normalArray(n)` is not the same as n calls of `normal()`.
   */
  normalArray(n: number, mean = 0, std = 1): Float32Array {
    checkCount(n);
    return this.part(n, (count) => this.normalValues(count, mean, std));
  }

  private normalValues(n: number, mean: number, std: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - this.uniform()));
      const a = TWO_PI * this.uniform();
      out[i] = mean + std * r * Math.cos(a);
      if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(a);
    }
    return out;
  }

  /** n integers uniform in [0, maxExclusive). */
  intArray(n: number, maxExclusive: number): Int32Array {
    checkCount(n);
    if (!Number.isInteger(maxExclusive) || maxExclusive < 1 || maxExclusive > 2147483648) {
      throw badArgument('maxExclusive must be an integer in [1, 2^31]', maxExclusive);
    }
    return this.part(n, (count) => this.intValues(count, maxExclusive));
  }

  private intValues(n: number, maxExclusive: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(maxExclusive);
    return out;
  }

  /** n values, 1 with probability p and 0 otherwise. */
  bernoulliArray(n: number, p: number): Uint8Array {
    checkCount(n);
    if (!(p >= 0 && p <= 1)) throw badArgument('probability must be in [0, 1]', p);
    return this.part(n, (count) => this.bernoulliValues(count, p));
  }

  private bernoulliValues(n: number, p: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.uniform() < p ? 1 : 0;
    return out;
  }

  /** Shuffles in place (Fisher–Yates) and returns the same array. */
  shuffle<T extends { length: number; [i: number]: unknown }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  /** A random permutation of 0 … n−1. */
  permutation(n: number): Int32Array {
    checkCount(n);
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}

function checkCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw badArgument('count must be a non-negative integer', n);
}

// ---------------------------------------------------------------------------------------------------------
// tf.Tensor helpers. Values are drawn in JS from `rng`, so they do not depend on the backend.

/** float32 tensor of standard normal values (times std, plus mean). */
export function randomNormal(rng: Rng, shape: readonly number[], mean = 0, std = 1): tf.Tensor {
  return tf.tensor(rng.normalArray(sizeOf(shape), mean, std), shape.slice(), 'float32');
}

/** float32 tensor uniform in [lo, hi). */
export function randomUniform(rng: Rng, shape: readonly number[], lo = 0, hi = 1): tf.Tensor {
  return tf.tensor(rng.uniformArray(sizeOf(shape), lo, hi), shape.slice(), 'float32');
}

/** int32 tensor uniform in [0, maxExclusive) (e.g. timesteps in [0, T)). */
export function randomInt(rng: Rng, shape: readonly number[], maxExclusive: number): tf.Tensor {
  return tf.tensor(rng.intArray(sizeOf(shape), maxExclusive), shape.slice(), 'int32');
}

/** float32 tensor of 0/1 values, 1 with probability p. */
export function bernoulliMask(rng: Rng, shape: readonly number[], p: number): tf.Tensor {
  return tf.tensor(Float32Array.from(rng.bernoulliArray(sizeOf(shape), p)), shape.slice(), 'float32');
}

/**
 * Label dropout for classifier-free guidance: each label becomes `nullClass` with probability p.
 * Draws exactly `labels.size` uniforms from `rng`. Returns a new int32 tensor; `labels` is not disposed.
 */
export function dropLabels(rng: Rng, labels: tf.Tensor1D, p: number, nullClass: number): tf.Tensor1D {
  if (!Number.isInteger(nullClass)) throw badArgument('nullClass must be an integer', nullClass);
  const drop = rng.bernoulliArray(labels.size, p);
  return tf.tidy(() => {
    const mask = tf.tensor1d(drop, 'bool');
    return tf.where(mask, tf.fill([labels.size], nullClass, 'int32'), tf.cast(labels, 'int32')) as tf.Tensor1D;
  });
}

function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw badArgument('shape must hold non-negative integers', JSON.stringify(shape));
    n *= d;
  }
  return n;
}
