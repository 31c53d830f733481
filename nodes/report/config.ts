/** `report` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { Json, NodeConfig, Type, type Static } from '../../src/schema/typebox';

export const configSchema = NodeConfig('report node config', 'The run report: report.html and metrics.json in the run folder, and a console summary.', {
  title: Type.Optional(Type.String({ description: 'Report title (default: the metrics\' title).' })),
  print: Type.Boolean({ default: true, description: 'Print the one-screen summary to standard output at the end.' }),
  notes: Type.Optional(Json<Record<string, string | number>>({ type: 'object', additionalProperties: { type: ['string', 'number'] } }, { description: 'Facts shown under "Run" in the report (e.g. what the graph trained).' })),
});

/** The resolved config (schema defaults filled in). */
export type ReportConfig = Static<typeof configSchema>;
