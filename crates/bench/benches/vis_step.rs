//! One feature-visualization step (batch 1, a 224 px image) on ViT-B/32 shapes, on the CPU
//! backends, and on wgpu when built with `--features wgpu` and an adapter exists.
//!
//! Ids: `vis_step/vit_b32/{flex,ndarray,wgpu}`. One iteration is `Session::step` (Fourier
//! parameterization with decorrelated colour, Lucid's standard transforms, the image tower up to
//! `vision.blocks.10.mlp`, the backward pass and Adam) plus reading the objective back to the
//! host, so lazy or asynchronous backends finish the work. `tools/bench/compare.sh vis_step`
//! runs this together with the PyTorch/Lucent-style peer (`tools/bench/torch_vis_step.py`) and
//! prints the ratio.
//!
//! Weights are seeded random (`Clip::random`): the timing does not depend on their values.

use std::hint::black_box;
use std::time::{Duration, Instant};

use burn::backend::{Autodiff, Flex, NdArray};
use burn::module::Module;
use burn::tensor::{TensorData, backend::AutodiffBackend};
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, criterion_group, criterion_main, measurement::WallTime,
};
use modalscope_model::{Clip, ClipConfig};
use modalscope_vis::{Objective, RenderConfig, Session};

const SEED: u64 = 0;
/// Side of the optimized image.
const SIZE: usize = 224;
/// The objective: channel 0 of block 10's MLP hidden units, averaged over positions.
const LAYER: &str = "vision.blocks.10.mlp";
const UNIT: usize = 0;
/// A case whose first step is slower than this is skipped (it would dominate the run).
const MAX_STEP: Duration = Duration::from_secs(10);

/// The frozen model and a fresh session on it.
fn setup<B: AutodiffBackend>(config: &ClipConfig, device: &B::Device) -> (Clip<B>, Session<B>) {
    let clip = Clip::<B>::random(config, SEED, device)
        .expect("random weights fit the preset")
        .no_grad();
    assert!(
        clip.layer_names().iter().any(|n| n == LAYER),
        "{LAYER} is not a layer of the model"
    );
    let render = RenderConfig {
        size: SIZE,
        batch: 1,
        ..Default::default()
    };
    let session =
        Session::new(&clip, Objective::channel(LAYER, UNIT), render).expect("a valid objective");
    (clip, session)
}

/// One optimization step, its objective read back to the host.
fn step<B: AutodiffBackend>(session: &mut Session<B>, clip: &Clip<B>) -> TensorData {
    session.step(clip).into_data()
}

/// Threads of this process (Linux); thread pools are started lazily by the first step.
fn os_threads() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

/// Times one step and registers `vis_step/<model>/<backend>`, or prints why it was skipped.
fn bench_session<B: AutodiffBackend>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    model: &str,
    backend: &str,
    clip: Clip<B>,
    mut session: Session<B>,
) {
    let start = Instant::now();
    let out = step(&mut session, &clip);
    let first = start.elapsed();
    assert_eq!(out.shape.to_vec(), vec![1], "one objective value");
    let value = out.convert::<f32>().into_vec::<f32>().expect("f32")[0];
    assert!(value.is_finite(), "objective {value}");
    // compare.sh reads this line to give PyTorch the same number of threads.
    if let Some(n) = os_threads() {
        eprintln!("vis_step/{model}/{backend}: threads={n}");
    }
    if first > MAX_STEP {
        eprintln!(
            "vis_step/{model}/{backend}: one step took {:.2} s (> {} s); skipped",
            first.as_secs_f64(),
            MAX_STEP.as_secs()
        );
        return;
    }
    group.bench_function(format!("{model}/{backend}"), |b| {
        b.iter(|| black_box(step(&mut session, &clip)))
    });
}

fn bench_case<B: AutodiffBackend>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    model: &str,
    backend: &str,
    config: &ClipConfig,
    device: &B::Device,
) {
    let (clip, session) = setup::<B>(config, device);
    bench_session(group, model, backend, clip, session);
}

fn vis_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("vis_step");
    // Steps take hundreds of milliseconds or more: one iteration per sample.
    group.sampling_mode(SamplingMode::Flat);

    let vit = ClipConfig::vit_b32();
    bench_case::<Autodiff<Flex>>(&mut group, "vit_b32", "flex", &vit, &Default::default());
    bench_case::<Autodiff<NdArray>>(&mut group, "vit_b32", "ndarray", &vit, &Default::default());
    #[cfg(feature = "wgpu")]
    wgpu::bench(&mut group, &vit);

    group.finish();
}

#[cfg(feature = "wgpu")]
mod wgpu {
    use std::panic::{self, AssertUnwindSafe};

    use burn::backend::wgpu::WgpuDevice;
    use burn::backend::{Autodiff, Wgpu};
    use criterion::{BenchmarkGroup, measurement::WallTime};
    use modalscope_model::ClipConfig;

    use super::{bench_session, setup, step};

    type B = Autodiff<Wgpu>;

    /// Adds `vis_step/vit_b32/wgpu` when a wgpu adapter can be created and runs a step. The
    /// probe step compiles the kernels, so the time limit applies to the step after it.
    pub fn bench(group: &mut BenchmarkGroup<'_, WallTime>, config: &ClipConfig) {
        let device = WgpuDevice::default();
        // Without an adapter cubecl panics on the first operation; probe quietly.
        let hook = panic::take_hook();
        panic::set_hook(Box::new(|_| {}));
        let probe = panic::catch_unwind(AssertUnwindSafe(|| {
            let (clip, mut session) = setup::<B>(config, &device);
            step(&mut session, &clip);
            (clip, session)
        }));
        panic::set_hook(hook);
        let Ok((clip, session)) = probe else {
            eprintln!("vis_step/vit_b32/wgpu: no wgpu adapter; skipped");
            return;
        };
        bench_session(group, "vit_b32", "wgpu", clip, session);
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
    targets = vis_step
}
criterion_main!(benches);
