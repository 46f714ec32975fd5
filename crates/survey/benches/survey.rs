//! The activation pass over the built-in model's generated image set (images per second is
//! `batch / time`), batch 16 on the CPU backends, against the plain forward pass of the same
//! images as its peer (the pass's own overhead: generating, top-k, sampling).
//!
//! Ids: `survey/{pass,forward}/builtin/{flex,ndarray}`.

use std::hint::black_box;
use std::time::Duration;

use burn::backend::{Flex, NdArray};
use burn::tensor::backend::Backend;
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use modalscope_model::{Clip, Preprocessor};
use modalscope_survey::{ImageSet, Pass, PassConfig, Sampling};

const BUILTIN: &[u8] = include_bytes!("../../../web/builtin.msb");
const BATCH: usize = 16;

fn pass(c: &mut Criterion) {
    let mut group = c.benchmark_group("survey");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(criterion::Throughput::Elements(BATCH as u64));
    cases::<Flex>(&mut group, "flex");
    cases::<NdArray>(&mut group, "ndarray");
    group.finish();
}

fn cases<T: Backend>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    backend: &str,
) {
    let device = Default::default();
    let (clip, _) = Clip::<T>::from_bundle(BUILTIN, &device).expect("the built-in bundle");
    let size = clip.config().vision.image_size();
    let layers = clip.neuron_layers();
    let last = layers.last().expect("an image tower with neurons").clone();
    let set = ImageSet::generated(BATCH, size as u32, 3).expect("generated set");
    group.bench_function(format!("pass/builtin/{backend}"), |b| {
        b.iter(|| {
            let config = PassConfig {
                layers: layers.clone(),
                k: 8,
                batch: BATCH,
                sampling: Some(Sampling {
                    layer: last.clone(),
                    capacity: 4096,
                    seed: 0,
                }),
            };
            let mut p = Pass::new(&clip, set.clone(), config).expect("pass");
            while !p.is_done() {
                p.step(&clip).expect("step");
            }
            black_box(p.finish().expect("survey"))
        })
    });
    let pre = Preprocessor::for_config(clip.config());
    let images: Vec<_> = (0..BATCH).map(|i| set.load(i).expect("image")).collect();
    group.bench_function(format!("forward/builtin/{backend}"), |b| {
        b.iter(|| {
            let x = pre.batch::<T>(&images, &device);
            black_box(clip.encode_image(x).into_data())
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = pass
}
criterion_main!(benches);
