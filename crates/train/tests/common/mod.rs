//! Helpers the penalty tests share: tiny runs and what their logs show.

use burn::backend::{Autodiff, Flex};
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

/// A trainer after a whole run of `config`.
pub fn run(config: TrainConfig) -> Trainer<B> {
    let mut t = Trainer::<B>::new(config, Default::default()).unwrap();
    train(&mut t, None, |_| true).unwrap();
    t
}

/// Asserts that a run's mean contrastive loss over its last 20 steps is at least `by` below
/// that of its first 20: the model still learns under a penalty.
pub fn assert_still_learns(log: &[StepLog], by: f32) {
    let mean = |s: &[StepLog]| s.iter().map(|l| l.loss).sum::<f32>() / s.len() as f32;
    let (first, last) = (mean(&log[..20]), mean(&log[log.len() - 20..]));
    println!("with the penalty, contrastive loss {first:.3} -> {last:.3}");
    assert!(
        last < first - by,
        "the model stopped learning: {first} -> {last}"
    );
}
