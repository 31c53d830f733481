/**
 * A Python pickle reader (protocols 0–5) that never executes anything.
 *
 * A pickle is a program for a small stack machine; its GLOBAL / STACK_GLOBAL opcodes name Python
 * callables and REDUCE / NEWOBJ / BUILD call them, which is how a hostile file runs `os.system`. This
 * reader interprets the opcodes itself and hands every global name to a caller-supplied policy:
 *
 *   - `call`: a callable the policy implements here, in TypeScript, from its arguments (e.g.
 *     `collections.OrderedDict` → an empty ordered dict, `torch._utils._rebuild_tensor_v2` → a tensor
 *     reference). Only what the policy implements can be "called".
 *   - `inert`: a name that may appear but is never called; calling or building it yields a PickleOpaque
 *     recording the name and the arguments (e.g. a Lightning callback class used as a dict key).
 *   - anything else: a FileFormatError naming the global, raised as soon as the opcode is read.
 *
 * Persistent ids (how torch.save refers to tensor storages) go to the policy's `persistentLoad`.
 * Out-of-band buffers (protocol 5) and the copyreg extension registry are refused.
 */
import { FileFormatError } from '../errors';

/** A Python tuple. */
export class PickleTuple {
  constructor(readonly items: PickleValue[]) {}
}

/** A Python dict (or OrderedDict); keys keep Python's identity rules for str / int / None / bool. */
export class PickleDict {
  readonly map = new Map<PickleValue, PickleValue>();
  /** State set by BUILD (an OrderedDict state dict carries its `_metadata` this way). */
  state: PickleValue = null;
  constructor(readonly ordered: boolean) {}

  get(key: PickleValue): PickleValue | undefined {
    return this.map.get(key);
  }

  has(key: PickleValue): boolean {
    return this.map.has(key);
  }

  /** The string keys in insertion order. */
  stringKeys(): string[] {
    return [...this.map.keys()].filter((k): k is string => typeof k === 'string');
  }
}

/** A reference to a global, as pushed by GLOBAL / STACK_GLOBAL (`module.name`). */
export class PickleGlobal {
  constructor(readonly module: string, readonly name: string, readonly handler: GlobalHandler) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** What calling or building an inert global produced: its name and what it was given, nothing run. */
export class PickleOpaque {
  state: PickleValue = null;
  constructor(readonly global: PickleGlobal, readonly args: PickleValue[]) {}
}

/** A Python set or frozenset. */
export class PickleSet {
  constructor(readonly items: PickleValue[], readonly frozen: boolean) {}
}

/**
 * Values the reader builds. `bigint` holds integers outside ±2^53; `object` covers whatever a policy's
 * callables and `persistentLoad` return.
 */
export type PickleValue =
  | null | boolean | number | bigint | string | Uint8Array
  | PickleValue[] | PickleTuple | PickleDict | PickleSet | PickleGlobal | PickleOpaque | object;

/** How a policy treats one global. */
export type GlobalHandler =
  | { kind: 'call'; call(args: PickleValue[]): PickleValue; build?(obj: PickleValue, state: PickleValue): void }
  | { kind: 'inert' };

export interface PicklePolicy {
  /** The handler of `module.name`, or undefined to refuse it. */
  resolveGlobal(module: string, name: string): GlobalHandler | undefined;
  /** Resolves a persistent id (PERSID / BINPERSID); absent: persistent ids are refused. */
  persistentLoad?(pid: PickleValue): PickleValue;
  /** Explains a refused global in the error message (e.g. which names are allowed). */
  refusalHint?: string;
}

// The stack marker pushed by MARK.
const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;

const OP_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT', 0x80: 'PROTO',
  0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3',
  0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS',
  0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

/** Decodes a little-endian two's-complement integer of any length (LONG1 / LONG4). */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return normalizeInt(v);
}

function normalizeInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Text-mode integers (INT, LONG): decimal, optional trailing L; "01" / "00" are True / False for INT. */
function parseTextInt(text: string, allowBool: boolean): number | bigint | boolean {
  if (allowBool && text === '01') return true;
  if (allowBool && text === '00') return false;
  const t = text.endsWith('L') ? text.slice(0, -1) : text;
  if (!/^[+-]?\d+$/.test(t)) throw new Error(`invalid integer literal ${JSON.stringify(text)}`);
  return normalizeInt(BigInt(t));
}

/** Python's repr-style string literal of protocol 0 STRING ('...' or "..." with backslash escapes). */
function parseQuotedString(text: string): string {
  const q = text[0];
  if ((q !== "'" && q !== '"') || text[text.length - 1] !== q || text.length < 2) {
    throw new Error(`STRING argument is not quoted: ${JSON.stringify(text.slice(0, 40))}`);
  }
  return decodeEscapes(text.slice(1, -1));
}

