//! The recipe's sparsity penalty: what it computes, checked against the activations the model
//! records; that it leaves training unchanged at weight 0; that it makes the penalized units
//! fire less while the model still learns; and that bad rules are refused.

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::tensor::Tensor;
use modalscope_model::{Clip, Preprocessor};
use modalscope_train::data::{TrainingData, image_tensor};
use modalscope_train::{
    Modality, Sparsity, StepLog, TrainConfig, Trainer, contrastive_loss, heldout, train,
    training_loss,
};

type B = Autodiff<Flex>;

fn tiny(steps: usize, sparsity: Option<Sparsity>) -> TrainConfig {
    TrainConfig {
        steps,
        sparsity,
        ..TrainConfig::tiny()
    }
}

fn rule(weight: f32, blocks: &[usize]) -> Option<Sparsity> {
    Some(Sparsity {
        weight,
        blocks: blocks.to_vec(),
    })
}

fn run(config: TrainConfig) -> Trainer<B> {
    let mut t = Trainer::<B>::new(config, Default::default()).unwrap();
    train(&mut t, None, |_| true).unwrap();
    t
}

/// Mean firing (positive part) of a block's MLP units at the class token, computed on the
/// host from the activation the model records (independent of the training code's tensor
/// arithmetic).
fn class_token_activity<BB: burn::tensor::backend::Backend>(
    clip: &Clip<BB>,
    images: Tensor<BB, 4>,
    block: usize,
) -> f64 {
    let act = clip
        .image_activation(images, &format!("vision.blocks.{block}.mlp"))
        .unwrap();
    let (shape, values) = act.to_host();
    let [b, t, u] = [shape[0], shape[1], shape[2]];
    let mut sum = 0.0;
    for i in 0..b {
        let row = &values[i * t * u..i * t * u + u];
        sum += row.iter().map(|&v| f64::from(v.max(0.0))).sum::<f64>();
    }
    sum / (b * u) as f64
}

#[test]
fn the_penalty_is_the_weighted_mean_class_token_firing_of_its_blocks() {
    let config = tiny(1, rule(0.5, &[0, 1]));
    let t = Trainer::<B>::new(config.clone(), Default::default()).unwrap();
    let pre = Preprocessor::for_config(t.model().config());
    let batch = TrainingData::new(&config, config.seed, t.tokenizer().clone(), pre)
        .unwrap()
        .batch::<B>(0, &Default::default());
    let (loss, penalty) = training_loss(
        t.model(),
        batch.images.clone(),
        &batch.ids,
        &batch.groups,
        None,
        config.sparsity.as_ref(),
    )
    .unwrap();
    let penalty = f64::from(penalty.expect("a penalty").into_scalar());
    let expected = 0.5
        * (class_token_activity(t.model(), batch.images.clone(), 0)
            + class_token_activity(t.model(), batch.images.clone(), 1));
    println!("penalty {penalty:.6}, host {expected:.6}");
    assert!(expected > 1e-3, "units at rest: {expected}");
    assert!(
        (penalty - expected).abs() < 1e-5 * expected.max(1.0),
        "{penalty} vs {expected}"
    );
    // The contrastive part is the plain contrastive loss of the same batch.
    let plain = contrastive_loss(t.model(), batch.images, &batch.ids, &batch.groups, None)
        .unwrap()
        .into_scalar();
    assert!((loss.into_scalar() - plain).abs() < 1e-6);
    // Without a rule there is no penalty.
    let (_, none) = training_loss(
        t.model(),
        batch_images(&config, &t),
        &batch.ids,
        &batch.groups,
        None,
        None,
    )
    .unwrap();
    assert!(none.is_none());
}

fn batch_images(config: &TrainConfig, t: &Trainer<B>) -> Tensor<B, 4> {
    let pre = Preprocessor::for_config(t.model().config());
    TrainingData::new(config, config.seed, t.tokenizer().clone(), pre)
        .unwrap()
        .batch::<B>(0, &Default::default())
        .images
}

