import { strict as assert } from 'node:assert';
import { decodePng, encodeImageGrid, toByte } from '../../src/io/png';

describe('io/png', () => {
  it('maps [-1, 1] to bytes with clipping', () => {
    assert.equal(toByte(-1), 0);
    assert.equal(toByte(1), 255);
    assert.equal(toByte(0), 128); // 127.5 rounds up
    assert.equal(toByte(-3), 0);
    assert.equal(toByte(7), 255);
  });

  it('lays out rows × cols grey images with padding and scaling', () => {
    // Two 2×2 images in one row: image 0 all white, image 1 all black; padding 1, scale 2.
    const px = new Float32Array([1, 1, 1, 1, -1, -1, -1, -1]);
    const png = decodePng(encodeImageGrid(px, [2, 2, 2, 1], { rows: 1, cols: 2, padding: 1, scale: 2 }));
    assert.equal(png.width, 2 * 4 + 3);
    assert.equal(png.height, 4 + 2);
    const at = (x: number, y: number) => png.data[(y * png.width + x) * 4];
    assert.equal(at(0, 0), 255); // padding (white background)
    assert.equal(at(1, 1), 255); // image 0
    assert.equal(at(4, 4), 255);
    assert.equal(at(6, 1), 0); // image 1 starts at x = 1 + 4 + 1
    assert.equal(at(9, 4), 0);
    assert.equal(at(10, 4), 255); // right padding
  });

  it('rejects a grid that does not match the image count, naming both numbers', () => {
    assert.throws(() => encodeImageGrid(new Float32Array(12), [3, 2, 2, 1], { rows: 2, cols: 2 }),
      /rows×cols: grid cells must equal the number of images \(expected 3, found 4\)/);
  });
});
