/** Mermaid and DOT output for the basic fixture graph (expected text written out by hand from the graph). */
import { strict as assert } from 'node:assert';
import { loadGraph, toDot, toMermaid, type ResolvedGraph } from '../../src/graph';
import { makeTestRegistry } from '../fixtures/graphs/node-types';

async function basic(): Promise<ResolvedGraph> {
  return loadGraph('test/fixtures/graphs/valid/basic.json5', { registry: makeTestRegistry() });
}

describe('graph rendering', () => {
  it('toMermaid: nodes with types, port-labelled edges, resource/stream/after edges styled apart', async () => {
    assert.equal(toMermaid(await basic()), [
      'flowchart LR',
      '  %% solid arrows: resources (created once); thick arrows: streams (items flow); dotted: "after" (order only)',
      '  n1["data<br/>(test-source)"]',
      '  n2["model<br/>(test-model)"]',
      '  n3["schedule<br/>(test-scheduler)"]',
      '  n4["train<br/>(test-trainer)"]',
      '  n5["losses<br/>(test-sink)"]',
      '  n6["inspect<br/>(test-inspect)"]',
      '  n2 -->|"model (resource: model)"| n4',
      '  n1 ==>|"batches (stream: batch)"| n4',
      '  n3 -->|"scheduler (resource: scheduler)"| n4',
      '  n4 ==>|"metrics → items (stream: metrics)"| n5',
      '  n4 -->|"trained → thing (resource: model)"| n6',
      '  n5 -.->|"after"| n6',
      '',
    ].join('\n'));
  });

  it('toDot: a digraph with bold resource edges, dashed stream edges and dotted after edges', async () => {
    assert.equal(toDot(await basic()), [
      'digraph "basic-test" {',
      '  rankdir=LR;',
      '  node [shape=box, style=rounded, fontname="Helvetica"];',
      '  edge [fontname="Helvetica", fontsize=10];',
      '  "data" [label="data\\ntest-source"];',
      '  "model" [label="model\\ntest-model"];',
      '  "schedule" [label="schedule\\ntest-scheduler"];',
      '  "train" [label="train\\ntest-trainer"];',
      '  "losses" [label="losses\\ntest-sink"];',
      '  "inspect" [label="inspect\\ntest-inspect"];',
      '  "model" -> "train" [label="model\\nresource: model", style=solid, penwidth=2];',
      '  "data" -> "train" [label="batches\\nstream: batch", style=dashed];',
      '  "schedule" -> "train" [label="scheduler\\nresource: scheduler", style=solid, penwidth=2];',
      '  "train" -> "losses" [label="metrics → items\\nstream: metrics", style=dashed];',
      '  "train" -> "inspect" [label="trained → thing\\nresource: model", style=solid, penwidth=2];',
      '  "losses" -> "inspect" [label="after", style=dotted, arrowhead=odot];',
      '}',
      '',
    ].join('\n'));
  });

  it('escapes quotes in DOT and Mermaid labels', async () => {
    const g = await basic();
    const odd: ResolvedGraph = { ...g, name: 'say "hi"', nodes: g.nodes.map((n) => ({ ...n, type: n.id === 'data' ? 'a"b' : n.type })) };
    assert.ok(toDot(odd).startsWith('digraph "say \\"hi\\"" {'));
    assert.ok(toDot(odd).includes('"data" [label="data\\na\\"b"];'));
    assert.ok(toMermaid(odd).includes('n1["data<br/>(a#quot;b)"]'));
  });
});
