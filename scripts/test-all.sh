#!/usr/bin/env bash
# Runs every test of the project: unit, parity-with-reference and CLI tests of all crates, then
# builds the page (scripts/build-page.sh) and tests it end to end in headless Chromium
# (tests/e2e/run.mjs: home, layer grid, neuron links, determinism, embed, rows of cards, bad
# links and bad weights URLs, downloads with cancel and cache, the analysis views, image sets,
# dataset examples, activation atlases and their export/import: tests/e2e/survey.mjs).
# The build cache lives outside the clone so repeated runs (and CI) reuse it.
#
# The page needs the wasm32 target, trunk, wasm-bindgen, Chromium, Node.js and playwright-core
# (tests/e2e/package-lock.json); scripts/ensure-tools.sh installs what is missing. Where they
# cannot be had (no apt, no network for rustup), the page part is skipped with a loud note, or
# fails with MODALSCOPE_REQUIRE_PAGE=1. MODALSCOPE_SKIP_PAGE=1 skips it on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/modalscope/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
start=$SECONDS
elapsed() { printf '%dm%02ds' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)); }

cargo test --workspace --locked
echo "test-all: cargo tests passed ($(elapsed))"

if [ "${MODALSCOPE_SKIP_PAGE:-0}" = 1 ]; then
  echo "test-all: MODALSCOPE_SKIP_PAGE=1: the page is neither built nor tested"
  exit 0
fi

# --- the page's tools ---------------------------------------------------------------------------
if ! bash scripts/ensure-tools.sh </dev/null; then
  if [ "${MODALSCOPE_REQUIRE_PAGE:-0}" = 1 ]; then
    echo "test-all: the page's tools could not be installed (see above)" >&2
    exit 1
  fi
  echo "test-all: ##################################################################" >&2
  echo "test-all: SKIPPED the page build and its end-to-end tests: the tools they need" >&2
  echo "test-all: could not be installed here (see above)." >&2
  echo "test-all: ##################################################################" >&2
  exit 0
fi
if [ ! -d tests/e2e/node_modules/playwright-core ]; then
  (cd tests/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
echo "test-all: tools ready ($(elapsed))"

# --- build and test the page --------------------------------------------------------------------
bash scripts/build-page.sh
echo "test-all: page built ($(elapsed))"
node tests/e2e/run.mjs
echo "test-all: all passed ($(elapsed))"
