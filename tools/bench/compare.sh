#!/usr/bin/env bash
# Runs one criterion benchmark of crates/bench and its PyTorch peer in one go, then prints the
# median of each case and its ratio to PyTorch (burn time / torch time; > 1 means burn is slower).
#
#   tools/bench/compare.sh [NAME]          # NAME: image_forward (default) or vis_step
#   tools/bench/compare.sh                 # image_forward, short criterion settings, torch with the Rust thread count
#   tools/bench/compare.sh vis_step        # one feature-visualization step (Lucent-style peer)
#   CARGO_FEATURES=wgpu tools/bench/compare.sh   # also the wgpu case (only measured with an adapter)
#
# NAME picks the bench `crates/bench/benches/NAME.rs` and its peer `tools/bench/torch_NAME.py`;
# the cases `NAME/vit_b32/*` get a ratio (the peer has the ViT-B/32 shapes), others do not.
#
# Environment:
#   PYTHON          python with torch + transformers (default: /tmp/pyref/venv/bin/python, then python3)
#   TORCH_THREADS   torch intra-op threads (default: the thread count the Rust run reported, else 1)
#   TORCH_RUNS      timed torch passes or steps (default 20; median reported)
#   CARGO_FEATURES  features of modalscope-bench to enable (e.g. wgpu)
#   BENCH_ARGS      criterion arguments (default: --warm-up-time 1 --measurement-time 5 --sample-size 10)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

name="${1:-image_forward}"
bench_src="crates/bench/benches/$name.rs"
peer="tools/bench/torch_$name.py"
if [[ ! -f "$bench_src" ]]; then
    echo "compare.sh: no benchmark $bench_src (try image_forward or vis_step)" >&2
    exit 2
fi

bench_args=${BENCH_ARGS:---warm-up-time 1 --measurement-time 5 --sample-size 10}
feature_args=()
if [[ -n "${CARGO_FEATURES:-}" ]]; then
    feature_args=(--features "$CARGO_FEATURES")
fi
target_dir="${CARGO_TARGET_DIR:-$root/target}"
criterion_dir="$target_dir/criterion/$name"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

echo "== criterion: cargo bench -p modalscope-bench --bench $name ${feature_args[*]} -- $bench_args" >&2
# Stale results of cases skipped this time must not show up in the table.
rm -rf "$criterion_dir"
# shellcheck disable=SC2086 # bench_args is a word list on purpose
cargo bench -p modalscope-bench --bench "$name" "${feature_args[@]}" -- $bench_args 2>&1 | tee "$log" >&2

rust_threads="$(sed -n 's/.*: threads=\([0-9][0-9]*\).*/\1/p' "$log" | sort -n | tail -n 1)"
threads="${TORCH_THREADS:-${rust_threads:-1}}"

if [[ -n "${PYTHON:-}" ]]; then
    python="$PYTHON"
elif [[ -x /tmp/pyref/venv/bin/python ]]; then
    python=/tmp/pyref/venv/bin/python
else
    python=python3
fi

torch_json=""
if [[ ! -f "$peer" ]]; then
    echo "== torch: no peer $peer; PyTorch peer skipped" >&2
elif "$python" -c 'import torch, transformers' >/dev/null 2>&1; then
    echo "== torch: $python $peer --threads $threads" >&2
    torch_json="$(HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$python" "$peer" \
        --threads "$threads" --runs "${TORCH_RUNS:-20}")"
    echo "$torch_json" >&2
else
    echo "== torch: $python lacks torch or transformers; PyTorch peer skipped (set PYTHON)" >&2
fi

# The table: every criterion case of this run, then the torch row.
python3 - "$criterion_dir" "$torch_json" "${rust_threads:-?}" "$name" <<'EOF'
import json, pathlib, sys

criterion_dir, torch_json, rust_threads, name = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
torch = json.loads(torch_json) if torch_json else None
rows = []
for est in sorted(criterion_dir.glob("**/new/estimates.json")):
    meta = json.loads((est.parent / "benchmark.json").read_text())
    median_ms = json.loads(est.read_text())["median"]["point_estimate"] / 1e6
    rows.append((meta["full_id"], median_ms))

torch_ms = torch["median_ms"] if torch else None
print()
print(f"{'case':<34} {'median ms':>10} {'vs torch':>9}")
for case, ms in rows:
    # Only the ViT-B/32 cases have a PyTorch peer (same shape); others get no ratio.
    ratio = f"{ms / torch_ms:.2f}x" if torch_ms and case.startswith(f"{name}/vit_b32/") else "-"
    print(f"{case:<34} {ms:>10.1f} {ratio:>9}")
if torch:
    print(f"{torch['case']:<34} {torch_ms:>10.1f} {'1.00x':>9}")
print()
print(f"threads: rust process {rust_threads}, torch intra-op {torch['threads'] if torch else '-'}")
EOF
