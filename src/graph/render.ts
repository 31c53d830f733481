/**
 * Graph pictures as text: Mermaid and Graphviz DOT. Edge labels name the ports and say what flows.
 * Mermaid: resources solid, streams thick, `after` dotted. DOT: resources bold, streams dashed, `after`
 * dotted with a circle head.
 */
import type { GraphEdge, ResolvedGraph } from './types';

function edgeLabel(e: GraphEdge): string {
  return e.from.port === e.to.port ? `${e.from.port}` : `${e.from.port} → ${e.to.port}`;
}

function mermaidText(s: string): string {
  return s.replace(/"/g, '#quot;');
}

/** A Mermaid `flowchart LR` of the graph, nodes in topological order. */
export function toMermaid(graph: ResolvedGraph): string {
  const ids = new Map(graph.nodes.map((n, i) => [n.id, `n${i + 1}`]));
  const lines = [
    'flowchart LR',
    '  %% solid arrows: resources (created once); thick arrows: streams (items flow); dotted: "after" (order only)',
  ];
  for (const n of graph.nodes) lines.push(`  ${ids.get(n.id)}["${mermaidText(n.id)}<br/>(${mermaidText(n.type)})"]`);
  for (const e of graph.edges) {
    const arrow = e.kind === 'resource' ? '-->' : '==>';
    lines.push(`  ${ids.get(e.from.node)} ${arrow}|"${mermaidText(`${edgeLabel(e)} (${e.kind}: ${e.type})`)}"| ${ids.get(e.to.node)}`);
  }
  for (const n of graph.nodes) {
    for (const before of n.after) lines.push(`  ${ids.get(before)} -.->|"after"| ${ids.get(n.id)}`);
  }
  return lines.join('\n') + '\n';
}

function dotString(s: string): string {
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"';
}

/** A Graphviz `digraph` of the graph. */
export function toDot(graph: ResolvedGraph): string {
  const lines = [
    `digraph ${dotString(graph.name)} {`,
    '  rankdir=LR;',
    '  node [shape=box, style=rounded, fontname="Helvetica"];',
    '  edge [fontname="Helvetica", fontsize=10];',
  ];
  for (const n of graph.nodes) lines.push(`  ${dotString(n.id)} [label=${dotString(`${n.id}\n${n.type}`)}];`);
  for (const e of graph.edges) {
    const style = e.kind === 'resource' ? 'style=solid, penwidth=2' : 'style=dashed';
    lines.push(`  ${dotString(e.from.node)} -> ${dotString(e.to.node)} [label=${dotString(`${edgeLabel(e)}\n${e.kind}: ${e.type}`)}, ${style}];`);
  }
  for (const n of graph.nodes) {
    for (const before of n.after) lines.push(`  ${dotString(before)} -> ${dotString(n.id)} [label="after", style=dotted, arrowhead=odot];`);
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}
