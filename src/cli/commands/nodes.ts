/** `distillery nodes [--json] [--plugin spec …]`: the registered node types, generated from their schemas. */
import type { Command } from 'commander';
import type { NodeRegistry } from '../../registry/registry';
import { loadPlugin, registerPlugin } from '../../registry/plugins';
import type { JsonSchema, NodeTypeDefinition, PortSpec } from '../../registry/types';
import { createRegistry } from '../../../nodes/builtin-registry';
import { collect, EXIT_OK, type CliIO } from '../io';

export interface ConfigKeyInfo {
  key: string;
  /** A short type text from the schema: `integer`, `"linear" | "cosine"`, `number[]` … */
  type: string;
  required: boolean;
  default?: unknown;
  description?: string;
}

export interface NodeTypeInfo {
  type: string;
  description: string;
  source: string;
  inputs: Record<string, PortSpec>;
  outputs: Record<string, PortSpec>;
  config: ConfigKeyInfo[];
  configSchema: JsonSchema;
}

/** Short human text for a JSON Schema's type. */
export function schemaTypeText(schema: unknown): string {
  const s = (schema ?? {}) as Record<string, unknown>;
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  if ('const' in s) return JSON.stringify(s.const);
  for (const key of ['oneOf', 'anyOf'] as const) {
    if (Array.isArray(s[key])) return (s[key] as unknown[]).map(schemaTypeText).join(' | ');
  }
  if (typeof s.$ref === 'string') return s.$ref.split('/').pop() ?? s.$ref;
  const types = Array.isArray(s.type) ? (s.type as string[]) : typeof s.type === 'string' ? [s.type] : [];
  if (types.length === 1 && types[0] === 'array') return `${s.items ? schemaTypeText(s.items) : 'any'}[]`;
  return types.length ? types.join(' | ') : 'any';
}

export function describeNodeType(def: NodeTypeDefinition, source: string): NodeTypeInfo {
  const props = (def.configSchema.properties ?? {}) as Record<string, Record<string, unknown>>;
  const required = new Set((def.configSchema.required as string[] | undefined) ?? []);
  return {
    type: def.type,
    description: def.description,
    source,
    inputs: def.inputs,
    outputs: def.outputs,
    config: Object.entries(props).map(([key, p]) => ({
      key,
      type: schemaTypeText(p),
      required: required.has(key),
      ...('default' in p ? { default: p.default } : {}),
      ...(typeof p.description === 'string' ? { description: p.description } : {}),
    })),
    configSchema: def.configSchema,
  };
}

function portLines(ports: Record<string, PortSpec>): string[] {
  const entries = Object.entries(ports);
  if (!entries.length) return ['    (none)'];
  const w = Math.max(...entries.map(([n]) => n.length));
  return entries.map(([name, p]) => `    ${name.padEnd(w)}  ${p.kind}<${p.type}>${p.optional ? ' (optional)' : ''}  ${p.description}`);
}

export function formatNodeTypes(infos: NodeTypeInfo[]): string {
  const out: string[] = [];
  for (const info of infos) {
    out.push(`${info.type} — ${info.description}`, `  source: ${info.source}`, '  inputs:', ...portLines(info.inputs), '  outputs:', ...portLines(info.outputs), '  config:');
    if (!info.config.length) out.push('    (none)');
    const w = Math.max(0, ...info.config.map((c) => c.key.length));
    for (const c of info.config) {
      const dflt = c.required ? 'required' : 'default' in c ? `default ${JSON.stringify(c.default)}` : 'optional';
      out.push(`    ${c.key.padEnd(w)}  ${c.type}  (${dflt})${c.description ? `  ${c.description}` : ''}`);
    }
    out.push('');
  }
  return out.join('\n');
}

/** A registry with the built-ins and the given plugins (paths relative to the working directory). */
export async function registryWithPlugins(specs: string[]): Promise<NodeRegistry> {
  const registry = createRegistry();
  for (const spec of specs) {
    const { plugin, source } = await loadPlugin(spec, process.cwd());
    registerPlugin(registry, plugin, source);
  }
  return registry;
}

export function registerNodesCommand(program: Command, io: CliIO, setExit: (code: number) => void): Command {
  return program
    .command('nodes')
    .description('list the node types: ports with their kinds and types, config keys with defaults and descriptions')
    .option('--json', 'print JSON (for tools): one object per type, with its config schema')
    .option('--plugin <spec>', 'also load this plugin (a folder path or an installed package; repeatable)', collect, [])
    .action(async (options: { json?: boolean; plugin: string[] }) => {
      const registry = await registryWithPlugins(options.plugin);
      const infos = registry.list().map((d) => describeNodeType(d, registry.sourceOf(d.type) ?? 'unknown'));
      io.out(options.json ? JSON.stringify(infos, null, 2) + '\n' : formatNodeTypes(infos));
      setExit(EXIT_OK);
    });
}
