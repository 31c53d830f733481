/**
 * Pins a few draws of every seeded stream Distillery has, so that gathering the generators into one
 * module (src/random) keeps each stream bit-identical: the main job's tables depend on these numbers.
 * Expected values: printed by the four generators as they were before the merge (src/data/random.ts,
 * src/training/rng.ts, src/models/params.ts, src/runtime/executor.ts at commit 6b60e13); tolerance 0
 * (exact equality of the float64 / float32 values and of the integers).
 */
import { strict as assert } from 'node:assert';
import { Rng, mixSeed, mulberry32, seededPermutation, uniformGenerator } from '../../src/random';
import * as dataRandom from '../../src/data/random';
import * as trainingRng from '../../src/training/rng';
import * as params from '../../src/models/params';
import { initValues } from '../../src/models/params';
import { nodeSeed } from '../../src/runtime/executor';

describe('random: every seeded stream is pinned (exact)', () => {
  it('data order: mixSeed (murmur3 mixing), mulberry32 uniforms, seeded permutations', () => {
    assert.deepEqual([mixSeed(1, 2, 3), mixSeed(2 ** 40 + 5, -7), mixSeed()], [3906383291, 2759703971, 2462723854]);
    const u = uniformGenerator(42);
    assert.deepEqual([u(), u(), u(), u()], [0.6011037519201636, 0.44829055899754167, 0.8524657934904099, 0.6697340414393693]);
    assert.deepEqual(Array.from(seededPermutation(10, 7)), [6, 5, 8, 1, 2, 3, 4, 7, 9, 0]);
  });

  it('training: the xoshiro128** Rng — scalars, arrays, forks, string seeds, state, shards', () => {
    const r = Rng.fromSeed(1234);
    assert.deepEqual([r.uniform(), r.normal(), r.int(1000), r.bernoulli(0.5)], [0.2868925992853357, -1.2118110600825853, 290, false]);
    const f = r.fork('noise');
    assert.deepEqual(Array.from(f.uniformArray(3, -1, 1)), [-0.30353546142578125, -0.8164387941360474, -0.5036320686340332]);
    assert.deepEqual(Array.from(f.normalArray(3)), [-0.7050262093544006, 0.13992230594158173, -1.1750980615615845]);
    assert.deepEqual(Array.from(f.intArray(4, 100)), [1, 5, 11, 66]);
    assert.deepEqual(Array.from(f.permutation(6)), [1, 4, 2, 3, 5, 0]);
    assert.deepEqual(f.getState(), { algorithm: 'xoshiro128**', key: '1234/noise', s: [3206055633, 3234280337, 3311800172, 3646106893] });
    assert.deepEqual(Array.from(Rng.fromSeed('teacher/replay').uniformArray(2)), [0.27697843313217163, 0.2528570294380188]);
    assert.deepEqual(Array.from(Rng.fromSeed(9).sharded(1, 2).normalArray(2)), [-2.0739734172821045, 1.4714369773864746]);
  });

  it('models: parameter initialisation streams (FNV-1a of the name and seed → mulberry32)', () => {
    const m = mulberry32(3141592653);
    assert.deepEqual([m(), m(), m()], [0.2648180699907243, 0.6981624327600002, 0.49615513114258647]);
    assert.deepEqual(Array.from(initValues('input_blocks.0.0.weight', 5, { kind: 'uniform', bound: 0.5 }, 3)),
      [-0.18027223646640778, -0.28985360264778137, -0.1069800928235054, 0.09647908806800842, 0.4067031443119049]);
    assert.deepEqual(Array.from(initValues('out.2.bias', 5, { kind: 'normal', std: 0.02 }, 0)),
      [-0.0227122250944376, 0.007946335710585117, -0.007688371930271387, 0.01750764809548855, 0.00381144555285573]);
  });

  it('the former module paths re-export the same generators', () => {
    assert.equal(dataRandom.uniformGenerator, uniformGenerator);
    assert.equal(dataRandom.mixSeed, mixSeed);
    assert.equal(dataRandom.seededPermutation, seededPermutation);
    assert.equal(trainingRng.Rng, Rng);
    assert.equal(params.mulberry32, mulberry32);
  });

  it('runtime: per-node seeds (FNV-1a of "<graph seed>:<node id>", by code point)', () => {
    assert.deepEqual([nodeSeed(0, 'teacher'), nodeSeed(42, 'distill-1'), nodeSeed(-3, 'x\u{1F600}y')], [1222571, 1138576192, 214706392]);
  });
});
