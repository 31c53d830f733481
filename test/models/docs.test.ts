import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { unetConfigSchema } from '../../src/models/unet';

/** The rows of the markdown table that follows `heading` in docs/models.md: key → default cell. */
function tableAfter(heading: string): Map<string, string> {
  const text = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'models.md'), 'utf8');
  const start = text.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `docs/models.md has no "${heading}" section`);
  const rows = new Map<string, string>();
  for (const line of text.slice(start).split('\n').slice(2)) {
    if (line.startsWith('#')) break;
    const m = /^\| `([a-z_0-9]+)` \| .*? \| (.*?) \| /.exec(line);
    if (m) rows.set(m[1], m[2]);
  }
  return rows;
}

describe('docs/models.md', () => {
  it('the UNet config table lists exactly the schema keys, with the schema defaults', () => {
    const rows = tableAfter('### Config keys');
    const props = unetConfigSchema.properties as Record<string, { default?: unknown }>;
    const required = new Set(unetConfigSchema.required as string[]);
    assert.deepEqual([...rows.keys()], Object.keys(props));
    for (const [key, cell] of rows) {
      const expected = required.has(key) ? 'required'
        : 'default' in props[key] ? `\`${JSON.stringify(props[key].default).replace(/,/g, ', ')}\`` : '—';
      assert.equal(cell, expected, key);
    }
  });
});