#[test]
fn a_zero_weight_penalty_trains_exactly_as_none() {
    let bits = |log: &[StepLog]| log.iter().map(|l| l.loss.to_bits()).collect::<Vec<_>>();
    let plain = run(tiny(6, None));
    let zero = run(tiny(6, rule(0.0, &[1])));
    assert_eq!(bits(&plain.log), bits(&zero.log));
    assert!(zero.log.iter().all(|l| l.penalty == 0.0));
    assert!(plain.log.iter().all(|l| l.penalty == 0.0));
    // A real weight logs a penalty and changes the run from its second step on (the first
    // step's loss is measured before any update).
    let some = run(tiny(6, rule(0.5, &[1])));
    assert!(some.log.iter().all(|l| l.penalty > 0.0));
    assert_eq!(some.log[0].loss.to_bits(), plain.log[0].loss.to_bits());
    assert_ne!(bits(&some.log[1..]), bits(&plain.log[1..]));
}

#[test]
fn a_sharded_step_logs_the_mean_of_its_parts_penalties() {
    let config = TrainConfig {
        shards: 2,
        ..tiny(1, rule(0.5, &[1]))
    };
    let mut t = Trainer::<B>::new(config.clone(), Default::default()).unwrap();
    let images = batch_images(&config, &t);
    let half = config.batch / 2;
    let part = |rows: std::ops::Range<usize>| {
        0.5 * class_token_activity(t.model(), images.clone().slice([rows]), 1)
    };
    let expected = (part(0..half) + part(half..config.batch)) / 2.0;
    let got = f64::from(t.step().unwrap().penalty);
    assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
}

#[test]
fn the_penalty_quiets_the_units_it_names_while_the_model_still_learns() {
    const STEPS: usize = 200;
    let plain = run(tiny(STEPS, None));
    let sparse = run(tiny(STEPS, rule(SPARSE_WEIGHT, &[1])));
    // Held-out drawn and written images, which neither run trained on.
    let activity = |t: &Trainer<B>, block| {
        let clip = t.model().valid();
        let pre = Preprocessor::for_config(clip.config());
        let mut sum = 0.0;
        for modality in [Modality::Drawn, Modality::Written] {
            let (images, _) = heldout(modality, 4, pre.size);
            let x = image_tensor(&images, &pre, &Default::default());
            sum += class_token_activity(&clip, x, block) / 2.0;
        }
        sum
    };
    let (a, b) = (activity(&plain, 1), activity(&sparse, 1));
    let (a0, b0) = (activity(&plain, 0), activity(&sparse, 0));
    println!(
        "block 1 class-token activity: {a:.4} without, {b:.4} with the penalty (block 0, not \
         penalized: {a0:.4}, {b0:.4})"
    );
    assert!(
        b < 0.5 * a,
        "the penalty did not halve the activity: {a} -> {b}"
    );
    let mean = |s: &[StepLog]| s.iter().map(|l| l.loss).sum::<f32>() / s.len() as f32;
    let (first, last) = (mean(&sparse.log[..20]), mean(&sparse.log[STEPS - 20..]));
    println!("with the penalty, contrastive loss {first:.3} -> {last:.3}");
    assert!(
        last < first - 0.5,
        "the model stopped learning: {first} -> {last}"
    );
}

/// Penalty weight of the tiny run above.
const SPARSE_WEIGHT: f32 = 0.2;

#[test]
fn bad_sparsity_rules_are_refused_with_a_message() {
    let refusal = |sparsity| {
        Trainer::<B>::new(tiny(1, sparsity), Default::default())
            .err()
            .expect("a bad rule")
            .to_string()
    };
    for weight in [-0.1, f32::NAN, f32::INFINITY] {
        let e = refusal(rule(weight, &[1]));
        assert!(e.contains("sparsity weight"), "{e}");
    }
    let e = refusal(rule(0.1, &[]));
    assert!(e.contains("no block"), "{e}");
    // The tiny tower has two blocks.
    let e = refusal(rule(0.1, &[2]));
    assert!(e.contains("block 2") && e.contains("0 to 1"), "{e}");
    let e = refusal(rule(0.1, &[1, 0, 1]));
    assert!(e.contains("block 1 twice"), "{e}");
}
