#!/usr/bin/env node
// Builds the native libtorch backend (native/libtorch) when libtorch is installed; otherwise prints one
// line and exits 0, so that `npm ci` succeeds and backend selection falls through to WASM.
//
// Where libtorch is looked for (first match wins):
//   LIBTORCH_INCLUDE / LIBTORCH_LIB  explicit header and library directories
//   LIBTORCH_HOME                    an unpacked libtorch distribution (include/, lib/)
//   /usr/include + the system library directories   Debian/Ubuntu: apt-get install libtorch-dev libopenblas0-openmp
//
// The build goes through npm's own node-gyp (npm sets npm_config_node_gyp for scripts; npm here is configured
// with nodedir, so no headers are downloaded). Run it with `npm run build:native`.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const addonDir = path.join(root, 'native', 'libtorch');
const prefix = 'distillery: native libtorch backend';

// Where system libraries live (Debian/Ubuntu multiarch, then the classic places).
const SYSTEM_LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];

// A linkable `file` (e.g. libgloo.so) in the system library directories or next to libtorch.
function hasSystemLib(file, found) {
  return [...SYSTEM_LIB_DIRS, found.lib].some((d) => fs.existsSync(path.join(d, file)));
}

function findLibDir(candidates) {
  return candidates.find((dir) => dir && fs.existsSync(path.join(dir, 'libtorch_cpu.so')));
}

function locate() {
  const home = process.env.LIBTORCH_HOME;
  const include = process.env.LIBTORCH_INCLUDE || (home ? path.join(home, 'include') : '/usr/include');
  const header = path.join(include, 'ATen', 'ATen.h');
  if (!fs.existsSync(header)) return { reason: `libtorch headers not found (no ${header})` };
  const lib = findLibDir(process.env.LIBTORCH_LIB ? [process.env.LIBTORCH_LIB] : [
    home && path.join(home, 'lib'), ...SYSTEM_LIB_DIRS,
  ]);
  if (!lib) return { reason: 'libtorch_cpu.so not found' + (process.env.LIBTORCH_LIB ? ` in ${process.env.LIBTORCH_LIB}` : '') };
  return { include, lib };
}

function nodeGypScript() {
  if (process.env.npm_config_node_gyp && fs.existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  // Outside npm: the node-gyp bundled with the npm that sits next to this node binary.
  const bundled = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (fs.existsSync(bundled)) return bundled;
  return undefined;
}

// npm passes its configured nodedir to node-gyp; outside npm, use the headers installed next to this node
// (a distribution install has <prefix>/include/node/common.gypi) so node-gyp never downloads them.
function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const installed = path.join(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(installed, 'include', 'node', 'common.gypi')) ? installed : undefined;
}

// oneDNN 2.x (the API generation libtorch 1.13 is built on): its version header and a linkable library.
function oneDnn2(found) {
  const header = ['/usr/include', found.include].map((d) => path.join(d, 'oneapi', 'dnnl', 'dnnl_version.h')).find((f) => fs.existsSync(f));
  if (!header) return false;
  const major = /#define\s+DNNL_VERSION_MAJOR\s+(\d+)/.exec(fs.readFileSync(header, 'utf8'));
  if (!major || major[1] !== '2') return false;
  return hasSystemLib('libdnnl.so', found);
}

function main() {
  const found = locate();
  if (!found.include) {
    console.log(`${prefix} skipped: ${found.reason}; install libtorch-dev and libopenblas0-openmp to enable it.`);
    return 0;
  }
  const gyp = nodeGypScript();
  if (!gyp) {
    console.error(`${prefix}: libtorch found but node-gyp was not; run this through npm (npm run build:native).`);
    return 1;
  }
  // The process group for distributed runs (distillery_c10d) also needs Gloo's headers and library and
  // libtorch's c10d headers; without them only the tensor backend is built.
  const gloo = fs.existsSync('/usr/include/gloo/config.h') || fs.existsSync(path.join(found.include, 'gloo', 'config.h'));
  const glooLib = hasSystemLib('libgloo.so', found);
  const c10d = fs.existsSync(path.join(found.include, 'torch', 'csrc', 'distributed', 'c10d', 'ProcessGroupGloo.hpp'));
  const buildC10d = gloo && glooLib && c10d;
  if (!buildC10d) console.log(`${prefix}: Gloo or the c10d headers not found; distributed runs stay unavailable (install libgloo-dev to enable them).`);
  // bf16 autocast's convolutions with float32 results straight on oneDNN (src/bf16_conv.cc) need oneDNN 2.x's
  // headers and library (Debian: libdnnl-dev, the oneDNN that libtorch-dev links); without them the bf16
  // convolutions take ATen's path (bf16 results widened to float32: slower, the same products).
  const dnnl = oneDnn2(found);
  if (!dnnl) console.log(`${prefix}: oneDNN 2.x headers not found; bf16 convolutions take ATen's slower path (install libdnnl-dev to enable the direct one).`);
  const env = {
    ...process.env, LIBTORCH_INCLUDE: found.include, LIBTORCH_LIB: found.lib, DISTILLERY_BUILD_C10D: buildC10d ? '1' : '0',
    DISTILLERY_DNNL: dnnl ? '1' : '0',
  };
  const args = [gyp, 'rebuild'];
  const dir = nodeDir();
  if (dir) args.push(`--nodedir=${dir}`);
  const r = spawnSync(process.execPath, args, { cwd: addonDir, env, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`${prefix}: build failed (libtorch at ${found.include}, ${found.lib}).`);
    return r.status ?? 1;
  }
  console.log(`${prefix} built (libtorch at ${found.include}, ${found.lib}).`);
  return 0;
}

process.exitCode = main();
