//! Benchmarks only: see `benches/image_forward.rs` and `tools/bench/compare.sh`.
