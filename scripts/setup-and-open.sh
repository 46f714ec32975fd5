#!/usr/bin/env bash
# The one command for a fresh Debian machine with a Rust toolchain (rustup): installs what the
# page needs, only what is missing (scripts/ensure-tools.sh), then builds it and serves it at
# http://127.0.0.1:$PORT (default 8080), opening a browser where there is one. After the first
# run it needs no network.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-8080}"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$PATH"
# The same build cache as scripts/test-all.sh, outside the clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/modalscope/target}"
export TRUNK_SKIP_VERSION_CHECK=true

source scripts/ensure-tools.sh

say() { printf 'setup: %s\n' "$*" >&2; }

trunk_version="$(trunk --version 2>/dev/null | awk '{print $2}')"
case "$trunk_version" in
  0.21.*) ;;
  *) say "warning: trunk $trunk_version found; this project is set up for trunk 0.21" ;;
esac
have_bindgen="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')"
say "trunk $trunk_version, wasm-bindgen $have_bindgen, $(wasm-opt --version)"
say "building and serving at http://127.0.0.1:$PORT/ (Ctrl-C stops)"
exec trunk serve --release --open --address 127.0.0.1 --port "$PORT"
