/** The node folders of the package: every `nodes/<folder>/` and `plugins/<folder>/` that has a config.ts. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export function nodeFolders(root: string): string[] {
  const out: string[] = [];
  for (const parent of ['nodes', 'plugins']) {
    const dir = path.join(root, parent);
    if (!fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir).sort()) {
      const folder = path.join(dir, name);
      if (fs.existsSync(path.join(folder, 'config.ts'))) out.push(folder);
    }
  }
  return out;
}
