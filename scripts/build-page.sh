#!/usr/bin/env bash
# Builds the page into dist/ (release, wasm-opt'd, relative asset paths so dist/ can be served
# from any sub-path). Needs the tools scripts/setup-and-open.sh installs; uses no network.
# Extra arguments go to `trunk build` (e.g. --dist /tmp/site).
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

trunk build --release "$@"

for wasm in dist/*.wasm; do
  [ -e "$wasm" ] || continue
  printf 'build-page: %s: %s bytes, %s bytes gzip -9\n' \
    "$wasm" "$(wc -c <"$wasm")" "$(gzip -9 -c "$wasm" | wc -c)"
done
