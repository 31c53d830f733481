/** Integer hashes that derive seeds: murmur3's mixing for numbers, FNV-1a for names. */

/** murmur3's 32-bit finaliser (fmix32): avalanches every input bit into every output bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Mixes integers into one 32-bit seed (murmur3's block mixing per word, then its finaliser). */
export function mixSeed(...words: number[]): number {
  let h = 0x9e3779b9;
  for (const word of words) {
    let k = Math.imul((word | 0) ^ (Math.floor(word / 4294967296) | 0), 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  return fmix32(h);
}

/** FNV-1a's 32-bit offset basis. */
export const FNV1A_OFFSET = 0x811c9dc5;

/**
 * 32-bit FNV-1a of a string, starting from `basis`. `by` picks the characters hashed: UTF-16 code units
 * (parameter names) or code points (node seeds); the two differ only for characters outside the BMP, and
 * each caller keeps the one its stream was defined with.
 */
export function fnv1a32(text: string, basis = FNV1A_OFFSET, by: 'code-unit' | 'code-point' = 'code-unit'): number {
  let h = basis >>> 0;
  if (by === 'code-unit') {
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  } else {
    for (const ch of text) {
      h ^= ch.codePointAt(0)!;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h >>> 0;
}
