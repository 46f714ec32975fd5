#!/usr/bin/env bash
# Installs what building the page and running every test needs, only what is missing, on a
# Debian machine with a Rust toolchain (rustup). Sourced by setup-and-open.sh and test-all.sh.
#
#   apt:   build-essential, pkg-config (to compile the tools), binaryen (wasm-opt), chromium
#          (end-to-end tests), nodejs + npm (the test driver)
#   rustup target wasm32-unknown-unknown
#   cargo install --locked trunk ~0.21                       (only if there is no `trunk`)
#   cargo install wasm-bindgen-cli <Cargo.lock's>            (if missing or another version)
#   npm ci in tests/e2e                                      (playwright-core; no browser download)
#   cargo fetch --locked                                     (so builds can run --offline)
set -euo pipefail

CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$PATH"
export TRUNK_SKIP_VERSION_CHECK=true

say() { printf 'tools: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root for: $* (no sudo found); run it as root, then rerun this script"
  fi
}

# --- apt packages, only those whose command is missing -----------------------------------------
apt_missing=()
command -v cc >/dev/null 2>&1 || apt_missing+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || apt_missing+=(pkg-config)
command -v wasm-opt >/dev/null 2>&1 || apt_missing+=(binaryen)
[ -x /usr/bin/chromium ] || apt_missing+=(chromium)
command -v node >/dev/null 2>&1 || apt_missing+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_missing+=(npm)
if [ "${#apt_missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 ||
    die "missing ${apt_missing[*]} and no apt-get: install them with your package manager"
  say "apt-get install ${apt_missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"
fi

# --- Rust: the wasm target ----------------------------------------------------------------------
command -v cargo >/dev/null 2>&1 || die "no cargo: install Rust with rustup (https://rustup.rs) first"
if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
else
  rustc --print target-list | grep -qx wasm32-unknown-unknown ||
    die "no rustup and this rustc cannot target wasm32-unknown-unknown"
fi

# --- trunk (0.21: 0.22 needs a newer rustc) -----------------------------------------------------
if ! command -v trunk >/dev/null 2>&1; then
  say "cargo install --locked trunk --version ~0.21 (several minutes)"
  cargo install --locked trunk --version '~0.21'
fi

# --- wasm-bindgen CLI: exactly the version of the wasm-bindgen crate in Cargo.lock --------------
want_bindgen="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
[ -n "$want_bindgen" ] || die "could not read the wasm-bindgen version from Cargo.lock"
have_bindgen="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have_bindgen" != "$want_bindgen" ]; then
  say "cargo install wasm-bindgen-cli --version $want_bindgen (found: ${have_bindgen:-none})"
  # --locked first (reproducible); its own lock file can name a crate release the registry no
  # longer serves (seen: webpki-roots 1.0.11), so fall back to resolving afresh.
  cargo install --locked --force wasm-bindgen-cli --version "$want_bindgen" ||
    cargo install --force wasm-bindgen-cli --version "$want_bindgen"
  have_bindgen="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
  [ "$have_bindgen" = "$want_bindgen" ] ||
    die "wasm-bindgen on PATH ($(command -v wasm-bindgen)) is $have_bindgen, not $want_bindgen: remove it or put $CARGO_BIN first on PATH"
fi

# --- the end-to-end test driver (playwright-core drives Debian's chromium; downloads no browser)
if [ -f tests/e2e/package-lock.json ] && [ ! -d tests/e2e/node_modules/playwright-core ]; then
  say "npm ci in tests/e2e"
  (cd tests/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
fi

# --- crates, so that trunk's cargo can run --offline --------------------------------------------
cargo fetch --locked --offline >/dev/null 2>&1 || cargo fetch --locked
