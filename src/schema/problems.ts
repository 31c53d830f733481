/** Turns ajv errors into Problems with a file position, a dotted path, expected/found and a hint. */
import type { Problem, SourcePosition } from '../errors';
import { suggestionHint, closestMatch } from './suggest';
import type { ErrorObject } from './ajv';

/** Where a JSON pointer is in the source, and any note to add (e.g. the value came from `--set`). */
export interface PointerLocation {
  position?: SourcePosition;
  note?: string;
}

/**
 * Finds a JSON pointer in the source. `part: 'key'` asks for the property name (unknown-key errors);
 * a pointer that does not exist maps to its nearest existing ancestor.
 */
export type PointerLocator = (pointer: string, part: 'value' | 'key') => PointerLocation;

/** `/nodes/a~1b/0` → `nodes.a/b.0` (the Problem `path` form). */
export function pointerToPath(pointer: string): string {
  if (pointer === '' || pointer === '/') return '';
  return pointer.slice(1).split('/').map(unescapePointerSegment).join('.');
}

export function unescapePointerSegment(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

export function escapePointerSegment(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function joinPointer(base: string, ...segments: (string | number)[]): string {
  return base + segments.map((s) => '/' + escapePointerSegment(String(s))).join('');
}

/** A short rendering of a found value: `"abc"`, `12`, `an object`, `an array of 3 items`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length} item${value.length === 1 ? '' : 's'}`;
  if (typeof value === 'object') return Object.keys(value).length === 0 ? 'an empty object' : 'an object';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const text = JSON.stringify(value);
  return text.length > 60 ? text.slice(0, 57) + '…' : text;
}

/** JSON type name as JSON Schema sees it (`integer` for whole numbers is not distinguished). */
export function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function describeTyped(value: unknown): string {
  const t = jsonTypeOf(value);
  if (typeof value === 'number' && !Number.isFinite(value)) return `${value} (not a finite number)`;
  if (t === 'object' || t === 'array' || t === 'null') return describeValue(value);
  return `${t} ${describeValue(value)}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

interface Draft {
  pointer: string;
  part: 'value' | 'key';
  message: string;
  expected?: string;
  found?: string;
  hint?: string;
}

function draftFor(e: ErrorObject): Draft | undefined {
  const p = e.params as Record<string, any>;
  const at = e.instancePath;
  const parentSchema = (e.parentSchema ?? {}) as Record<string, unknown>;
  switch (e.keyword) {
    case 'if':
    case 'propertyNames': // the specific error about the offending name comes separately (with propertyName)
      return undefined;
    case 'required':
      return {
        pointer: at, part: 'value',
        message: `missing required property "${p.missingProperty}"`,
        hint: typeof (parentSchema.properties as any)?.[p.missingProperty]?.description === 'string'
          ? `"${p.missingProperty}": ${(parentSchema.properties as any)[p.missingProperty].description}` : undefined,
      };
    case 'additionalProperties': {
      const known = Object.keys((parentSchema.properties as object | undefined) ?? {});
      return {
        pointer: at + '/' + escapePointerSegment(p.additionalProperty), part: 'key',
        message: `unknown property "${p.additionalProperty}"`,
        hint: suggestionHint(p.additionalProperty, known, 'known properties', Infinity),
      };
    }
    case 'type': {
      const expected = Array.isArray(p.type) ? p.type.join(' or ') : String(p.type);
      return { pointer: at, part: 'value', message: `must be ${article(expected)}`, expected, found: describeTyped(e.data) };
    }
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).map((v) => JSON.stringify(v));
      const match = typeof e.data === 'string'
        ? closestMatch(e.data, (p.allowedValues as unknown[]).filter((v): v is string => typeof v === 'string'))
        : undefined;
      return {
        pointer: at, part: 'value', message: `must be one of ${allowed.join(', ')}`,
        found: describeValue(e.data), hint: match !== undefined ? `did you mean "${match}"?` : undefined,
      };
    }
    case 'const':
      return { pointer: at, part: 'value', message: `must be ${JSON.stringify(p.allowedValue)}`, found: describeValue(e.data) };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { pointer: at, part: 'value', message: `must be ${p.comparison} ${p.limit}`, found: describeValue(e.data) };
    case 'multipleOf':
      return { pointer: at, part: 'value', message: `must be a multiple of ${p.multipleOf}`, found: describeValue(e.data) };
    case 'minLength':
      return { pointer: at, part: 'value', message: `must be at least ${plural(p.limit, 'character')} long`, found: describeValue(e.data) };
    case 'maxLength':
      return { pointer: at, part: 'value', message: `must be at most ${plural(p.limit, 'character')} long`, found: describeValue(e.data) };
    case 'minItems':
      return { pointer: at, part: 'value', message: `must have at least ${plural(p.limit, 'item')}`, found: describeValue(e.data) };
    case 'maxItems':
      return { pointer: at, part: 'value', message: `must have at most ${plural(p.limit, 'item')}`, found: describeValue(e.data) };
    case 'minProperties':
      return { pointer: at, part: 'value', message: `must have at least ${plural(p.limit, 'entry')}`.replace('entrys', 'entries'), found: describeValue(e.data) };
    case 'maxProperties':
      return { pointer: at, part: 'value', message: `must have at most ${plural(p.limit, 'entry')}`.replace('entrys', 'entries'), found: describeValue(e.data) };
    case 'uniqueItems':
      return {
        pointer: `${at}/${p.i}`, part: 'value',
        message: `duplicate item: items ${p.j} and ${p.i} are equal`, found: describeValue((e.data as unknown[])?.[p.i]),
      };
    case 'pattern': {
      const described = typeof parentSchema.description === 'string' ? parentSchema.description : undefined;
      if (e.propertyName !== undefined) {
        return {
          pointer: at + '/' + escapePointerSegment(e.propertyName), part: 'key',
          message: `invalid name "${e.propertyName}": must match pattern ${p.pattern}`, hint: described,
        };
      }
      return { pointer: at, part: 'value', message: `must match pattern ${p.pattern}`, found: describeValue(e.data), hint: described };
    }
    case 'format':
      return { pointer: at, part: 'value', message: `must be a valid ${p.format}`, found: describeValue(e.data) };
    default:
      if (e.propertyName !== undefined) {
        return { pointer: at + '/' + escapePointerSegment(e.propertyName), part: 'key', message: `invalid name "${e.propertyName}": ${e.message ?? e.keyword}` };
      }
      return { pointer: at, part: 'value', message: e.message ?? `fails "${e.keyword}"`, found: describeValue(e.data) };
  }
}

function article(typeName: string): string {
  if (typeName.includes(' or ')) return typeName;
  if (typeName === 'null') return 'null';
  return /^[aeiou]/.test(typeName) ? `an ${typeName}` : `a ${typeName}`;
}

/**
 * Maps ajv errors (instance paths relative to the validated value) to Problems. `basePointer` is where
 * the validated value sits in the document (e.g. `/nodes/train/config`).
 */
export function ajvErrorsToProblems(errors: ErrorObject[] | null | undefined, basePointer: string, locate?: PointerLocator): Problem[] {
  const problems: Problem[] = [];
  const seen = new Set<string>();
  for (const e of errors ?? []) {
    const draft = draftFor(e);
    if (!draft) continue;
    const pointer = basePointer + draft.pointer;
    const path = pointerToPath(pointer);
    const key = `${path}\u0000${draft.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const where = locate ? locate(pointer, draft.part) : {};
    const hint = [draft.hint, where.note].filter(Boolean).join('; ') || undefined;
    const problem: Problem = { path, message: draft.message };
    if (where.position) problem.position = where.position;
    if (draft.expected !== undefined) problem.expected = draft.expected;
    if (draft.found !== undefined) problem.found = draft.found;
    if (hint) problem.hint = hint;
    problems.push(problem);
  }
  return problems;
}
