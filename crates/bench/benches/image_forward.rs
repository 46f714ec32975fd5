//! Image-tower forward pass (batch 1, 224 px) on the CPU backends, and on wgpu when built with
//! `--features wgpu` and an adapter exists.
//!
//! Ids: `image_forward/vit_b32/{flex,ndarray,wgpu}` and `image_forward/rn50/flex` (the latter
//! only when one pass takes under 3 s on this machine). `tools/bench/compare.sh` runs this
//! together with the PyTorch peer (`tools/bench/torch_image_forward.py`) and prints the ratio.
//!
//! Weights are seeded random (`Clip::random`): the timing does not depend on their values.

use std::hint::black_box;
use std::time::{Duration, Instant};

use burn::backend::{Flex, NdArray};
use burn::tensor::{Tensor, TensorData, backend::Backend};
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, criterion_group, criterion_main, measurement::WallTime,
};
use modalscope_model::{Clip, ClipConfig};

const BATCH: usize = 1;
const SEED: u64 = 0;
/// A case whose single pass is slower than this is skipped (it would dominate the run).
const MAX_PASS: Duration = Duration::from_secs(3);

/// A deterministic, roughly normalized image batch `[batch, 3, size, size]`.
fn images<B: Backend>(size: usize, device: &B::Device) -> Tensor<B, 4> {
    let n = BATCH * 3 * size * size;
    let data: Vec<f32> = (0..n)
        .map(|i| ((i as f32) * 0.618_034).sin() * 1.5)
        .collect();
    Tensor::from_data(TensorData::new(data, [BATCH, 3, size, size]), device)
}

/// One forward pass, read back to the host so lazy or asynchronous backends finish the work.
fn forward<B: Backend>(clip: &Clip<B>, x: &Tensor<B, 4>) -> TensorData {
    clip.encode_image(x.clone()).into_data()
}

/// Threads of this process (Linux); thread pools are started lazily by the first pass.
fn os_threads() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

/// Registers `image_forward/<model>/<backend>`, or prints why it was skipped.
fn bench_case<B: Backend>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    model: &str,
    backend: &str,
    config: &ClipConfig,
    device: &B::Device,
) {
    let clip = Clip::<B>::random(config, SEED, device).expect("random weights fit the preset");
    let x = images::<B>(config.vision.image_size(), device);
    let start = Instant::now();
    let out = forward(&clip, &x);
    let first = start.elapsed();
    assert_eq!(
        out.shape.to_vec(),
        vec![BATCH, config.projection_dim],
        "embedding shape"
    );
    // compare.sh reads this line to give PyTorch the same number of threads.
    if let Some(n) = os_threads() {
        eprintln!("image_forward/{model}/{backend}: threads={n}");
    }
    if first > MAX_PASS {
        eprintln!(
            "image_forward/{model}/{backend}: one pass took {:.2} s (> {} s); skipped",
            first.as_secs_f64(),
            MAX_PASS.as_secs()
        );
        return;
    }
    group.bench_function(format!("{model}/{backend}"), |b| {
        b.iter(|| black_box(forward(&clip, &x)))
    });
}

fn image_forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("image_forward");
    // Passes take hundreds of milliseconds: one iteration per sample.
    group.sampling_mode(SamplingMode::Flat);

    let vit = ClipConfig::vit_b32();
    bench_case::<Flex>(&mut group, "vit_b32", "flex", &vit, &Default::default());
    bench_case::<NdArray>(&mut group, "vit_b32", "ndarray", &vit, &Default::default());
    #[cfg(feature = "wgpu")]
    wgpu::bench(&mut group, &vit);

    bench_case::<Flex>(
        &mut group,
        "rn50",
        "flex",
        &ClipConfig::rn50(),
        &Default::default(),
    );

    group.finish();
}

#[cfg(feature = "wgpu")]
mod wgpu {
    use std::panic::{self, AssertUnwindSafe};

    use burn::backend::Wgpu;
    use burn::backend::wgpu::WgpuDevice;
    use criterion::{BenchmarkGroup, measurement::WallTime};
    use modalscope_model::{Clip, ClipConfig};

    use super::{SEED, forward, images};

    /// Adds `image_forward/vit_b32/wgpu` when a wgpu adapter can be created and runs the model.
    pub fn bench(group: &mut BenchmarkGroup<'_, WallTime>, config: &ClipConfig) {
        let device = WgpuDevice::default();
        // Without an adapter cubecl panics on the first operation; probe quietly.
        let hook = panic::take_hook();
        panic::set_hook(Box::new(|_| {}));
        let probe = panic::catch_unwind(AssertUnwindSafe(|| {
            let clip =
                Clip::<Wgpu>::random(config, SEED, &device).expect("random weights fit the preset");
            let x = images::<Wgpu>(config.vision.image_size(), &device);
            forward(&clip, &x);
            (clip, x)
        }));
        panic::set_hook(hook);
        let Ok((clip, x)) = probe else {
            eprintln!("image_forward/vit_b32/wgpu: no wgpu adapter; skipped");
            return;
        };
        group.bench_function("vit_b32/wgpu", |b| {
            b.iter(|| std::hint::black_box(forward(&clip, &x)))
        });
    }
}

criterion_group! {
    name = benches;
    // Short by default; command-line flags (`--warm-up-time`, `--measurement-time`,
    // `--sample-size`) override these.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = image_forward
}
criterion_main!(benches);
