//! Helpers the penalty and init tests share: tiny runs and what their logs show.

use burn::backend::{Autodiff, Flex};
use burn::tensor::Tensor;
use modalscope_model::Clip;
use modalscope_train::{ResNetShape, StepLog, TrainConfig, Trainer, train};

/// The backend the penalty tests train on.
pub type B = Autodiff<Flex>;

/// `config` with a ResNet image tower of four blocks, one a stage.
pub fn with_tiny_resnet(mut config: TrainConfig) -> TrainConfig {
    config.shape.resnet = Some(ResNetShape {
        layers: [1, 1, 1, 1],
        width: 8,
        heads: 2,
    });
    config
}

/// The message with which a trainer refuses `config`.
pub fn refusal(config: TrainConfig) -> String {
    Trainer::<B>::new(config, Default::default())
        .err()
        .expect("a refusal")
        .to_string()
}

/// A trainer after a whole run of `config`.
#[allow(dead_code)] // not every test file that shares this module trains
pub fn run(config: TrainConfig) -> Trainer<B> {
    let mut t = Trainer::<B>::new(config, Default::default()).unwrap();
    train(&mut t, None, |_| true).unwrap();
    t
}

/// Asserts that a run's mean contrastive loss over its last 20 steps is at least `by` below
/// that of its first 20: the model still learns under a penalty.
#[allow(dead_code)] // not every test file that shares this module checks learning
pub fn assert_still_learns(log: &[StepLog], by: f32) {
    let mean = |s: &[StepLog]| s.iter().map(|l| l.loss).sum::<f32>() / s.len() as f32;
    let (first, last) = (mean(&log[..20]), mean(&log[log.len() - 20..]));
    println!("with the penalty, contrastive loss {first:.3} -> {last:.3}");
    assert!(
        last < first - by,
        "the model stopped learning: {first} -> {last}"
    );
}

/// Each image's firing of a layer's units, computed on the host from the activation the model
/// records: a token layer's units at the class token, a map's channels averaged over the map;
/// the positive part of each.
#[allow(dead_code)] // not every test file that shares this module reads firing
pub fn firing<BB: burn::tensor::backend::Backend>(
    clip: &Clip<BB>,
    images: Tensor<BB, 4>,
    layer: &str,
) -> Vec<Vec<f64>> {
    let act = clip.image_activation(images, layer).unwrap();
    let (shape, values) = act.to_host();
    let b = shape[0];
    let per_image = values.len() / b;
    (0..b)
        .map(|i| {
            let v = &values[i * per_image..(i + 1) * per_image];
            match shape.len() {
                // [b, units]: a pooled vector, signed.
                2 => v.iter().map(|&x| f64::from(x)).collect(),
                // [b, tokens, units]: the class token's row.
                3 => v[..shape[2]]
                    .iter()
                    .map(|&x| f64::from(x.max(0.0)))
                    .collect(),
                // [b, channels, h, w]: each channel's mean over the map.
                _ => v
                    .chunks(shape[2] * shape[3])
                    .map(|m| m.iter().map(|&x| f64::from(x.max(0.0))).sum::<f64>() / m.len() as f64)
                    .collect(),
            }
        })
        .collect()
}
