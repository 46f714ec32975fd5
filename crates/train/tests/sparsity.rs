//! The recipe's sparsity penalty: what it computes (on a ViT's MLP neurons and a ResNet's
//! channels, as mean firing or as Hoyer's measure), checked against the activations the model
//! records; that it leaves training unchanged at weight 0; that it makes the penalized units
//! fire less, or on fewer units, while the model still learns; and that bad rules are refused.

mod common;

use burn::backend::Flex;
use burn::module::AutodiffModule;
use burn::tensor::Tensor;
use common::{B, assert_still_learns, firing, refusal, run, with_tiny_resnet};
use modalscope_model::{Clip, Preprocessor};
use modalscope_train::data::{TrainingData, image_tensor};
use modalscope_train::{
    Modality, Sparsity, SparsityMeasure, StepLog, TrainConfig, Trainer, contrastive_loss, heldout,
    training_loss,
};

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
        measure: SparsityMeasure::Firing,
    })
}

fn hoyer(weight: f32, blocks: &[usize]) -> Option<Sparsity> {
    Some(Sparsity {
        measure: SparsityMeasure::Hoyer,
        ..rule(weight, blocks)?
    })
}

/// The tiny recipe with a ResNet image tower of four blocks, one a stage.
fn tiny_resnet(steps: usize, sparsity: Option<Sparsity>) -> TrainConfig {
    with_tiny_resnet(tiny(steps, sparsity))
}

/// Mean firing (positive part) of a block's MLP units at the class token, computed on the
/// host from the activation the model records (independent of the training code's tensor
/// arithmetic).
fn class_token_activity<BB: burn::tensor::backend::Backend>(
    clip: &Clip<BB>,
    images: Tensor<BB, 4>,
    block: usize,
) -> f64 {
    mean_firing(&firing(clip, images, &format!("vision.blocks.{block}.mlp")))
}

/// The mean of `measure` over held-out drawn and over held-out written images (neither run
/// trained on them), the two weighted alike.
fn on_heldout(t: &Trainer<B>, measure: impl Fn(&Clip<Flex>, Tensor<Flex, 4>) -> f64) -> f64 {
    let clip = t.model().valid();
    let pre = Preprocessor::for_config(clip.config());
    let mut sum = 0.0;
    for modality in [Modality::Drawn, Modality::Written] {
        let (images, _) = heldout(modality, 4, pre.size);
        sum += measure(&clip, image_tensor(&images, &pre, &Default::default())) / 2.0;
    }
    sum
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
        None,
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
        None,
    )
    .unwrap();
    assert!(none.is_none());
}

/// Hoyer's measure of each image's firing (L1 over L2, over the square root of the number of
/// units), averaged over the images.
fn mean_hoyer(firing: &[Vec<f64>]) -> f64 {
    let h = |f: &Vec<f64>| {
        let l1: f64 = f.iter().sum();
        let l2 = f.iter().map(|x| x * x).sum::<f64>().sqrt();
        l1 / (l2 * (f.len() as f64).sqrt())
    };
    firing.iter().map(h).sum::<f64>() / firing.len() as f64
}

fn mean_firing(firing: &[Vec<f64>]) -> f64 {
    let n: usize = firing.iter().map(Vec::len).sum();
    firing.iter().flatten().sum::<f64>() / n as f64
}

/// A ResNet's blocks are counted across its stages: blocks 2 and 3 of a tower with one block a
/// stage are the blocks of stages 3 and 4, read as each channel's mean over the map.
#[test]
fn on_a_resnet_the_penalty_reads_its_blocks_channels_as_firing_or_hoyer() {
    let config = tiny_resnet(1, None);
    let t = Trainer::<B>::new(config.clone(), Default::default()).unwrap();
    let images = batch_images(&config, &t);
    let batch = TrainingData::new(
        &config,
        config.seed,
        t.tokenizer().clone(),
        Preprocessor::for_config(t.model().config()),
    )
    .unwrap()
    .batch::<B>(0, &Default::default());
    let penalty = |sparsity: Option<Sparsity>| {
        let (_, p) = training_loss(
            t.model(),
            images.clone(),
            &batch.ids,
            &batch.groups,
            None,
            sparsity.as_ref(),
            None,
        )
        .unwrap();
        f64::from(p.expect("a penalty").into_scalar())
    };
    let layers = ["vision.layer3.0", "vision.layer4.0"];
    let host: Vec<_> = layers
        .iter()
        .map(|l| firing(t.model(), images.clone(), l))
        .collect();
    let close = |got: f64, expected: f64| {
        assert!(
            (got - expected).abs() < 1e-5 * expected.max(1.0),
            "{got} vs {expected}"
        );
    };
    let expected = 0.5 * host.iter().map(|f| mean_firing(f)).sum::<f64>();
    println!(
        "firing: penalty {:.6}, host {expected:.6}",
        penalty(rule(0.5, &[2, 3]))
    );
    assert!(expected > 1e-4, "channels at rest: {expected}");
    close(penalty(rule(0.5, &[2, 3])), expected);
    let hoyers: Vec<f64> = host.iter().map(|f| mean_hoyer(f)).collect();
    // Neither every channel alike nor one alone: a measure that could not tell them apart
    // would not be checked here.
    for (h, f) in hoyers.iter().zip(&host) {
        let units = f[0].len() as f64;
        assert!(
            *h > 1.5 / units.sqrt() && *h < 0.95,
            "{h} over {units} units"
        );
    }
    let expected = 0.5 * hoyers.iter().sum::<f64>();
    println!(
        "hoyer: penalty {:.6}, host {expected:.6}",
        penalty(hoyer(0.5, &[2, 3]))
    );
    close(penalty(hoyer(0.5, &[2, 3])), expected);
}

/// Hoyer's measure cannot be lowered by scaling a layer down, only by firing on fewer units:
/// trained with it, the penalized block of a tiny ViT fires on fewer units of its MLP than
/// without it, and the model still learns.
#[test]
fn the_hoyer_penalty_concentrates_firing_while_the_model_still_learns() {
    const STEPS: usize = 200;
    let plain = run(tiny(STEPS, None));
    let sparse = run(tiny(STEPS, hoyer(HOYER_WEIGHT, &[1])));
    let measure = |t: &Trainer<B>| {
        on_heldout(t, |clip, x| {
            mean_hoyer(&firing(clip, x, "vision.blocks.1.mlp"))
        })
    };
    let (a, b) = (measure(&plain), measure(&sparse));
    println!("block 1 Hoyer measure on held-out images: {a:.4} without, {b:.4} with the penalty");
    assert!(
        b < 0.8 * a,
        "the penalty did not concentrate the firing: {a} -> {b}"
    );
    assert_still_learns(&sparse.log, 0.5);
}

/// Penalty weight of the tiny Hoyer run above.
const HOYER_WEIGHT: f32 = 0.1;

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
    let activity =
        |t: &Trainer<B>, block| on_heldout(t, |clip, x| class_token_activity(clip, x, block));
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
    assert_still_learns(&sparse.log, 0.5);
}

/// Penalty weight of the tiny run above.
const SPARSE_WEIGHT: f32 = 0.2;

#[test]
fn bad_sparsity_rules_are_refused_with_a_message() {
    let refusal = |sparsity| refusal(tiny(1, sparsity));
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
    // A ResNet's blocks are counted across its stages: four here, one a stage.
    let e = Trainer::<B>::new(tiny_resnet(1, hoyer(0.1, &[4])), Default::default())
        .err()
        .expect("a bad rule")
        .to_string();
    assert!(e.contains("block 4") && e.contains("0 to 3"), "{e}");
}
