//! Benchmarks: UMAP of 10,000 clustered vectors (dim 64), atlas gridding of that layout, and
//! the streaming top-k pass over 10,000 images x 512 neurons.

use criterion::{Criterion, criterion_group, criterion_main};
use modalscope_atlas::{Atlas, AtlasParams, TopK, UmapParams, umap};
use std::hint::black_box;

/// Deterministic xorshift stream, so the benchmark data does not depend on any crate.
struct Xs(u64);

impl Xs {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Roughly normal (sum of four uniforms, centred and scaled).
    fn gauss(&mut self) -> f32 {
        (self.next() + self.next() + self.next() + self.next() - 2.0) * 1.7
    }
}

fn clustered(n: usize, dim: usize, clusters: usize) -> Vec<f32> {
    let mut r = Xs(0x9E37_79B9_7F4A_7C15);
    let centres: Vec<f32> = (0..clusters * dim).map(|_| r.gauss() * 1.5).collect();
    (0..n)
        .flat_map(|i| {
            let c = i % clusters;
            (0..dim)
                .map(|d| centres[c * dim + d] + r.gauss())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let (n, dim) = (10_000, 64);
    let data = clustered(n, dim, 20);
    let params = UmapParams::default();
    let mut g = c.benchmark_group("atlas");
    g.bench_function("umap_10k_x64", |b| {
        b.iter(|| umap::fit(black_box(&data), dim, &params).unwrap())
    });
    let knn_params = (
        params.n_neighbors - 1,
        params.metric,
        params.knn,
        params.seed,
    );
    g.bench_function("knn_10k_x64", |b| {
        b.iter(|| {
            umap::nearest_neighbors(
                black_box(&data),
                dim,
                knn_params.0,
                knn_params.1,
                knn_params.2,
                knn_params.3,
                &mut |_, _, _| true,
            )
            .unwrap()
        })
    });
    let layout = umap::fit(&data, dim, &params).unwrap();
    let flat: Vec<f32> = layout.iter().flatten().copied().collect();
    eprintln!(
        "umap_10k_x64 trustworthiness(k=10) on a 2,000-point subsample: {:.4}",
        umap::trustworthiness(&data[..2000 * dim], dim, &flat[..2000 * 2], 2, 10).unwrap()
    );
    let atlas_params = AtlasParams::default();
    g.bench_function("grid_10k_x64_levels_10_20_40", |b| {
        b.iter(|| Atlas::build(black_box(&data), dim, black_box(&layout), &atlas_params).unwrap())
    });

    let (images, neurons) = (10_000usize, 512usize);
    let mut r = Xs(12345);
    let scores: Vec<f32> = (0..images * neurons).map(|_| r.gauss()).collect();
    let positions: Vec<u32> = (0..images * neurons).map(|i| (i % 49) as u32).collect();
    let ids: Vec<u32> = (0..images as u32).collect();
    g.bench_function("topk_10k_images_x512_k16", |b| {
        b.iter(|| {
            let mut t = TopK::new(neurons, 16);
            for chunk in 0..images / 100 {
                let rows = chunk * 100..(chunk + 1) * 100;
                let vals = rows.start * neurons..rows.end * neurons;
                t.push_batch(
                    &ids[rows],
                    black_box(&scores[vals.clone()]),
                    Some(&positions[vals]),
                )
                .unwrap();
            }
            t
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
