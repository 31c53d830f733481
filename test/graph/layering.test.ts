/** Style rule 5: the graph layer (graph, schema, registry) loads neither TensorFlow.js nor RxJS. */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';

describe('graph layer dependencies', () => {
  it('loading src/graph, src/schema and src/registry pulls in no TensorFlow.js, RxJS or inversify module', () => {
    // A fresh process: this one already has TensorFlow.js loaded by test/setup.ts.
    const script = "require('./src/graph'); require('./src/schema'); require('./src/registry');" +
      'console.log(JSON.stringify(Object.keys(require.cache).filter((k) => /node_modules[\\\\/](@tensorflow|rxjs|inversify)/.test(k))));';
    const out = execFileSync(process.execPath, ['-r', 'tsx/cjs', '-e', script], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out.trim()), []);
  });
});
