/**
 * `npm run schemas [-- --check]`: writes every node folder's generated files from its config.ts — the
 * built-in nodes (nodes/<folder>/) and the example plugins (plugins/<folder>/): schema.json (for editors)
 * and the README's config table. `--check` writes nothing and exits 1 listing the stale files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nodeFolders } from '../src/schema/node-folders';
import { generatedNodeFiles } from '../src/schema/node-docs';

async function main(): Promise<number> {
  const check = process.argv.includes('--check');
  const root = path.resolve(__dirname, '..');
  const stale: string[] = [];
  for (const folder of nodeFolders(root)) {
    const { configSchema } = (await import(path.join(folder, 'config.ts'))) as { configSchema: Record<string, unknown> };
    const readmeFile = path.join(folder, 'README.md');
    const schemaFile = path.join(folder, 'schema.json');
    const want = generatedNodeFiles(configSchema, fs.readFileSync(readmeFile, 'utf8'));
    for (const [file, text] of [[schemaFile, want.schemaJson], [readmeFile, want.readme]] as const) {
      const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
      if (current === text) continue;
      stale.push(path.relative(root, file));
      if (!check) fs.writeFileSync(file, text);
    }
  }
  if (check) {
    if (stale.length) process.stderr.write(`stale generated files (run \`npm run schemas\` and commit them):\n${stale.map((f) => `  ${f}\n`).join('')}`);
    else process.stdout.write('every node folder\'s schema.json and README config table are current\n');
    return stale.length ? 1 : 0;
  }
  process.stdout.write(stale.length ? `wrote ${stale.join(', ')}\n` : 'nothing to write: every generated file is current\n');
  return 0;
}

main().then((code) => process.exit(code), (err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