function decodeEscapes(s: string): string {
  return s.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3}|.)/g, (_m, e: string) => {
    switch (e[0]) {
      case 'x': case 'u': case 'U': return String.fromCodePoint(parseInt(e.slice(1), 16));
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case '\\': return '\\';
      case "'": return "'";
      case '"': return '"';
      default: return /^[0-7]+$/.test(e) ? String.fromCharCode(parseInt(e, 8)) : '\\' + e;
    }
  });
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

export interface UnpickleOptions {
  /** Names the source in error messages (e.g. `model.ckpt:archive/data.pkl`). */
  file: string;
  policy: PicklePolicy;
  /** Bound on the memo and stack sizes and on nesting, against hostile inputs (default 50 million items). */
  maxItems?: number;
}

/**
 * Interprets a pickle and returns the value STOP leaves on the stack. Throws FileFormatError for a
 * refused global, a malformed or truncated pickle, or an unsupported opcode, naming the byte offset.
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): PickleValue {
  const { file, policy } = options;
  const maxItems = options.maxItems ?? 50_000_000;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let pos = 0;
  let opPos = 0;
  let stack: StackItem[] = [];
  const metastack: StackItem[][] = [];
  const memo = new Map<number, PickleValue>();

  const fail = (message: string): never => {
    throw new FileFormatError(file, `pickle byte ${opPos}: ${message}`);
  };
  const need = (n: number | bigint): number => {
    const k = Number(n);
    if (!Number.isSafeInteger(k) || k < 0 || pos + k > bytes.length) {
      fail(`truncated: needs ${String(n)} more bytes, ${bytes.length - pos} left`);
    }
    return k;
  };
  const take = (n: number | bigint): Uint8Array => {
    const k = need(n);
    const out = bytes.subarray(pos, pos + k);
    pos += k;
    return out;
  };
  const u8 = (): number => { need(1); return bytes[pos++]; };
  const u16 = (): number => { need(2); const v = view.getUint16(pos, true); pos += 2; return v; };
  const u32 = (): number => { need(4); const v = view.getUint32(pos, true); pos += 4; return v; };
  const i32 = (): number => { need(4); const v = view.getInt32(pos, true); pos += 4; return v; };
  const u64 = (): bigint => { need(8); const v = view.getBigUint64(pos, true); pos += 8; return v; };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('truncated: unterminated text argument');
    const s = latin1(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const text = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      return fail('string is not valid UTF-8');
    }
  };

  const push = (v: PickleValue): void => {
    if (stack.length >= maxItems) fail(`stack exceeds ${maxItems} items`);
    stack.push(v);
  };
  const pop = (): PickleValue => {
    if (stack.length === 0) fail('stack underflow');
    const v = stack.pop() as StackItem;
    if (v === MARK) fail('unexpected MARK on the stack');
    return v as PickleValue;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (stack.length === 0 || v === MARK) fail('stack underflow');
    return v as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const items = stack as PickleValue[];
    if (metastack.length === 0) fail('no MARK to pop to');
    stack = metastack.pop() as StackItem[];
    return items;
  };
  const memoGet = (i: number): PickleValue => {
    if (!memo.has(i)) fail(`memo key ${i} was never stored`);
    return memo.get(i) as PickleValue;
  };
  const memoPut = (i: number, v: PickleValue): void => {
    if (memo.size >= maxItems) fail(`memo exceeds ${maxItems} items`);
    memo.set(i, v);
  };

  const resolveGlobal = (module: string, name: string): PickleGlobal => {
    const handler = policy.resolveGlobal(module, name);
    if (!handler) {
      fail(`refusing global "${module}.${name}": it is not on the allow-list of this reader, which never ` +
        `executes code from a pickle${policy.refusalHint ? ` (${policy.refusalHint})` : ''}`);
    }
    return new PickleGlobal(module, name, handler as GlobalHandler);
  };
  const call = (callable: PickleValue, args: PickleValue[], how: string): PickleValue => {
    if (!(callable instanceof PickleGlobal)) {
      return fail(`${how} of something that is not a global (${describeValue(callable)}); refusing`);
    }
    if (callable.handler.kind === 'inert') return new PickleOpaque(callable, args);
    try {
      return callable.handler.call(args);
    } catch (e) {
      if (e instanceof FileFormatError) throw e;
      return fail(`${how} ${callable.qualifiedName}: ${(e as Error).message}`);
    }
  };
  const setItems = (d: PickleValue, items: PickleValue[]): void => {
    if (!(d instanceof PickleDict)) fail(`SETITEM(S) on ${describeValue(d)}`);
    if (items.length % 2 !== 0) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (d as PickleDict).map.set(items[i], items[i + 1]);
  };
  const appendItems = (l: PickleValue, items: PickleValue[]): void => {
    if (!Array.isArray(l)) fail(`APPEND(S) on ${describeValue(l)}`);
    for (const it of items) (l as PickleValue[]).push(it);
  };

  for (;;) {
    opPos = pos;
    if (pos >= bytes.length) fail('truncated: no STOP opcode');
    const op = u8();
    try {
      switch (op) {
        case 0x80: { // PROTO
          const proto = u8();
          if (proto > 5) fail(`unsupported pickle protocol ${proto} (this reader knows 0–5)`);
          break;
        }
        case 0x95: u64(); break; // FRAME: framing is only a read-ahead hint; the opcodes follow inline
        case 0x2e: { // STOP
          const v = pop();
          return v;
        }
        case 0x28: metastack.push(stack); stack = []; break; // MARK
        case 0x30: { // POP (of the top item, or of an empty MARK frame)
          if (stack.length === 0 && metastack.length) popMark();
          else pop();
          break;
        }
        case 0x31: popMark(); break; // POP_MARK
        case 0x32: push(top()); break; // DUP
        case 0x4e: push(null); break;
        case 0x88: push(true); break;
        case 0x89: push(false); break;
        case 0x49: push(parseTextInt(line(), true)); break; // INT
        case 0x4c: push(parseTextInt(line(), false) as number | bigint); break; // LONG
        case 0x4a: push(i32()); break; // BININT
        case 0x4b: push(u8()); break; // BININT1
        case 0x4d: push(u16()); break; // BININT2
        case 0x8a: { const n = u8(); push(decodeLong(take(n))); break; } // LONG1
        case 0x8b: { const n = i32(); if (n < 0) fail('negative LONG4 length'); push(decodeLong(take(n))); break; }
        case 0x46: { // FLOAT
          const s = line();
          const v = Number(s);
          if (Number.isNaN(v) && !/nan/i.test(s)) fail(`invalid float literal ${JSON.stringify(s)}`);
          push(v);
          break;
        }
        case 0x47: { need(8); push(view.getFloat64(pos, false)); pos += 8; break; } // BINFLOAT (big-endian)
        case 0x53: push(parseQuotedString(line())); break; // STRING
        case 0x54: { const n = i32(); if (n < 0) fail('negative BINSTRING length'); push(latin1(take(n))); break; }
        case 0x55: push(latin1(take(u8()))); break; // SHORT_BINSTRING
        case 0x56: push(line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a: string, b: string) => String.fromCodePoint(parseInt(a ?? b, 16)))); break; // UNICODE (raw-unicode-escape)
        case 0x58: push(text(take(u32()))); break; // BINUNICODE
        case 0x8c: push(text(take(u8()))); break; // SHORT_BINUNICODE
        case 0x8d: push(text(take(u64()))); break; // BINUNICODE8
        case 0x42: push(take(u32()).slice()); break; // BINBYTES
        case 0x43: push(take(u8()).slice()); break; // SHORT_BINBYTES
        case 0x8e: push(take(u64()).slice()); break; // BINBYTES8
        case 0x96: push(take(u64()).slice()); break; // BYTEARRAY8
        case 0x97: case 0x98: fail(`${OP_NAMES[op]}: out-of-band buffers are not supported`); break;
        case 0x5d: push([]); break; // EMPTY_LIST
        case 0x29: push(new PickleTuple([])); break; // EMPTY_TUPLE
        case 0x7d: push(new PickleDict(false)); break; // EMPTY_DICT
        case 0x8f: push(new PickleSet([], false)); break; // EMPTY_SET
        case 0x6c: push(popMark()); break; // LIST
        case 0x74: push(new PickleTuple(popMark())); break; // TUPLE
        case 0x85: { const a = pop(); push(new PickleTuple([a])); break; }
        case 0x86: { const b = pop(); const a = pop(); push(new PickleTuple([a, b])); break; }
        case 0x87: { const c = pop(); const b = pop(); const a = pop(); push(new PickleTuple([a, b, c])); break; }
        case 0x64: { const d = new PickleDict(false); setItems(d, popMark()); push(d); break; } // DICT
        case 0x91: push(new PickleSet(popMark(), true)); break; // FROZENSET
        case 0x61: { const v = pop(); appendItems(top(), [v]); break; } // APPEND
        case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
        case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
        case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
        case 0x90: { // ADDITEMS
          const items = popMark();
          const s = top();
          if (!(s instanceof PickleSet)) fail(`ADDITEMS on ${describeValue(s)}`);
          (s as PickleSet).items.push(...items);
          break;
        }
        case 0x67: push(memoGet(parseTextInt(line(), false) as number)); break; // GET
        case 0x68: push(memoGet(u8())); break; // BINGET
        case 0x6a: push(memoGet(u32())); break; // LONG_BINGET
        case 0x70: memoPut(parseTextInt(line(), false) as number, top()); break; // PUT
        case 0x71: memoPut(u8(), top()); break; // BINPUT
        case 0x72: memoPut(u32(), top()); break; // LONG_BINPUT
        case 0x94: memoPut(memo.size, top()); break; // MEMOIZE
        case 0x63: { // GLOBAL
          const module = line();
          const name = line();
          push(resolveGlobal(module, name));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = pop();
          const module = pop();
          if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
          push(resolveGlobal(module as string, name as string));
          break;
        }
        case 0x52: { // REDUCE
          const args = pop();
          const callable = pop();
          if (!(args instanceof PickleTuple)) fail(`REDUCE arguments are not a tuple (${describeValue(args)})`);
          push(call(callable, (args as PickleTuple).items, 'REDUCE'));
          break;
        }
        case 0x81: { // NEWOBJ
          const args = pop();
          const cls = pop();
          if (!(args instanceof PickleTuple)) fail('NEWOBJ arguments are not a tuple');
          push(call(cls, (args as PickleTuple).items, 'NEWOBJ'));
          break;
        }
        case 0x92: { // NEWOBJ_EX
          const kwargs = pop();
          const args = pop();
          const cls = pop();
          if (!(args instanceof PickleTuple)) fail('NEWOBJ_EX arguments are not a tuple');
          if (!(kwargs instanceof PickleDict) || kwargs.map.size > 0) {
            if (!(cls instanceof PickleGlobal) || cls.handler.kind !== 'inert') fail('NEWOBJ_EX with keyword arguments is not supported');
          }
          push(call(cls, (args as PickleTuple).items, 'NEWOBJ_EX'));
          break;
        }
        case 0x6f: { // OBJ: MARK cls args... OBJ
          const items = popMark();
          if (items.length === 0) fail('OBJ without a class');
          push(call(items[0], items.slice(1), 'OBJ'));
          break;
        }
        case 0x69: { // INST module\n name\n, MARK args
          const module = line();
          const name = line();
          const g = resolveGlobal(module, name);
          push(call(g, popMark(), 'INST'));
          break;
        }
        case 0x62: { // BUILD
          const state = pop();
          const obj = top();
          if (obj instanceof PickleOpaque) obj.state = state;
          else if (obj instanceof PickleDict) obj.state = state;
          else if (obj !== null && typeof obj === 'object' && 'build' in obj && typeof (obj as { build: unknown }).build === 'function') {
            (obj as { build(state: PickleValue): void }).build(state);
          } else fail(`BUILD on ${describeValue(obj)} is not supported`);
          break;
        }
        case 0x50: { // PERSID
          if (!policy.persistentLoad) fail('persistent ids are not supported here');
          push(policy.persistentLoad!(line()));
          break;
        }
        case 0x51: { // BINPERSID
          if (!policy.persistentLoad) fail('persistent ids are not supported here');
          push(policy.persistentLoad!(pop()));
          break;
        }
        case 0x82: case 0x83: case 0x84:
          fail(`${OP_NAMES[op]}: the copyreg extension registry is not supported`);
          break;
        default:
          fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')} (not a pickle, or a newer protocol)`);
      }
    } catch (e) {
      if (e instanceof FileFormatError) throw e;
      fail((e as Error).message);
    }
  }
}

/** A short description of a value for error messages. */
export function describeValue(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PickleGlobal) return `global ${v.qualifiedName}`;
  if (v instanceof PickleOpaque) return `an opaque ${v.global.qualifiedName} object`;
  if (v instanceof PickleTuple) return `a tuple of ${v.items.length}`;
  if (v instanceof PickleDict) return `a dict of ${v.map.size}`;
  if (v instanceof PickleSet) return `a set of ${v.items.length}`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v instanceof Uint8Array) return `bytes of length ${v.length}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 37) + '...' : v)}`;
  if (typeof v === 'object') return `a ${(v as object).constructor?.name ?? 'object'}`;
  return `${typeof v} ${String(v)}`;
}
