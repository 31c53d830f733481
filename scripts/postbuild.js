// Makes the built CLI executable (npm links "bin" to it).
const fs = require('node:fs');
const path = require('node:path');
const cli = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (fs.existsSync(cli)) fs.chmodSync(cli, 0o755);

// TF.js gradients as one CommonJS file for plain Node (see src/util/tf-gradients.ts): tfjs-core ships
// them only as ES modules with extension-less imports, which Node cannot load.
const esbuild = require('esbuild');
esbuild.buildSync({
  entryPoints: [require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: path.join(__dirname, '..', 'dist', 'vendor', 'tfjs-core-gradients.cjs'),
  logLevel: 'warning',
});
