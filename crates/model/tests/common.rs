//! Helpers shared by the model crate's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::backend::Flex;
use burn::tensor::{Tensor, TensorData};
use modalscope_model::{
    Act, Clip, ClipConfig, HostTensor, SeededRng, TextConfig, VisionConfig, VitConfig, WeightStore,
};

pub type B = Flex;

/// A tiny CLIP config around `vision`: a joint space of 8, a text tower of `text_layers`
/// blocks (100 tokens, 8 positions, width 16), for models built in tests.
pub fn tiny_config(name: &str, vision: VisionConfig, text_layers: usize) -> ClipConfig {
    ClipConfig {
        name: name.into(),
        projection_dim: 8,
        vision,
        text: tiny_text(text_layers),
        image_mean: [0.5; 3],
        image_std: [0.25; 3],
    }
}

/// A tiny ViT image tower: `size`-pixel images in 8-pixel patches, `layers` blocks of width 16
/// (2 heads, MLP of 64, quick-GELU).
pub fn tiny_vit(size: usize, layers: usize) -> VisionConfig {
    VisionConfig::Vit(VitConfig {
        image_size: size,
        patch_size: 8,
        width: 16,
        layers,
        heads: 2,
        mlp_width: 64,
        act: Act::QuickGelu,
        layer_norm_eps: 1e-5,
    })
}

fn tiny_text(layers: usize) -> TextConfig {
    TextConfig {
        vocab_size: 100,
        context_length: 8,
        width: 16,
        layers,
        heads: 2,
        mlp_width: 64,
        act: Act::QuickGelu,
        layer_norm_eps: 1e-5,
        eot_token_id: None,
    }
}

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures")).join(path)
}

pub fn device() -> burn::tensor::Device<B> {
    Default::default()
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

pub fn load_fixture_model(model: &str) -> Clip<B> {
    let bytes = std::fs::read(fixture(model).join("model.safetensors")).unwrap();
    Clip::from_safetensors(&bytes, Some(fixture_config(model)), &device()).unwrap()
}

/// The fixture's reference tensors (inputs, outputs, `act.*`).
pub fn reference(model: &str) -> WeightStore {
    WeightStore::from_safetensors_file(fixture(model).join("reference.safetensors")).unwrap()
}

pub fn pixels(reference: &WeightStore) -> Tensor<B, 4> {
    let t = reference.get("input.pixel_values").unwrap().clone();
    t.to_tensor(&device())
}

pub fn input_ids(reference: &WeightStore) -> Vec<Vec<u32>> {
    let t = reference.get("input.input_ids").unwrap();
    t.data
        .chunks(t.shape[1])
        .map(|r| r.iter().map(|&v| v as u32).collect())
        .collect()
}

/// Largest absolute difference, asserting equal shapes.
pub fn max_diff(
    what: &str,
    shape: &[usize],
    got: &[f32],
    want_shape: &[usize],
    want: &[f32],
) -> f32 {
    assert_eq!(
        shape, want_shape,
        "{what}: shape differs from the reference"
    );
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

pub fn host<const D: usize>(t: Tensor<B, D>) -> (Vec<usize>, Vec<f32>) {
    let data: TensorData = t.into_data();
    (
        data.shape.to_vec(),
        data.convert::<f32>().into_vec().unwrap(),
    )
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// `store` with every bias drawn at random (sd 0.2) from `seed`: CLIP's initialisation zeroes
/// them, which would leave terms of a pass trivially zero.
pub fn with_random_biases(mut store: WeightStore, seed: u64) -> WeightStore {
    let mut rng = SeededRng::new(seed);
    let names: Vec<String> = store
        .names()
        .filter(|n| n.ends_with(".bias"))
        .map(str::to_string)
        .collect();
    for name in names {
        let t = store.get(&name).unwrap().clone();
        let data = t.data.iter().map(|_| 0.2 * rng.normal()).collect();
        store.insert(name, HostTensor::new(t.shape, data));
    }
    store
}
