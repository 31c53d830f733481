/**
 * What is generated from a node type's config schema (its config.ts): the checked-in `schema.json` (for
 * editors) and the README's config table, between the markers below. `npm run schemas` writes both;
 * `npm run schemas -- --check` and the conformance suite fail when a checked-in copy differs.
 *
 * Pure data and text (no TF.js, no RxJS).
 */
import type { JsonSchema } from './json-schema';
import { renderConfigSchema } from './typebox';

export const CONFIG_TABLE_BEGIN = '<!-- config:begin (generated from config.ts by `npm run schemas`; do not edit) -->';
export const CONFIG_TABLE_END = '<!-- config:end -->';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function rows(schema: Record<string, unknown>, prefix: string): string[] {
  const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  const out: string[] = [];
  for (const [key, p] of Object.entries(props)) {
    const dflt = 'default' in p ? `\`${JSON.stringify(p.default)}\`` : required.has(key) ? 'required' : '—';
    out.push(`| \`${prefix}${key}\` | ${dflt} | ${cell(String(p.description ?? ''))} |`);
    if (p.type === 'object' && p.properties && !prefix) out.push(...rows(p, `${key}.`));
  }
  return out;
}

/** The README config table of a schema: one row per key (and per key of a nested object), default, meaning. */
export function configTableMarkdown(schema: JsonSchema): string {
  const body = rows(schema, '');
  return ['| key | default | meaning |', '| --- | --- | --- |', ...(body.length ? body : ['| (none) | | |'])].join('\n');
}

/**
 * The README text with its generated config table: replaces what is between the markers, or (first run)
 * the hand-written table of the `## Config` section, or appends a `## Config` section.
 */
export function withConfigTable(readme: string, schema: JsonSchema): string {
  const block = `${CONFIG_TABLE_BEGIN}\n${configTableMarkdown(schema)}\n${CONFIG_TABLE_END}`;
  const begin = readme.indexOf(CONFIG_TABLE_BEGIN);
  const end = readme.indexOf(CONFIG_TABLE_END);
  if (begin >= 0 && end > begin) return readme.slice(0, begin) + block + readme.slice(end + CONFIG_TABLE_END.length);
  const lines = readme.split('\n');
  const section = lines.findIndex((l) => /^## Config\b/.test(l));
  if (section >= 0) {
    const start = lines.findIndex((l, i) => i > section && l.startsWith('|'));
    const nextSection = lines.findIndex((l, i) => i > section && l.startsWith('## '));
    if (start >= 0 && (nextSection < 0 || start < nextSection)) {
      let stop = start;
      while (stop < lines.length && lines[stop].startsWith('|')) stop++;
      return [...lines.slice(0, start), block, ...lines.slice(stop)].join('\n');
    }
    return [...lines.slice(0, section + 1), '', block, ...lines.slice(section + 1)].join('\n');
  }
  return `${readme.replace(/\n*$/, '\n')}\n## Config\n\n${block}\n`;
}

/** The two generated files of one node folder, as they should read. */
export function generatedNodeFiles(schema: JsonSchema, readme: string): { schemaJson: string; readme: string } {
  return { schemaJson: renderConfigSchema(schema), readme: withConfigTable(readme, schema) };
}
