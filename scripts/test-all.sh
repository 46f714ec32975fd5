#!/usr/bin/env bash
# Runs every test of the project: unit, parity-with-reference and CLI tests of all crates.
# The build cache lives outside the clone so repeated runs (and CI) reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/modalscope/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo test --workspace --locked
