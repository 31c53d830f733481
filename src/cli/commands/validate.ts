/** `distillery validate <graph> [--set …]`: every problem at once (exit 2), or "ok" and a summary. */
import type { Command } from 'commander';
import { formatProblem } from '../../errors';
import { validateGraph } from '../../graph/validate';
import type { ResolvedGraph } from '../../graph/types';
import { createRegistry } from '../../../nodes/builtin-registry';
import { collect, EXIT_INVALID, EXIT_OK, type CliIO } from '../io';

/** The summary `validate` prints for a good graph: nodes with their types and inputs, edges, order. */
export function summarizeGraph(graph: ResolvedGraph): string {
  const lines = [`graph "${graph.name}"${graph.description ? `: ${graph.description}` : ''}`, `seed: ${graph.seed}`];
  if (graph.plugins.length) lines.push(`plugins: ${graph.loadedPlugins.map((p) => p.source).join(', ')}`);
  const streams = graph.edges.filter((e) => e.kind === 'stream').length;
  lines.push(`nodes (${graph.nodes.length}, in run order):`);
  const width = Math.max(...graph.nodes.map((n) => n.id.length));
  for (const n of graph.nodes) {
    const after = n.after.length ? `  after: ${n.after.join(', ')}` : '';
    lines.push(`  ${n.id.padEnd(width)}  ${n.type}${after}`);
  }
  lines.push(`edges (${graph.edges.length}: ${graph.edges.length - streams} resource, ${streams} stream):`);
  for (const e of graph.edges) lines.push(`  ${e.from.node}.${e.from.port} -> ${e.to.node}.${e.to.port}  (${e.kind}: ${e.type})`);
  return lines.join('\n') + '\n';
}

export function registerValidateCommand(program: Command, io: CliIO, setExit: (code: number) => void): Command {
  return program
    .command('validate')
    .description('check a graph file without running it: syntax, schema, node configs, connections; prints every problem')
    .argument('<graph>', 'graph file (.json5 or .json)')
    .option('--set <nodeId.config.key=value>', 'override a node config value (repeatable; value parsed as JSON5)', collect, [])
    .action(async (file: string, options: { set: string[] }) => {
      const result = await validateGraph(file, { registry: createRegistry(), sets: options.set });
      if (!result.graph) {
        for (const p of result.problems) io.err(formatProblem(p) + '\n');
        io.err(`${file}: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'} found\n`);
        setExit(EXIT_INVALID);
        return;
      }
      io.out(`ok: ${file}\n` + summarizeGraph(result.graph));
      setExit(EXIT_OK);
    });
}
