/**
 * The committed code generated from src/io/tensorboard/proto (TypeScript for the writer, Python for the
 * test reader) is what scripts/gen-tensorboard-proto.sh makes from those .proto files now.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');
const GENERATED = ['src/io/tensorboard/gen/event_pb.ts', 'src/io/tensorboard/gen/summary_pb.ts', 'test/fixtures/tensorboard/event_pb2.py', 'test/fixtures/tensorboard/summary_pb2.py'];

describe('io/tensorboard generated code', () => {
  it('matches a fresh protoc run over src/io/tensorboard/proto', function () {
    const protoc = spawnSync('protoc', ['--version'], { encoding: 'utf8' });
    if (protoc.status !== 0) {
      console.log('      NOTICE: skipped, protoc is not installed (apt-get install protobuf-compiler)');
      this.skip();
    }
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-protogen-'));
    try {
      execFileSync('bash', [path.join(ROOT, 'scripts/gen-tensorboard-proto.sh'), tmp], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      for (const file of GENERATED) {
        assert.equal(fs.readFileSync(path.join(tmp, file), 'utf8'), fs.readFileSync(path.join(ROOT, file), 'utf8'),
          `${file} is out of date: run scripts/gen-tensorboard-proto.sh (${protoc.stdout.trim()})`);
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
