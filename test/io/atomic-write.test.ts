import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tempPathFor, writeFileAtomic, writeFileAtomicSync, writeJsonAtomic, writeJsonAtomicSync } from '../../src/io/atomic-write';

describe('io/atomic-write', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-atomic-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('tempPathFor names a hidden file in the same folder that does not end in the target extension', () => {
    const tmp = tempPathFor(path.join(dir, 'model.safetensors'));
    assert.equal(path.dirname(tmp), dir);
    assert.match(path.basename(tmp), /^\.model\.safetensors\.tmp-\d+-[a-z0-9]+$/);
    assert.notEqual(tempPathFor(path.join(dir, 'a.json')), tempPathFor(path.join(dir, 'a.json')));
  });

  it('replaces a file with text, bytes or streamed writes, leaving no temp file', async () => {
    const file = path.join(dir, 'a.json');
    fs.writeFileSync(file, 'old');
    await writeJsonAtomic(file, { a: 1 });
    assert.equal(fs.readFileSync(file, 'utf8'), '{\n  "a": 1\n}\n');
    await writeFileAtomic(file, new Uint8Array([104, 105]));
    assert.equal(fs.readFileSync(file, 'utf8'), 'hi');
    await writeFileAtomic(file, async (fh) => {
      await fh.write('one ');
      await fh.write('two');
    }, { fsync: false });
    assert.equal(fs.readFileSync(file, 'utf8'), 'one two');
    writeJsonAtomicSync(file, [1, 2]);
    assert.equal(fs.readFileSync(file, 'utf8'), '[\n  1,\n  2\n]\n');
    writeFileAtomicSync(file, 'sync', { fsync: false });
    assert.equal(fs.readFileSync(file, 'utf8'), 'sync');
    assert.deepEqual(fs.readdirSync(dir), ['a.json']);
  });

  it('a failing writer leaves the old file untouched and removes the temp file, rethrowing the error', async () => {
    const file = path.join(dir, 'b.safetensors');
    fs.writeFileSync(file, 'old');
    await assert.rejects(writeFileAtomic(file, async (fh) => {
      await fh.write('half');
      throw new RangeError('disk full (simulated)');
    }), /^RangeError: disk full \(simulated\)$/);
    assert.equal(fs.readFileSync(file, 'utf8'), 'old');
    assert.deepEqual(fs.readdirSync(dir), ['b.safetensors']);
  });

  it('a missing folder fails before anything is written (both forms), naming the temp path', async () => {
    const file = path.join(dir, 'missing', 'c.json');
    await assert.rejects(writeJsonAtomic(file, {}), /ENOENT: no such file or directory, open '.*\.c\.json\.tmp-/);
    assert.throws(() => writeJsonAtomicSync(file, {}), /ENOENT: no such file or directory, open '.*\.c\.json\.tmp-/);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});
