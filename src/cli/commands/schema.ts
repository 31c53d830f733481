/**
 * `distillery schema [--check] [--out file] [--plugin spec …]`: writes the JSON Schema of the whole graph
 * file (every registered node type's config and inputs included) for editors; `--check` verifies it is
 * current (CI runs it) and exits 1 when it is stale.
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { defaultFullSchemaPath } from '../../schema/files';
import { isGraphJsonSchemaCurrent, writeGraphJsonSchema } from '../../schema/full-schema';
import { collect, EXIT_FAILURE, EXIT_OK, type CliIO } from '../io';
import { registryWithPlugins } from './nodes';

export function registerSchemaCommand(program: Command, io: CliIO, setExit: (code: number) => void): Command {
  return program
    .command('schema')
    .description('write schemas/graph.full.schema.json from the registered node types (or check that it is current)')
    .option('--check', 'do not write; exit 1 when the file differs from what would be written')
    .option('--out <file>', 'where to write (default: the package\'s schemas/graph.full.schema.json)')
    .option('--plugin <spec>', 'include this plugin\'s node types (a folder path or an installed package; repeatable)', collect, [])
    .action(async (options: { check?: boolean; out?: string; plugin: string[] }) => {
      const registry = await registryWithPlugins(options.plugin);
      const file = options.out !== undefined ? path.resolve(options.out) : defaultFullSchemaPath();
      const shown = path.relative(process.cwd(), file) || file;
      const count = registry.list().length;
      if (options.check) {
        if (isGraphJsonSchemaCurrent(registry, file)) {
          io.out(`${shown} is current (${count} node types)\n`);
          setExit(EXIT_OK);
        } else {
          io.err(`${shown} is stale or missing: regenerate it with \`npx distillery schema\` and commit it\n`);
          setExit(EXIT_FAILURE);
        }
        return;
      }
      writeGraphJsonSchema(registry, file);
      io.out(`wrote ${shown} (${count} node types)\n`);
      setExit(EXIT_OK);
    });
}
