//! Benchmarks only: see `benches/image_forward.rs` (the image tower's forward pass),
//! `benches/vis_step.rs` (one feature-visualization step) and `tools/bench/compare.sh`, which
//! runs one of them (`compare.sh [image_forward|vis_step]`) with its PyTorch peer
//! (`tools/bench/torch_<name>.py`) and prints the ratios.
