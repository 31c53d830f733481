/**
 * Registers every TensorFlow.js gradient, under tsx and under plain Node alike. Import this module
 * (for its effect) instead of '@tensorflow/tfjs-core/dist/register_all_gradients'.
 *
 * Why: tfjs-core's CommonJS build (what `require('@tensorflow/tfjs-core')` loads) contains no gradient
 * functions; they ship only as ES modules with extension-less relative imports
 * (dist/register_all_gradients.js → './gradients/Abs_grad'). tsx resolves those, so tests pass, but
 * plain Node — the built CLI, `require('distillery')` — fails with ERR_MODULE_NOT_FOUND. The build
 * therefore bundles them into one CommonJS file, dist/vendor/tfjs-core-gradients.cjs
 * (scripts/postbuild.js, with esbuild). The bundle carries its own copies of the ops the gradients
 * call; they run on the same engine and register into the same registries, because tfjs-core keeps
 * its engine, kernel and gradient registries in one global namespace and tests tensors by shape, not
 * by class identity.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

// dist/src/util/ → dist/vendor/ (absent when running the TypeScript sources through tsx).
const bundled = path.join(__dirname, '..', '..', 'vendor', 'tfjs-core-gradients.cjs');

if (fs.existsSync(bundled)) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(bundled);
} else {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('@tensorflow/tfjs-core/dist/register_all_gradients');
}
