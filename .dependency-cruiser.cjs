/**
 * The layer map (docs/concepts.md, "Where things are"), enforced.
 * Read top-down; an import may only point down the list, never up, and never sideways between backends:
 *
 *   1. src/cli                         commands, flags, exit codes
 *   2. src/runtime                     the executor: DI container per run, streams, run folder, progress, signals
 *   3. nodes/, plugins/                one node type per folder (and the list of built-ins)
 *   4. src/stage-engine                what several nodes share: training loop, resume, checkpoints
 *   4b. src/streams                    the stream protocol (pull, consume, batch streams): RxJS, no DI
 *   5. src/diffusion, src/models, src/training, src/eval, src/data, src/ldm, src/report, src/distributed, src/util
 *                                      the math and the models (src/ldm: the imported latent-diffusion model
 *                                      and its first stage): no RxJS, no DI
 *   6. src/backends/<name>             implement the kernel contracts of src/kernels
 *   7. src/io, src/kernels, src/random file formats; kernel contracts (names and attribute types); seeded randomness
 *   8. src/graph, src/schema, src/registry, src/errors.ts, src/event-loop.ts   pure data and checks
 *
 * src/index.ts (the public API) sits above everything. `test/layering.test.ts` runs this file, so
 * `npm test` and `.ci/run` enforce it; `npx depcruise --config .dependency-cruiser.cjs src nodes plugins`
 * prints every violation.
 */

/** Each layer: its name, the paths it owns, and (for the messages) what it may import. */
const LAYERS = [
  { name: 'cli', path: '^src/cli/' },
  { name: 'runtime', path: '^src/runtime/' },
  { name: 'nodes', path: '^(nodes|plugins)/' },
  { name: 'stage engine', path: '^src/stage-engine/' },
  { name: 'streams', path: '^src/streams/' },
  { name: 'math', path: '^src/(diffusion|models|training|eval|data|ldm|report|distributed|util)/' },
  { name: 'backends', path: '^src/backends/' },
  { name: 'io', path: '^src/(io|kernels|random)/' },
  { name: 'base', path: '^src/(graph|schema|registry)/|^src/(errors|event-loop)\\.ts$' },
];

const DESCRIBE = {
  cli: 'src/cli (commands) may import every layer below it',
  runtime: 'src/runtime may import nodes/, the stage engine, src/streams, the math layer, backends, io and the base layer — never src/cli',
  nodes: 'nodes/ and plugins/ may import the stage engine, src/streams, the math layer, backends, io and the base layer — never src/runtime or src/cli',
  'stage engine': 'the stage engine (src/stage-engine) may import src/streams, the math layer, backends, io and the base layer — never nodes/, src/runtime or src/cli',
  streams: 'src/streams (the stream protocol) may import the math layer (src/data), backends, io and the base layer — never the stage engine, nodes/, src/runtime or src/cli',
  math: 'the math layer (src/diffusion, models, training, eval, data, ldm, report, distributed, util) may import backends, io (with src/kernels and src/random) and the base layer — never src/streams, the stage engine, nodes/, src/runtime or src/cli',
  backends: 'src/backends/<name> may import only src/backends/types.ts and precision.ts, io, src/random, src/kernels (the contracts it implements) and the base layer — never src/training, src/models or any layer above',
  io: 'src/io, src/kernels and src/random may import only src/io, src/kernels, src/random and the base layer (graph, schema, registry, errors, event-loop) — nothing above',
  base: 'src/graph, src/schema, src/registry, src/errors.ts and src/event-loop.ts may import only each other (and JSON-only packages such as ajv) — nothing above',
};

const upward = LAYERS.slice(1).map((layer, i) => ({
  name: `layer-${layer.name.replace(/ /g, '-')}`,
  severity: 'error',
  comment: `${DESCRIBE[layer.name]}.`,
  from: { path: layer.path, pathNot: '\\.test\\.ts$' },
  to: { path: LAYERS.slice(0, i + 1).map((l) => `(${l.path})`).join('|') },
}));

const BACKEND = '^src/backends/(libtorch|wasm|webgpu|cpu|tfjs-node)(/|\\.ts$)';

module.exports = {
  forbidden: [
    ...upward,
    {
      name: 'backends-not-each-other',
      severity: 'error',
      comment: 'A backend (src/backends/<name>) never imports another backend or the selector (select.ts, index.ts); ' +
        'what two backends share is a kernel contract in src/kernels or a type in src/backends/types.ts / precision.ts.',
      from: { path: BACKEND },
      to: { path: '^src/backends/(libtorch|wasm|webgpu|cpu|tfjs-node|select|index)(/|\\.ts$)', pathNot: '^src/backends/$1(/|\\.ts$)' },
    },
    {
      name: 'base-no-tensors-streams-di',
      severity: 'error',
      comment: 'src/graph, src/schema, src/registry and src/errors.ts know nothing of TensorFlow.js, RxJS or inversify: ' +
        'they may import only each other, node: built-ins and JSON tools (ajv, json5, momoa).',
      from: { path: '^src/(graph|schema|registry)/|^src/errors\\.ts$' },
      to: { path: 'node_modules/(@tensorflow|rxjs|inversify)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'base-types-no-tensors-streams-di',
      severity: 'error',
      comment: 'Only src/registry/types.ts (the node API: NodeContext streams and container) may name RxJS or inversify types, ' +
        'and only as type-only imports, which compile away.',
      from: { path: '^src/(graph|schema|registry)/|^src/errors\\.ts$', pathNot: '^src/registry/types\\.ts$' },
      to: { path: 'node_modules/(@tensorflow|rxjs|inversify)/' },
    },
    {
      name: 'backend-internals-private',
      severity: 'error',
      comment: 'Outside src/backends, code reaches a backend only through src/backends/index.ts (select, types, precision); ' +
        'fused ops are called through their contract in src/kernels, never through one backend\'s files.',
      from: { path: '^(src|nodes|plugins)/', pathNot: '^src/backends/|\\.test\\.ts$' },
      to: { path: BACKEND },
    },
    {
      name: 'runtime-not-builtin-nodes',
      severity: 'error',
      comment: 'src/runtime runs whatever registry it is given; the built-in node list (nodes/index.ts, nodes/builtin-registry.ts) ' +
        'is wired in by the caller (src/cli, src/index.ts).',
      from: { path: '^src/runtime/' },
      to: { path: '^nodes/' },
    },
    {
      name: 'schema-below-registry',
      severity: 'error',
      comment: 'src/schema (JSON Schema, ajv, problems, did-you-mean) is the bottom of the base layer: it may import only src/errors.ts; ' +
        'src/registry may import src/schema, src/graph may import both.',
      from: { path: '^src/schema/' },
      to: { path: '^src/(graph|registry)/' },
    },
    {
      name: 'registry-below-graph',
      severity: 'error',
      comment: 'src/registry may import src/schema and src/errors.ts, never src/graph.',
      from: { path: '^src/registry/' },
      to: { path: '^src/graph/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles between modules (type-only imports included).',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$|^dist/|^test/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
