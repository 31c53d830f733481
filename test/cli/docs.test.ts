/** The framework docs match the code: every CLI command and flag is documented; code quoted from files is verbatim. */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { buildProgram } from '../../src/cli/main';
import type { CliIO } from '../../src/cli/io';
import type { Command } from 'commander';

const read = (f: string): string => fs.readFileSync(f, 'utf8');

/** Fenced code blocks of a markdown text with their language tag. */
function codeBlocks(markdown: string): { lang: string; body: string }[] {
  const out: { lang: string; body: string }[] = [];
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(markdown); m; m = re.exec(markdown)) out.push({ lang: m[1], body: m[2] });
  return out;
}

describe('docs', () => {
  it('docs/cli.md documents every command and every option', () => {
    const io: CliIO = { out: () => {}, err: () => {}, progressStream: process.stderr, handleSignals: false };
    const program = buildProgram(io, () => {});
    const doc = read('docs/cli.md');
    // Every leaf command, with its parents' names: `validate`, …, `import ldm`.
    const leaves: { name: string; command: Command }[] = [];
    const walk = (c: Command, prefix: string): void => {
      for (const sub of c.commands) {
        const name = prefix ? `${prefix} ${sub.name()}` : sub.name();
        if (sub.commands.length) walk(sub, name);
        else leaves.push({ name, command: sub });
      }
    };
    walk(program, '');
    assert.ok(leaves.length >= 6);
    for (const { name, command } of leaves) {
      const heading = new RegExp(`^## \`${name}( <[a-z]+>)?\`$`, 'm');
      assert.match(doc, heading, `no section for ${name}`);
      // `\|` is how a table cell writes a `|` (e.g. `--dtype <F16\|F32>`).
      const section = doc.slice(doc.search(heading)).split(/^## /m)[1].replace(/\\\|/g, '|');
      for (const option of command.options) {
        assert.ok(section.includes(`\`${option.flags}\``), `${name}: option ${option.flags} is not documented in its section`);
      }
    }
    for (const code of ['0', '1', '2', '130']) assert.match(doc, new RegExp(`^\\| \`${code}\` \\|`, 'm'));
  });

  it('README shows graphs/mnist/statistics.json5 verbatim', () => {
    const block = codeBlocks(read('README.md')).find((b) => b.lang === 'json5');
    assert.ok(block);
    assert.equal(block.body, read('graphs/mnist/statistics.json5'));
  });

  it('docs/plugins.md quotes the example plugin verbatim', () => {
    const blocks = codeBlocks(read('docs/plugins.md'));
    const index = ['index.ts', 'config.ts', 'batch-statistics.test.ts'].map((f) => read(`plugins/batch-statistics/${f}`)).join('\n');
    const schema = read('plugins/batch-statistics/schema.json');
    const graph = read('graphs/mnist/statistics.json5');
    const quoted = blocks.filter((b) => (b.lang === 'ts' && !b.body.startsWith('interface')) || b.lang === 'json' || b.lang === 'json5');
    assert.equal(quoted.length, 7);
    for (const b of quoted) {
      const source = b.lang === 'ts' ? index : b.lang === 'json' ? schema : graph;
      assert.ok(source.includes(b.body), `not verbatim in the plugin's files:\n${b.body}`);
    }
  });
});
