/** `--set <nodeId>.config.<key>[.<key>…]=<value>` overrides, applied to the parsed graph before validation. */
import JSON5 from 'json5';
import type { Problem } from '../errors';
import { suggestionHint } from '../schema/suggest';
import { joinPointer } from '../schema/problems';

export interface AppliedSet {
  /** The argument as given. */
  arg: string;
  /** JSON pointer of the value it wrote, e.g. `/nodes/train/config/lr`. */
  pointer: string;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value of a `--set`: JSON5 when it parses (`3`, `true`, `[1,2]`, `{a: 1}`, `"x"`), else the raw string. */
export function parseSetValue(text: string): unknown {
  try {
    return JSON5.parse(text);
  } catch {
    return text;
  }
}

/**
 * Applies the overrides to `doc` in place. Returns what was applied (so later problems on those values
 * can name the `--set` rather than a file position) and a problem for each malformed argument.
 */
export function applySets(doc: unknown, sets: string[]): { applied: AppliedSet[]; problems: Problem[] } {
  const applied: AppliedSet[] = [];
  const problems: Problem[] = [];
  const fail = (arg: string, message: string, hint?: string): void => {
    problems.push({ path: '', message: `--set "${arg}": ${message}`, ...(hint ? { hint } : {}) });
  };
  const nodes = isPlainObject(doc) && isPlainObject(doc.nodes) ? doc.nodes : undefined;
  for (const arg of sets) {
    const eq = arg.indexOf('=');
    if (eq < 0) {
      fail(arg, 'missing "="', 'write --set <nodeId>.config.<key>=<value>');
      continue;
    }
    const target = arg.slice(0, eq).trim();
    const valueText = arg.slice(eq + 1);
    const segments = target.split('.');
    if (target === '' || segments.some((s) => s === '')) {
      fail(arg, `"${target}" is not a path`, 'write --set <nodeId>.config.<key>=<value>');
      continue;
    }
    if (segments.length < 3 || segments[1] !== 'config') {
      fail(arg, `only node config can be set: the path must be <nodeId>.config.<key>, found "${target}"`,
        segments.length >= 2 && segments[1] !== 'config' ? `did you mean "${segments[0]}.config.${segments.slice(1).join('.')}"?` : undefined);
      continue;
    }
    if (!nodes) {
      fail(arg, 'the graph has no nodes object to set into');
      continue;
    }
    const [nodeId, , ...keys] = segments;
    const node = nodes[nodeId];
    if (!Object.prototype.hasOwnProperty.call(nodes, nodeId)) {
      fail(arg, `unknown node "${nodeId}"`, suggestionHint(nodeId, Object.keys(nodes), 'nodes in this graph'));
      continue;
    }
    if (!isPlainObject(node)) {
      fail(arg, `node "${nodeId}" is not an object`);
      continue;
    }
    if (node.config === undefined) node.config = {};
    let container: unknown = node.config;
    let walked = `${nodeId}.config`;
    let ok = true;
    for (let i = 0; i < keys.length - 1 && isPlainObject(container); i++) {
      if (container[keys[i]] === undefined) container[keys[i]] = {};
      container = container[keys[i]];
      walked += '.' + keys[i];
      if (!isPlainObject(container)) {
        fail(arg, `${walked} is ${Array.isArray(container) ? 'an array' : `not an object (${JSON.stringify(container)})`}, so it has no key "${keys[i + 1]}"`);
        ok = false;
      }
    }
    if (!ok) continue;
    if (!isPlainObject(container)) {
      fail(arg, `${nodeId}.config is not an object`);
      continue;
    }
    container[keys[keys.length - 1]] = parseSetValue(valueText);
    applied.push({ arg, pointer: joinPointer('/nodes', nodeId, 'config', ...keys) });
  }
  return { applied, problems };
}
