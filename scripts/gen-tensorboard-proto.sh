#!/usr/bin/env bash
# Regenerates the committed code of the TensorBoard event protos (src/io/tensorboard/proto/*.proto):
#   src/io/tensorboard/gen/*_pb.ts   for the writer (@bufbuild/protobuf, by protoc-gen-es)
#   test/fixtures/tensorboard/*_pb2.py for the independent Python reader (python3-protobuf)
# Needs protoc (Debian: protobuf-compiler) and the dev dependency @bufbuild/protoc-gen-es.
# Usage: npm run gen:proto, or scripts/gen-tensorboard-proto.sh [output root, default: the repository]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$repo}"
proto="$repo/src/io/tensorboard/proto"
mkdir -p "$out/src/io/tensorboard/gen" "$out/test/fixtures/tensorboard"
protoc -I "$proto" \
  --plugin=protoc-gen-es="$repo/node_modules/.bin/protoc-gen-es" \
  --es_out="$out/src/io/tensorboard/gen" --es_opt=target=ts,import_extension=none \
  --python_out="$out/test/fixtures/tensorboard" \
  "$proto/summary.proto" "$proto/event.proto"
