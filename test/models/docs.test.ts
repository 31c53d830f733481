import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { autoencoderConfigSchema } from '../../src/models/autoencoder';
import { classifierConfigSchema } from '../../src/models/classifier';
import { unetConfigSchema } from '../../src/models/unet';

/** The rows of the markdown table that follows `heading` in docs/models.md: key → default cell. */
function tableAfter(heading: string, defaultColumn = 3): Map<string, string> {
  const text = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'models.md'), 'utf8');
  const start = text.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `docs/models.md has no "${heading}" section`);
  const rows = new Map<string, string>();
  for (const line of text.slice(start).split('\n').slice(2)) {
    if (line.startsWith('#')) break;
    const cells = line.split(' | ');
    const m = /^\| `([a-z_0-9]+)`$/.exec(cells[0]);
    if (m) rows.set(m[1], cells[defaultColumn - 1]);
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

  for (const [heading, schema] of [
    ['## Autoencoder (`src/models/autoencoder.ts`)', autoencoderConfigSchema],
    ['## Classifier (`src/models/classifier.ts`)', classifierConfigSchema],
  ] as const) {
    it(`${heading.slice(3)}: the config table lists exactly the schema keys and defaults`, () => {
      const text = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'models.md'), 'utf8');
      const section = text.slice(text.indexOf(heading));
      const rows = new Map<string, string>();
      for (const line of section.split('\n').slice(1)) {
        if (line.startsWith('## ')) break;
        const cells = line.split(' | ');
        const m = /^\| `([a-z_0-9]+)`$/.exec(cells[0]);
        if (m) rows.set(m[1], cells[1]);
      }
      const props = schema.properties as Record<string, { default?: unknown }>;
      assert.deepEqual([...rows.keys()], Object.keys(props));
      for (const [key, cell] of rows) assert.equal(cell, `\`${JSON.stringify(props[key].default).replace(/,/g, ', ')}\``, key);
    });
  }
});
