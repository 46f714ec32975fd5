#!/usr/bin/env bash
# Builds the page into dist/ (release, relative asset paths so dist/ can be served from any
# sub-path): the Leptos page and the model worker, two wasm binaries of crates/web. Needs the
# tools scripts/setup-and-open.sh installs; uses no network.
# Extra arguments go to `trunk build` (e.g. --dist /tmp/site, --no-default-features for a
# worker without WebGPU). Then `node tests/e2e/run.mjs` tests the result in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# The same build cache as scripts/test-all.sh, outside the clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/modalscope/target}"
export TRUNK_SKIP_VERSION_CHECK=true

for tool in trunk wasm-bindgen wasm-opt; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build-page: '$tool' is missing; run 'bash scripts/setup-and-open.sh' once" >&2
    exit 1
  fi
done

# Where trunk writes (Trunk.toml says dist; --dist/-d overrides it).
dist=dist
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --dist | -d) dist="${args[i + 1]:-dist}" ;;
    --dist=*) dist="${args[i]#--dist=}" ;;
  esac
done

trunk build --release "$@"

for f in modalscope-worker_loader.js modalscope-worker.js modalscope-worker_bg.wasm; do
  if [ ! -e "$dist/$f" ]; then
    echo "build-page: $dist/$f is missing: the page cannot start its model worker" >&2
    exit 1
  fi
done

for wasm in "$dist"/*.wasm; do
  [ -e "$wasm" ] || continue
  printf 'build-page: %s: %s bytes, %s bytes gzip -9\n' \
    "$wasm" "$(wc -c <"$wasm")" "$(gzip -9 -c "$wasm" | wc -c)"
done
