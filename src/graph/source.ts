/**
 * The graph file as text: JSON5 parsing into an AST with positions (momoa), syntax errors with line:col,
 * duplicate keys, and mapping JSON pointers back to positions.
 */
import * as momoa from '@humanwhocodes/momoa';
import JSON5 from 'json5';
import type { Problem, SourcePosition } from '../errors';
import { escapePointerSegment, joinPointer, pointerToPath, unescapePointerSegment, type PointerLocation } from '../schema/problems';

type ValueNode = momoa.ValueNode;
type MemberNode = momoa.MemberNode;

export interface ParsedSource {
  file: string;
  text: string;
  /** The evaluated document (for duplicate keys, the last value wins; duplicates are problems). */
  value: unknown;
  root: ValueNode;
}

const TOKEN_NAMES: Record<string, string> = {
  LBrace: '"{"', RBrace: '"}"', LBracket: '"["', RBracket: '"]"', Comma: '","', Colon: '":"',
  String: 'string', Number: 'number', Boolean: 'boolean', Null: 'null', NaN: 'NaN', Infinity: 'Infinity',
};

/** Tokens that end a value: a member or element may follow only after a comma. */
const VALUE_END = new Set(['String', 'Number', 'Boolean', 'Null', 'NaN', 'Infinity', 'RBrace', 'RBracket', 'Identifier']);
const VALUE_START = new Set(['String', 'Number', 'Boolean', 'Null', 'NaN', 'Infinity', 'LBrace', 'LBracket', 'Identifier']);

function wordAt(text: string, offset: number): string {
  const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(text.slice(offset));
  return m ? m[0] : text.charAt(offset);
}

/** Non-comment tokens before `offset` (empty if the prefix does not tokenize). */
function tokensBefore(text: string, offset: number): momoa.Token[] {
  try {
    return momoa.tokenize(text.slice(0, offset), { mode: 'json5' })
      .filter((t) => t.type !== 'LineComment' && t.type !== 'BlockComment');
  } catch {
    return [];
  }
}

/** True when the last token is an object key (so a ":" should follow). */
function endsWithKey(tokens: momoa.Token[]): boolean {
  const last = tokens[tokens.length - 1];
  const before = tokens[tokens.length - 2];
  if (!last || (last.type !== 'String' && last.type !== 'Identifier') || !before) return false;
  if (before.type !== 'LBrace' && before.type !== 'Comma') return false;
  const stack: string[] = [];
  for (const t of tokens) {
    if (t.type === 'LBrace' || t.type === 'LBracket') stack.push(t.type);
    else if (t.type === 'RBrace' || t.type === 'RBracket') stack.pop();
  }
  return stack[stack.length - 1] === 'LBrace';
}

/** True when the text after the token at `offset` holds only whitespace and comments. */
function restIsBlank(text: string, offset: number): boolean {
  try {
    return momoa.tokenize(text.slice(offset + 1), { mode: 'json5' })
      .every((t) => t.type === 'LineComment' || t.type === 'BlockComment');
  } catch {
    return false;
  }
}

function hasTokens(text: string): boolean {
  try {
    return momoa.tokenize(text, { mode: 'json5' }).some((t) => t.type !== 'LineComment' && t.type !== 'BlockComment');
  } catch {
    return true;
  }
}

