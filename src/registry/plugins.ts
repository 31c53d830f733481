/**
 * Plugins: a local folder or an installed npm package exporting `{ name, nodeTypes, bindings? }` as its
 * default export or as `plugin`. Loading is kept apart from registering so tools can inspect a plugin.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PluginError, RegistryError } from '../errors';
import { schemasDir } from '../schema/files';
import type { NodeRegistry } from './registry';
import type { DistilleryPlugin } from './types';

/** True for specs that name a path (`./x`, `../x`, `/abs/x`, `.`), false for npm package names. */
export function isPathSpec(spec: string): boolean {
  return spec === '.' || spec === '..' || spec.startsWith('./') || spec.startsWith('../') || path.isAbsolute(spec)
    || spec.startsWith('.\\') || spec.startsWith('..\\');
}

/** A path for messages: relative to the working directory when inside it, else absolute. */
export function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
}

function canLoadTypeScript(): boolean {
  // tsx (tests, `npx tsx`) installs a `.ts` loader; plain `node` on the built package does not.
  return typeof require.extensions['.ts'] === 'function';
}

/**
 * For a TypeScript file inside this package (e.g. `plugins/x/index.ts`), its build output
 * (`dist/plugins/x/index.js`), so the built CLI can use the repository's own plugins.
 */
function compiledTwin(entry: string): string | undefined {
  let root: string;
  try {
    root = path.dirname(schemasDir());
  } catch {
    return undefined;
  }
  const rel = path.relative(root, entry);
  if (rel.startsWith('..') || path.isAbsolute(rel) || rel.startsWith('dist' + path.sep)) return undefined;
  const twin = path.join(root, 'dist', rel.replace(/\.([cm]?)ts$/, '.$1js'));
  return fs.existsSync(twin) ? twin : undefined;
}

function firstExisting(candidates: string[]): string | undefined {
  return candidates.find((c) => fs.existsSync(c) && fs.statSync(c).isFile());
}

/** The entry file of a plugin folder: package.json `main`, else index.js, else index.ts. */
function folderEntry(spec: string, dir: string): string {
  const pkgFile = path.join(dir, 'package.json');
  const candidates: string[] = [];
  if (fs.existsSync(pkgFile)) {
    let pkg: { main?: unknown };
    try {
      pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { main?: unknown };
    } catch (err) {
      throw new PluginError(`plugin "${spec}": cannot read ${displayPath(pkgFile)}: ${(err as Error).message}`, { cause: err });
    }
    if (typeof pkg.main === 'string') {
      const main = path.resolve(dir, pkg.main);
      candidates.push(main, main + '.js', main + '.ts', path.join(main, 'index.js'), path.join(main, 'index.ts'));
    }
  }
  candidates.push(path.join(dir, 'index.js'), path.join(dir, 'index.ts'));
  const entry = firstExisting(candidates);
  if (!entry) {
    throw new PluginError(`plugin "${spec}": folder ${displayPath(dir)} has no entry point (looked for package.json "main", index.js, index.ts)`);
  }
  return entry;
}

function resolveEntry(spec: string, fromDir: string): string {
  if (isPathSpec(spec)) {
    const target = path.resolve(fromDir, spec);
    if (!fs.existsSync(target)) {
      throw new PluginError(`plugin "${spec}" not found: nothing at ${displayPath(target)} (relative paths start from the graph file's folder)`);
    }
    return fs.statSync(target).isDirectory() ? folderEntry(spec, target) : target;
  }
  try {
    return require.resolve(spec, { paths: [fromDir, process.cwd()] });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') {
      throw new PluginError(`plugin "${spec}": cannot resolve the package: ${(err as Error).message}`, { cause: err });
    }
    throw new PluginError(
      `plugin "${spec}" not found: no installed package of that name (searched from ${displayPath(fromDir) || '.'} and the working directory); ` +
        'install it with npm, or write a local folder as a path starting with "./" or "../"',
    );
  }
}

function isPluginShaped(v: unknown): boolean {
  return typeof v === 'object' && v !== null && ('nodeTypes' in v || 'name' in v);
}

/** Shape problems of a plugin export (empty when fine). Node-type definitions are checked on register. */
export function checkPluginShape(plugin: unknown): string[] {
  const out: string[] = [];
  const p = plugin as Partial<DistilleryPlugin>;
  if (typeof p.name !== 'string' || p.name.trim() === '') out.push('"name" must be a non-empty string');
  if (!Array.isArray(p.nodeTypes)) out.push('"nodeTypes" must be an array of node-type definitions');
  else p.nodeTypes.forEach((d, i) => {
    if (typeof d !== 'object' || d === null) out.push(`"nodeTypes[${i}]" must be a node-type definition object`);
  });
  if (p.bindings !== undefined && typeof p.bindings !== 'function') out.push('"bindings" must be a function (container) => void when present');
  return out;
}

