/**
 * The allow-list pickle reader: values of every protocol decode as Python wrote them, and hostile
 * pickles are refused by the name of the global they use, before anything could run.
 * The hex pickles below were produced by CPython 3.11 `pickle.dumps(VALUE, protocol=p)` with
 * VALUE = {'x': [1, -2, 3.5, 'é', b'\x00\x01', (1, 2), None, True, 2**70, -300, 70000], 'y': {1, 2}, 'z': frozenset([3])}.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileFormatError } from '../../src/errors';
import {
  PickleDict, PickleOpaque, PickleSet, PickleTuple, unpickle, type PicklePolicy, type PickleValue,
} from '../../src/io/pickle';
import { PickleEmitter } from './torch-zip-writer';

const PICKLES: Record<number, string> = {
  0: '286470300a56780a70310a286c70320a49310a61492d320a6146332e350a6156e90a70330a61635f636f646563730a656e636f64650a70340a28565c7530303030010a70350a566c6174696e310a70360a7470370a5270380a612849310a49320a7470390a614e614930310a614c313138303539313632303731373431313330333432344c0a61492d3330300a614937303030300a617356790a7031300a635f5f6275696c74696e5f5f0a7365740a7031310a28286c7031320a49310a6149320a61747031330a527031340a73567a0a7031350a635f5f6275696c74696e5f5f0a66726f7a656e7365740a7031360a28286c7031370a49330a61747031380a527031390a732e',
  2: '80027d71002858010000007871015d7102284b014afeffffff47400c0000000000005802000000c3a97103635f636f646563730a656e636f64650a710458020000000001710558060000006c6174696e3171068671075271084b014b028671094e888a090000000000000000404ad4feffff4a7011010065580100000079710a635f5f6275696c74696e5f5f0a7365740a710b5d710c284b014b026585710d52710e58010000007a710f635f5f6275696c74696e5f5f0a66726f7a656e7365740a71105d71114b0361857112527113752e',
  4: '80049559000000000000007d94288c0178945d94284b014afeffffff47400c0000000000008c02c3a99443020001944b014b0286944e888a090000000000000000404ad4feffff4a70110100658c0179948f94284b014b02908c017a94284b039194752e',
  5: '80059559000000000000007d94288c0178945d94284b014afeffffff47400c0000000000008c02c3a99443020001944b014b0286944e888a090000000000000000404ad4feffff4a70110100658c0179948f94284b014b02908c017a94284b039194752e',
};

/** Plain-data policy of the test: bytes (protocol 0/2 spell them _codecs.encode), sets. */
const POLICY: PicklePolicy = {
  resolveGlobal(module, name) {
    const q = `${module}.${name}`;
    if (q === '_codecs.encode') {
      return { kind: 'call', call: ([s]) => Uint8Array.from(s as string, (c) => c.charCodeAt(0)) };
    }
    if (q === '__builtin__.set' || q === '__builtin__.frozenset') {
      return { kind: 'call', call: ([items]) => new PickleSet(items as PickleValue[], name === 'frozenset') };
    }
    if (module === 'pytorch_lightning.callbacks') return { kind: 'inert' };
    return undefined;
  },
};

function hex(h: string): Uint8Array {
  return Uint8Array.from(Buffer.from(h, 'hex'));
}

function refusal(bytes: Uint8Array): FileFormatError {
  try {
    unpickle(bytes, { file: 'evil.pkl', policy: POLICY });
  } catch (e) {
    assert.ok(e instanceof FileFormatError, `expected FileFormatError, got ${String(e)}`);
    return e;
  }
  assert.fail('the pickle was accepted');
}

