/** The one did-you-mean of the project (src/schema/suggest.ts): distances, the closeness rule, the hint text. */
import { strict as assert } from 'node:assert';
import { closestMatch, editDistance, suggestionHint } from '../../src/schema/suggest';

describe('schema/suggest: closestMatch / editDistance / suggestionHint', () => {
  it('computes edit distances; a swap of two neighbouring characters is one edit', () => {
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('abc', 'abc'), 0);
    assert.equal(editDistance('ddim', 'ddpm'), 1);
    assert.equal(editDistance('modle', 'model'), 1);
    assert.equal(editDistance('betaStrat', 'betaStart'), 1);
    assert.equal(editDistance('ab', 'ba'), 1);
    assert.equal(editDistance('abc', 'ca'), 3); // optimal string alignment: no edits inside a swapped pair
  });

  it('returns a match only within a third of the length (1 to 3 edits); case and separators alone always match', () => {
    assert.equal(closestMatch('ddim-samplr', ['ddim-sampler', 'ddpm-sampler']), 'ddim-sampler');
    assert.equal(closestMatch('ab', ['xy']), undefined);
    assert.equal(closestMatch('ab', ['ac']), 'ac');
    assert.equal(closestMatch('modle', ['target', 'model']), 'model');
    assert.equal(closestMatch('BetaSchedule', ['betaSchedule']), 'betaSchedule');
    // camelCase for snake_case (a diffusers config written with this project's key names): any length.
    assert.equal(closestMatch('teacherMaxTrainSteps', ['beta_start', 'teacher_max_train_steps']), 'teacher_max_train_steps');
    assert.equal(closestMatch('ddimsampler', ['ddim-sampler']), 'ddim-sampler');
    assert.equal(closestMatch('completely-different', ['unet']), undefined);
    assert.equal(closestMatch('x', []), undefined);
  });

  it('hints "did you mean", else the list of what exists (cut at the limit)', () => {
    assert.equal(suggestionHint('lrr', ['lr', 'eps'], 'known properties'), 'did you mean "lr"?');
    assert.equal(suggestionHint('zzz', ['lr', 'eps'], 'known properties'), 'known properties: "lr", "eps"');
    assert.equal(suggestionHint('zzz', [], 'node types'), 'there are no node types');
    assert.equal(suggestionHint('zzzzzz', ['a1', 'a2', 'a3'], 'ids', 2), 'ids: "a1", "a2", … (3 in all)');
  });
});
