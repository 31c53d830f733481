/**
 * The node-type registry: finding node types is kept apart from running them. Built-in node types and
 * plugins register through the same call; nothing registers by import side effect.
 */
import { RegistryError } from '../errors';
import { checkConfigDefaults, checkNodeTypeDefinition, compileConfigSchema } from '../schema/config';
import { closestMatch } from '../schema/suggest';
import type { NodeTypeDefinition } from './types';

interface Entry {
  def: NodeTypeDefinition;
  source: string;
}

export class NodeRegistry {
  private readonly entries = new Map<string, Entry>();

  /**
   * Adds a node type. `source` says where it came from (`built-in`, `plugin "x" (/path)`, `user code`) and
   * appears in error messages. Throws RegistryError when the type is already registered (naming both
   * sources) or the definition is malformed (every problem listed). Registering the very same definition
   * object again from the same source is a no-op, so a graph can be loaded twice into one registry.
   */
  register(def: NodeTypeDefinition, source: string): void {
    const typeName = typeof (def as { type?: unknown })?.type === 'string' ? def.type : undefined;
    const existing = typeName !== undefined ? this.entries.get(typeName) : undefined;
    if (existing) {
      if (existing.def === def && existing.source === source) return;
      throw new RegistryError(`node type "${typeName}" is already registered by ${existing.source}; ${source} cannot register it again`);
    }
    const problems = checkNodeTypeDefinition(def);
    if (problems.length === 0) {
      try {
        compileConfigSchema(def);
        problems.push(...checkConfigDefaults(def));
      } catch (err) {
        problems.push(`configSchema: does not compile: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (problems.length > 0) {
      const name = typeName !== undefined ? `node type "${typeName}"` : 'a node type';
      throw new RegistryError(`${name} from ${source} is invalid:\n${problems.map((p) => '  - ' + p).join('\n')}`);
    }
    this.entries.set(def.type, { def, source });
  }

  get(type: string): NodeTypeDefinition | undefined {
    return this.entries.get(type)?.def;
  }

  has(type: string): boolean {
    return this.entries.has(type);
  }

  /** Every registered definition, sorted by type name. */
  list(): NodeTypeDefinition[] {
    return [...this.entries.values()].map((e) => e.def).sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  }

  /** Where a type was registered from, as given to `register`. */
  sourceOf(type: string): string | undefined {
    return this.entries.get(type)?.source;
  }

  /** The registered type name closest to `type` (a likely typo), if any. */
  suggest(type: string): string | undefined {
    return closestMatch(type, this.list().map((d) => d.type));
  }
}

/** The public call for registering one node type (built-ins use it too, with source `built-in`). */
export function registerNodeType(registry: NodeRegistry, def: NodeTypeDefinition, source = 'user code'): void {
  registry.register(def, source);
}