describe('io/pickle', () => {
  for (const proto of [0, 2, 4, 5]) {
    it(`decodes CPython's protocol ${proto} pickle of dict / list / tuple / str / bytes / big int / set / frozenset`, () => {
      const v = unpickle(hex(PICKLES[proto]), { file: 'x.pkl', policy: POLICY });
      assert.ok(v instanceof PickleDict);
      const x = v.get('x') as PickleValue[];
      assert.equal(x.length, 11);
      assert.deepEqual(x.slice(0, 4), [1, -2, 3.5, 'é']);
      assert.deepEqual(Array.from(x[4] as Uint8Array), [0, 1]);
      assert.ok(x[5] instanceof PickleTuple);
      assert.deepEqual((x[5] as PickleTuple).items, [1, 2]);
      assert.equal(x[6], null);
      assert.equal(x[7], true);
      assert.equal(x[8], 2n ** 70n);
      assert.deepEqual(x.slice(9), [-300, 70000]);
      const y = v.get('y') as PickleSet;
      assert.deepEqual([y.items, y.frozen], [[1, 2], false]);
      const z = v.get('z') as PickleSet;
      assert.deepEqual([z.items, z.frozen], [[3], true]);
    });
  }

  describe('hostile pickles are refused by name', () => {
    it('a __reduce__ to os.system (protocol 0: GLOBAL "os system", REDUCE)', () => {
      const marker = path.join(os.tmpdir(), `distillery-pickle-${process.pid}`);
      const e = refusal(Buffer.from(`cos\nsystem\n(S'touch ${marker}'\ntR.`, 'latin1'));
      assert.match(e.message, /^evil\.pkl: pickle byte 0: refusing global "os\.system": it is not on the allow-list of this reader, which never executes code from a pickle$/);
      assert.equal(fs.existsSync(marker), false);
    });
    it('builtins.eval through STACK_GLOBAL (protocol 4)', () => {
      const e = new PickleEmitter().proto(4).raw(0x8c, 8, ...Buffer.from('builtins')).raw(0x8c, 4, ...Buffer.from('eval')).raw(0x93)
        .str('__import__("os").system("true")').raw(0x85).op('R').op('.');
      assert.match(refusal(e.bytes()).message, /pickle byte 18: refusing global "builtins\.eval"/);
    });
    it('posix.system through INST and an unknown class through NEWOBJ', () => {
      const inst = Buffer.from("(S'id'\niposix\nsystem\n.", 'latin1');
      assert.match(refusal(inst).message, /refusing global "posix\.system"/);
      const newobj = new PickleEmitter().proto(2).global('mymodule', 'Evil').raw(0x29).raw(0x81).op('.').bytes();
      assert.match(refusal(newobj).message, /pickle byte 2: refusing global "mymodule\.Evil"/);
    });
    it('the refusal names the policy hint when there is one', () => {
      const policy: PicklePolicy = { ...POLICY, refusalHint: 'only X is allowed' };
      assert.throws(() => unpickle(Buffer.from('cos\nsystem\n.', 'latin1'), { file: 'f', policy }),
        /refusing global "os\.system": .* \(only X is allowed\)$/);
    });
    it('REDUCE on a value that is not a global is refused', () => {
      const e = new PickleEmitter().proto(2).str('os.system').raw(0x29).op('R').op('.');
      assert.match(refusal(e.bytes()).message, /REDUCE of something that is not a global \(the string "os\.system"\); refusing/);
    });
    it('extension-registry codes and out-of-band buffers are refused', () => {
      assert.match(refusal(Uint8Array.from([0x80, 2, 0x82, 1, 0x2e])).message, /EXT1: the copyreg extension registry is not supported/);
      assert.match(refusal(Uint8Array.from([0x80, 5, 0x97, 0x2e])).message, /NEXT_BUFFER: out-of-band buffers are not supported/);
    });
  });

  it('an inert global is recorded, never called: REDUCE and BUILD give a PickleOpaque', () => {
    const e = new PickleEmitter().proto(2).global('pytorch_lightning.callbacks', 'ModelCheckpoint')
      .str('arg').raw(0x85).op('R').op('}').str('best_model_path').str('x.ckpt').op('s').op('b').op('.');
    const v = unpickle(e.bytes(), { file: 'f', policy: POLICY });
    assert.ok(v instanceof PickleOpaque);
    assert.equal(v.global.qualifiedName, 'pytorch_lightning.callbacks.ModelCheckpoint');
    assert.deepEqual(v.args, ['arg']);
    assert.equal((v.state as PickleDict).get('best_model_path'), 'x.ckpt');
  });

  describe('malformed input', () => {
    it('truncation, a missing STOP, an unknown opcode, a bad memo key, an unsupported protocol', () => {
      assert.throws(() => unpickle(Uint8Array.from([0x80, 2, 0x58, 10, 0, 0, 0, 0x61]), { file: 'f', policy: POLICY }),
        /^FileFormatError: f: pickle byte 2: truncated: needs 10 more bytes, 1 left$/);
      assert.throws(() => unpickle(Uint8Array.from([0x80, 2, 0x4e]), { file: 'f', policy: POLICY }), /pickle byte 3: truncated: no STOP opcode/);
      assert.throws(() => unpickle(Uint8Array.from([0x80, 2, 0xff]), { file: 'f', policy: POLICY }), /pickle byte 2: unknown opcode 0xff/);
      assert.throws(() => unpickle(Uint8Array.from([0x80, 2, 0x68, 7, 0x2e]), { file: 'f', policy: POLICY }), /memo key 7 was never stored/);
      assert.throws(() => unpickle(Uint8Array.from([0x80, 6, 0x4e, 0x2e]), { file: 'f', policy: POLICY }), /unsupported pickle protocol 6/);
      assert.throws(() => unpickle(Uint8Array.from([0x2e]), { file: 'f', policy: POLICY }), /stack underflow/);
    });
  });
});