/** Where an unclosed block comment starts: the last opener whose prefix tokenizes and that is never closed. */
function unclosedBlockComment(text: string): { line: number; column: number } | undefined {
  const at = text.lastIndexOf('/*');
  if (at < 0 || text.indexOf('*/', at + 2) >= 0) return undefined;
  try {
    momoa.tokenize(text.slice(0, at), { mode: 'json5' });
  } catch {
    return undefined; // the "/*" is inside a string or after another error
  }
  const before = text.slice(0, at).split(/\r\n|\r|\n/);
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

/** Line and column just past the last character. */
function endPosition(text: string): { line: number; column: number } {
  const lines = text.split(/\r\n|\r|\n/);
  return { line: lines.length, column: lines[lines.length - 1].length + 1 };
}

/** Turns a momoa parse error into a Problem with a readable message and a hint. */
function syntaxProblem(err: unknown, file: string, text: string): Problem {
  const e = err as Error & { line?: number; column?: number; offset?: number };
  const position: SourcePosition = { file, line: e.line ?? 1, column: e.column ?? 1 };
  const raw = (e.message ?? String(err)).replace(/\s*\(\d+:\d+\)\s*$/, '');
  let message = `invalid JSON5: ${raw}`;
  let hint: string | undefined;
  const offset = e.offset ?? 0;
  let m: RegExpExecArray | null;
  const rest = restIsBlank(text, offset);
  if (!hasTokens(text)) {
    message = 'invalid JSON5: the file holds no value';
    hint = 'a graph file is one object: { version: 1, name: \'…\', nodes: { … } }';
  } else if (/^Unexpected end of input/.test(raw) || (/^Unexpected token Comma/.test(raw) && rest)) {
    // momoa reports a trailing comma at the very end as an unexpected comma; the real problem is the end.
    const comment = unclosedBlockComment(text);
    if (comment) {
      Object.assign(position, comment);
      message = 'invalid JSON5: block comment is not closed';
      hint = 'close it with */';
    } else {
      Object.assign(position, endPosition(text));
      message = 'invalid JSON5: unexpected end of file';
      hint = 'an object, array or string is not closed';
    }
  } else if (/^Unexpected end of input/.test(raw)) {
    message = 'invalid JSON5: unexpected end of file';
    hint = 'an object, array, string or block comment is not closed';
  } else if ((m = /^Unexpected token (\w+) found/.exec(raw))) {
    const token = m[1];
    const found = token === 'Identifier' ? `word "${wordAt(text, offset)}"` : TOKEN_NAMES[token] ?? token;
    message = `invalid JSON5: unexpected ${found}`;
    const tokens = tokensBefore(text, offset);
    const prev = tokens[tokens.length - 1];
    if (endsWithKey(tokens)) hint = 'is a ":" missing after the key?';
    else if (prev && VALUE_END.has(prev.type) && VALUE_START.has(token)) hint = 'is a comma missing before it?';
    else if (prev?.type === 'Colon' && token === 'Identifier') hint = 'text values must be quoted: "…" or \'…\'';
    else if (prev?.type === 'Comma' && token === 'Comma') hint = 'two commas in a row';
    else if (token === 'RBrace' || token === 'RBracket') hint = 'a value is missing, or brackets do not match';
  } else if ((m = /^Unexpected character '(.*)' found/.exec(raw))) {
    message = `invalid JSON5: unexpected character ${JSON.stringify(m[1])}`;
  }
  return { position, path: '', message, ...(hint ? { hint } : {}) };
}

function pos(file: string, loc: momoa.Location): SourcePosition {
  return { file, line: loc.line, column: loc.column };
}

function memberName(m: MemberNode): string {
  return m.name.type === 'Identifier' ? m.name.name : m.name.value;
}

/** Duplicate keys anywhere in the document, each reported at the later occurrence with the first's position. */
function duplicateKeyProblems(root: ValueNode, file: string): Problem[] {
  const problems: Problem[] = [];
  const walk = (node: ValueNode, pointer: string): void => {
    if (node.type === 'Object') {
      const first = new Map<string, MemberNode>();
      for (const member of node.members) {
        const name = memberName(member);
        const childPointer = pointer + '/' + escapePointerSegment(name);
        const earlier = first.get(name);
        if (earlier) {
          const at = `${earlier.name.loc.start.line}:${earlier.name.loc.start.column}`;
          const isNode = pointer === '/nodes';
          problems.push({
            position: pos(file, member.name.loc.start),
            path: pointerToPath(childPointer),
            message: isNode ? `duplicate node id "${name}" (first defined at ${at})` : `duplicate key "${name}" (first defined at ${at})`,
            hint: isNode ? 'node ids must be unique; rename one of the nodes' : 'remove or rename one of them; JSON5 would silently keep the last',
          });
        } else {
          first.set(name, member);
        }
        walk(member.value, childPointer);
      }
    } else if (node.type === 'Array') {
      node.elements.forEach((el, i) => walk(el.value, joinPointer(pointer, i)));
    }
  };
  walk(root, '');
  return problems;
}

/** json5 reports a line break as column 0 of the next line; point at the end of the line it ends instead. */
function json5Position(file: string, text: string, line: number, column: number): SourcePosition {
  if (column > 0 || line < 2) return { file, line, column: Math.max(1, column) };
  const lines = text.split(/\r\n|\r|\n/);
  return { file, line: line - 1, column: (lines[line - 2] ?? '').length + 1 };
}

/** Parses JSON5 text; returns the AST and value, or the syntax problem. Duplicate keys are problems too. */
export function parseSource(text: string, file: string): { source?: ParsedSource; problems: Problem[] } {
  let doc: momoa.DocumentNode;
  try {
    doc = momoa.parse(text, { mode: 'json5', allowTrailingCommas: true });
  } catch (err) {
    return { problems: [syntaxProblem(err, file, text)] };
  }
  // momoa accepts a few things the JSON5 grammar refuses (e.g. a raw line break inside a string);
  // the reference parser has the last word on syntax.
  try {
    JSON5.parse(text);
  } catch (err) {
    const e = err as Error & { lineNumber?: number; columnNumber?: number };
    const detail = (e.message ?? '').replace(/^JSON5: /, '').replace(/ at \d+:\d+$/, '');
    const lineBreak = /invalid character '\\n'|'\n'/.test(detail) || detail.includes("'\\u2028'");
    return {
      problems: [{
        position: json5Position(file, text, e.lineNumber ?? 1, e.columnNumber ?? 1),
        path: '',
        message: lineBreak ? 'invalid JSON5: line break inside a string' : `invalid JSON5: ${detail}`,
        ...(lineBreak ? { hint: 'write \\n inside the string, or close it before the line ends' } : {}),
      }],
    };
  }
  const value = momoa.evaluate(doc.body);
  return { source: { file, text, value, root: doc.body }, problems: duplicateKeyProblems(doc.body, file) };
}

/** The AST member or value for a pointer: the last member of a name wins, as in the evaluated value. */
function findNode(root: ValueNode, pointer: string): { node: ValueNode; member?: MemberNode; exact: boolean } {
  let node = root;
  let member: MemberNode | undefined;
  const segments = pointer === '' ? [] : pointer.slice(1).split('/').map(unescapePointerSegment);
  for (const seg of segments) {
    if (node.type === 'Object') {
      const hit = [...node.members].reverse().find((m) => memberName(m) === seg);
      if (!hit) return { node, member, exact: false };
      member = hit;
      node = hit.value;
    } else if (node.type === 'Array' && /^\d+$/.test(seg) && Number(seg) < node.elements.length) {
      member = undefined;
      node = node.elements[Number(seg)].value;
    } else {
      return { node, member, exact: false };
    }
  }
  return { node, member, exact: true };
}

/**
 * Position of a pointer in the source: the value's start, or the key's start for `part: 'key'`. A pointer
 * that does not exist (a missing property, a default) maps to the nearest existing ancestor value.
 */
export function locatePointer(source: ParsedSource, pointer: string, part: 'value' | 'key'): SourcePosition {
  const { node, member, exact } = findNode(source.root, pointer);
  if (exact && part === 'key' && member) return pos(source.file, member.name.loc.start);
  return pos(source.file, node.loc.start);
}

/** True when the pointer names something written in the file. */
export function pointerExists(source: ParsedSource, pointer: string): boolean {
  return findNode(source.root, pointer).exact;
}

export type { PointerLocation };
