/**
 * The invalid-graph corpus: every file under test/fixtures/graphs/invalid/ states, in `// expect:` lines,
 * every problem the validator must report, in order, as `<line>:<col> <problem>` (or `- <problem>` for a
 * problem with no file position, e.g. from `--set`), where <problem> is `formatProblem` without the file.
 * `// set:` lines are `--set` arguments. Expected positions were checked by hand against the file text.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatProblem, GraphValidationError } from '../../src/errors';
import { loadGraph, validateGraph } from '../../src/graph';
import { makeTestRegistry } from '../fixtures/graphs/node-types';

const dir = 'test/fixtures/graphs/invalid';
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json5')).sort();

function header(text: string, tag: 'expect' | 'set'): string[] {
  return [...text.matchAll(new RegExp(`^// ${tag}: (.*)$`, 'gm'))].map((m) => m[1]);
}

describe('invalid graph corpus', () => {
  it('has at least 35 files, each with expectations', () => {
    assert.ok(files.length >= 35, `only ${files.length} files`);
    for (const f of files) assert.ok(header(fs.readFileSync(path.join(dir, f), 'utf8'), 'expect').length > 0, f);
  });

  for (const name of files) {
    it(name, async () => {
      const file = path.join(dir, name);
      const text = fs.readFileSync(file, 'utf8');
      const expected = header(text, 'expect');
      const sets = header(text, 'set');
      const result = await validateGraph(file, { registry: makeTestRegistry(), sets });
      assert.equal(result.graph, undefined);
      const actual = result.problems.map((p) => {
        if (p.position) assert.equal(p.position.file, file);
        const where = p.position ? `${p.position.line}:${p.position.column}` : '-';
        return `${where} ${formatProblem({ ...p, position: undefined })}`;
      });
      assert.deepEqual(actual, expected);

      // loadGraph throws one error carrying the same problems, each rendered with file:line:col.
      await assert.rejects(loadGraph(file, { registry: makeTestRegistry(), sets }), (err: unknown) => {
        assert.ok(err instanceof GraphValidationError);
        assert.equal(err.code, 'GRAPH_INVALID');
        assert.equal(err.problems.length, expected.length);
        for (const p of err.problems) assert.ok(err.message.includes(formatProblem(p)), formatProblem(p));
        return true;
      });
    });
  }
});
