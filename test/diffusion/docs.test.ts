/** docs/schedulers.md against the code: every config key and default, every export, the CLI blocks. */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import * as diffusion from '../../src/diffusion';
import { registerScheduleCommand } from '../../src/cli/commands/schedule';

const ROOT = path.join(__dirname, '../..');
const doc = fs.readFileSync(path.join(ROOT, 'docs/schedulers.md'), 'utf8');

describe('docs/schedulers.md', () => {
  it('has one row per config key with its diffusers name and the schema default, and no other key rows', () => {
    const rows = doc.split('\n').filter((l) => /^\| `[a-zA-Z]+` \| `[a-z_]+` \|/.test(l));
    const keys = Object.keys(diffusion.noiseScheduleConfigSchema.properties);
    assert.deepEqual(rows.map((r) => r.split('`')[1]), keys);
    for (const [key, prop] of Object.entries(diffusion.noiseScheduleConfigSchema.properties)) {
      const row = rows.find((r) => r.startsWith(`| \`${key}\` `))!;
      const cells = row.split('|').map((c) => c.trim());
      assert.equal(cells[2], `\`${diffusion.DIFFUSERS_KEY_OF[key as keyof diffusion.NoiseScheduleConfig]}\``, key);
      assert.equal(cells[3], `\`${JSON.stringify((prop as { default: unknown }).default)}\``, key);
    }
  });

  it('mentions every runtime export of src/diffusion', () => {
    const missing = Object.keys(diffusion).filter((name) => !doc.includes(`\`${name}\``));
    assert.deepEqual(missing, []);
  });

  it('its example diffusers file is a real file that loads', () => {
    assert.match(doc, /\(examples\/cin256-scheduler_config\.json\)/);
    const s = diffusion.readNoiseScheduleFile(path.join(ROOT, 'docs/examples/cin256-scheduler_config.json'));
    assert.equal(s.config.stepsOffset, 1);
  });

  it('the `distillery schedule` blocks are what the command prints', async () => {
    const blocks = [...doc.matchAll(/```console\n\$ npx distillery schedule (.*)\n([\s\S]*?)```/g)];
    assert.equal(blocks.length, 2);
    for (const [, args, expected] of blocks) {
      let out = '';
      const program = new Command('distillery').exitOverride();
      registerScheduleCommand(program, (t) => (out += t));
      const cwd = process.cwd();
      process.chdir(ROOT);
      try {
        await program.parseAsync(['node', 'distillery', 'schedule', ...args.split(' ')]);
      } finally {
        process.chdir(cwd);
      }
      assert.equal(out, expected);
    }
  });
});