/**
 * Loads a plugin from a local folder (relative to `fromDir`) or an installed npm package (resolved from
 * `fromDir`, then the working directory). Throws PluginError when it cannot be found, fails to load, or
 * does not export a valid plugin. `source` is what registry messages call it: `plugin "name" (path)`.
 */
export async function loadPlugin(spec: string, fromDir: string): Promise<{ plugin: DistilleryPlugin; source: string }> {
  let entry = resolveEntry(spec, fromDir);
  if (/\.[cm]?ts$/.test(entry) && !canLoadTypeScript()) {
    const twin = compiledTwin(entry);
    if (twin) entry = twin;
  }
  if (/\.[cm]?ts$/.test(entry) && !canLoadTypeScript()) {
    throw new PluginError(
      `plugin "${spec}": ${displayPath(entry)} is TypeScript and this process cannot load TypeScript; ` +
        'point package.json "main" at compiled JavaScript, or run through tsx',
    );
  }
  let mod: unknown;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(entry);
  } catch (err) {
    throw new PluginError(`plugin "${spec}" failed to load from ${displayPath(entry)}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  const m = (mod ?? {}) as Record<string, unknown>;
  const candidate = [m.default, m.plugin, m].find(isPluginShaped);
  if (candidate === undefined) {
    const names = typeof mod === 'object' && mod !== null ? Object.keys(mod) : [];
    throw new PluginError(
      `plugin "${spec}" (${displayPath(entry)}) exports no plugin: expected a default export or an export named "plugin" ` +
        `of the form { name, nodeTypes: [...] } (found ${names.length ? 'exports ' + names.map((n) => `"${n}"`).join(', ') : 'no exports'})`,
    );
  }
  const shape = checkPluginShape(candidate);
  if (shape.length > 0) {
    throw new PluginError(`plugin "${spec}" (${displayPath(entry)}) exports an invalid plugin: ${shape.join('; ')}`);
  }
  const plugin = candidate as DistilleryPlugin;
  const isFolder = isPathSpec(spec) && fs.statSync(path.resolve(fromDir, spec)).isDirectory();
  const where = isFolder ? path.resolve(fromDir, spec) : entry;
  return { plugin, source: `plugin "${plugin.name}" (${displayPath(where)})` };
}

/**
 * Registers every node type of a plugin and returns the problems instead of stopping at the first
 * (used by the graph loader, which reports them all). Valid types are registered even when others fail.
 */
export function registerPluginCollecting(registry: NodeRegistry, plugin: DistilleryPlugin, source: string): RegistryError[] {
  const errors: RegistryError[] = [];
  for (const def of plugin.nodeTypes) {
    try {
      registry.register(def, source);
    } catch (err) {
      if (err instanceof RegistryError) errors.push(err);
      else throw err;
    }
  }
  return errors;
}

/** Registers all node types of a plugin; throws one RegistryError listing every failure. */
export function registerPlugin(registry: NodeRegistry, plugin: DistilleryPlugin, source: string): void {
  const errors = registerPluginCollecting(registry, plugin, source);
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new RegistryError(errors.map((e) => e.message).join('\n'));
}

/** Registry messages list definition problems on indented lines; a Problem is one line. */
function oneLine(message: string): string {
  return message.replace(/:\n\s+- /, ': ').replace(/\n\s+- /g, '; ').replace(/\n/g, ' ');
}

/** A plugin loaded and registered from a graph file's `plugins` list. */
export interface LoadedPluginEntry {
  /** The spec as written, e.g. `../../plugins/pseudo-huber-loss`. */
  spec: string;
  /** Human-readable origin used in error messages. */
  source: string;
  plugin: DistilleryPlugin;
}

/**
 * Loads and registers every plugin of a `plugins` list (specs relative to `fromDir`), collecting every
 * problem instead of stopping at the first: each names the list index and is one line. Entries that are
 * not non-empty strings are skipped (the graph-file schema reports them). Errors other than plugin and
 * registry errors are bugs and are thrown.
 */
export async function loadPluginList(
  specs: unknown, fromDir: string, registry: NodeRegistry,
): Promise<{ loaded: LoadedPluginEntry[]; problems: { index: number; message: string }[] }> {
  const loaded: LoadedPluginEntry[] = [];
  const problems: { index: number; message: string }[] = [];
  if (!Array.isArray(specs)) return { loaded, problems };
  for (const [index, spec] of specs.entries()) {
    if (typeof spec !== 'string' || spec === '') continue;
    try {
      const { plugin, source } = await loadPlugin(spec, fromDir);
      for (const err of registerPluginCollecting(registry, plugin, source)) problems.push({ index, message: oneLine(err.message) });
      loaded.push({ spec, source, plugin });
    } catch (err) {
      if (err instanceof PluginError || err instanceof RegistryError) problems.push({ index, message: oneLine(err.message) });
      else throw err;
    }
  }
  return { loaded, problems };
}
