//! Helpers shared by the feature-visualization tests.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use modalscope_model::{Clip, ClipConfig, Preprocessor};

pub type B = Autodiff<Flex>;

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures")).join(path)
}

/// The architecture of a fixture model, read from the config file its library wrote.
pub fn fixture_config(model: &str) -> ClipConfig {
    let dir = fixture(model);
    if model.starts_with("hf") {
        let json = std::fs::read_to_string(dir.join("config.json")).unwrap();
        ClipConfig::from_hf_json(model, &json).unwrap()
    } else {
        let json = std::fs::read_to_string(dir.join("open_clip_config.json")).unwrap();
        ClipConfig::from_open_clip_json(model, &json).unwrap()
    }
}

/// A fixture model on an autodiff backend, with frozen weights.
pub fn load<A: AutodiffBackend>(model: &str) -> Clip<A> {
    let bytes = std::fs::read(fixture(model).join("model.safetensors")).unwrap();
    Clip::<A>::from_safetensors(&bytes, Some(fixture_config(model)), &Default::default())
        .unwrap()
        .no_grad()
}

/// The fixture's natural-ish images (shapes, noise, gradient) as [0,1] pixels at `size`.
pub fn fixture_images<A: Backend>(size: usize) -> Tensor<A, 4> {
    let pre = Preprocessor {
        size,
        mean: [0.0; 3],
        std: [1.0; 3],
    };
    let images: Vec<_> = ["shapes", "noise", "gradient"]
        .iter()
        .map(|n| {
            Preprocessor::decode(&std::fs::read(fixture(&format!("images/{n}.png"))).unwrap())
                .unwrap()
        })
        .collect();
    pre.batch(&images, &Default::default())
}

/// Uniform random [0,1] images, seeded.
pub fn noise_images<A: Backend>(n: usize, size: usize, seed: u64) -> Tensor<A, 4> {
    let mut rng = modalscope_model::SeededRng::new(seed);
    let v: Vec<f32> = (0..n * 3 * size * size).map(|_| rng.uniform()).collect();
    Tensor::from_data(TensorData::new(v, [n, 3, size, size]), &Default::default())
}

pub fn host<A: Backend, const D: usize>(t: Tensor<A, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().into_vec().unwrap()
}
