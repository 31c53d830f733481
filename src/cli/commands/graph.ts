/** `distillery graph <graph> --format mermaid|dot`: the resolved graph as a picture description. */
import { Option, type Command } from 'commander';
import { loadGraph } from '../../graph/validate';
import { toDot, toMermaid } from '../../graph/render';
import { createRegistry } from '../../../nodes/builtin-registry';
import { collect, EXIT_OK, type CliIO } from '../io';

export function registerGraphCommand(program: Command, io: CliIO, setExit: (code: number) => void): Command {
  return program
    .command('graph')
    .description('print the graph as Mermaid or Graphviz DOT (resources, streams and "after" edges drawn differently)')
    .argument('<graph>', 'graph file (.json5 or .json)')
    .addOption(new Option('--format <format>', 'output format').choices(['mermaid', 'dot']).default('mermaid'))
    .option('--set <nodeId.config.key=value>', 'override a node config value (repeatable)', collect, [])
    .action(async (file: string, options: { format: 'mermaid' | 'dot'; set: string[] }) => {
      const graph = await loadGraph(file, { registry: createRegistry(), sets: options.set });
      io.out(options.format === 'dot' ? toDot(graph) : toMermaid(graph));
      setExit(EXIT_OK);
    });
}
