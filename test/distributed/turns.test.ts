import { strict as assert } from 'node:assert';
import { Turns } from '../../src/distributed/turns';

describe('distributed: Turns (collective-using nodes run one at a time, in topological order)', () => {
  it('grants turns in the given order whatever order the nodes ask in, and skips released ones', async () => {
    const turns = new Turns(['teacher', 'classifier', 'evaluate']);
    const granted: string[] = [];
    const evaluate = turns.wait('evaluate').then(() => granted.push('evaluate'));
    const classifier = turns.wait('classifier').then(() => granted.push('classifier'));
    await turns.wait('teacher');
    granted.push('teacher');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(granted, ['teacher']);
    turns.release('teacher');
    await classifier;
    assert.deepEqual(granted, ['teacher', 'classifier']);
    turns.release('classifier');
    turns.release('classifier'); // idempotent
    await evaluate;
    assert.deepEqual(granted, ['teacher', 'classifier', 'evaluate']);
  });

  it('a node that failed before its turn releases it, and nodes outside the order never wait', async () => {
    const turns = new Turns(['a', 'b']);
    turns.release('a');
    await turns.wait('b');
    await turns.wait('data');
  });
});
