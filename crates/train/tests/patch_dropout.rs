//! Patch dropout in training: which patches each image keeps (a fair, reproducible draw), a
//! tiny run that learns with half of them, the unmasked steps at the end, and bad recipes.

use burn::backend::{Autodiff, Flex};
use modalscope_train::{
    PatchDropout, ResNetShape, StepLog, TrainConfig, TrainError, Trainer, draw_kept_patches, train,
};

type B = Autodiff<Flex>;

fn tiny(steps: usize, patch_dropout: Option<PatchDropout>) -> TrainConfig {
    TrainConfig {
        steps,
        eval_every: 0,
        patch_dropout,
        ..TrainConfig::tiny()
    }
}

fn losses(config: TrainConfig) -> Vec<f32> {
    let mut t = Trainer::<B>::new(config, Default::default()).unwrap();
    train(&mut t, None, |_| true).unwrap();
    t.log.iter().map(|l: &StepLog| l.loss).collect()
}

fn half(until: Option<usize>) -> Option<PatchDropout> {
    Some(PatchDropout { keep: 0.5, until })
}

#[test]
fn each_image_keeps_its_share_of_patches_drawn_fairly_and_reproducibly() {
    let kept = draw_kept_patches(7, 3, 64, 64, 24);
    assert_eq!(kept.len(), 64);
    for list in &kept {
        assert_eq!(list.len(), 24);
        assert!(
            list.windows(2).all(|w| w[0] < w[1]),
            "sorted, distinct: {list:?}"
        );
        assert!(list.iter().all(|&p| p < 64));
    }
    assert_eq!(kept, draw_kept_patches(7, 3, 64, 64, 24));
    assert_ne!(kept[0], kept[1], "each image draws its own");
    assert_ne!(
        kept,
        draw_kept_patches(7, 4, 64, 64, 24),
        "each step draws anew"
    );
    assert_ne!(
        kept,
        draw_kept_patches(8, 3, 64, 64, 24),
        "each seed draws anew"
    );
    // Over 100 steps of 64 images, every patch is kept about 24/64 of the time: a draw that
    // favoured some places would show here (a binomial's sd is 0.008 of the share).
    let mut counts = [0usize; 64];
    for step in 0..100 {
        for list in draw_kept_patches(7, step, 64, 64, 24) {
            for p in list {
                counts[p] += 1;
            }
        }
    }
    for (p, &c) in counts.iter().enumerate() {
        let share = c as f64 / 6400.0;
        assert!(
            (share - 0.375).abs() < 0.04,
            "patch {p} kept {share:.3} of the time"
        );
    }
}

#[test]
fn a_tiny_run_learns_with_half_its_patches_and_repeats_itself() {
    let steps = 200;
    let dropped = losses(tiny(steps, half(None)));
    let whole = losses(tiny(steps, None));
    let mean = |s: &[f32]| s.iter().sum::<f32>() / s.len() as f32;
    let fall = |l: &[f32]| (mean(&l[..20]), mean(&l[180..]));
    let ((first, last), (whole_first, whole_last)) = (fall(&dropped), fall(&whole));
    println!(
        "half the patches: first 20 steps {first:.3}, last 20 {last:.3}; \
         every patch: {whole_first:.3} -> {whole_last:.3}"
    );
    // ln(32) is the loss of a model that knows nothing of a batch of 32 pairs.
    let know_nothing = 32f32.ln();
    assert!(
        last < know_nothing - 0.2 && first - last > 0.5 * (whole_first - whole_last),
        "the loss did not fall as it does on whole images: {first} -> {last} \
         (whole: {whole_first} -> {whole_last})"
    );
    assert_eq!(dropped, losses(tiny(steps, half(None))), "deterministic");
    // It is not the whole-image run under another name.
    assert_ne!(&dropped[..20], &whole[..20]);
}

#[test]
fn from_until_on_every_patch_is_kept_again() {
    // Dropping until step 0 is no dropping; until step 5 the first five steps drop patches
    // and the run then sees whole images (its losses differ from there only because the
    // weights do).
    let whole = losses(tiny(8, None));
    assert_eq!(losses(tiny(8, half(Some(0)))), whole);
    assert_eq!(
        losses(tiny(
            8,
            Some(PatchDropout {
                keep: 1.0,
                until: None
            })
        )),
        whole
    );
    let late = losses(tiny(8, half(Some(5))));
    assert_ne!(late[0], whole[0]);
    let dropped = losses(tiny(8, half(None)));
    assert_eq!(&late[..5], &dropped[..5]);
    assert_ne!(late[5], dropped[5]);
}

#[test]
fn recipes_name_patch_dropout_only_when_set_and_bad_ones_are_refused() {
    let plain = serde_json::to_value(TrainConfig::builtin()).unwrap();
    assert!(plain.get("patch_dropout").is_none());
    let mut json = plain.clone();
    json["patch_dropout"] = serde_json::json!({"keep": 0.5});
    let config: TrainConfig = serde_json::from_value(json).unwrap();
    assert_eq!(config.patch_dropout, half(None));
    for keep in [0.0, -0.5, 1.5, f32::NAN] {
        let bad = Some(PatchDropout { keep, until: None });
        match Trainer::<B>::new(tiny(1, bad), Default::default()) {
            Err(TrainError::Recipe(m)) => assert!(m.contains("patch dropout keeps"), "{m}"),
            Err(e) => panic!("{keep}: {e}"),
            Ok(_) => panic!("{keep} accepted"),
        }
    }
    let mut resnet = tiny(1, half(None));
    resnet.shape.resnet = Some(ResNetShape {
        layers: [1, 1, 1, 1],
        width: 8,
        heads: 2,
    });
    match Trainer::<B>::new(resnet, Default::default()) {
        Err(TrainError::Recipe(m)) => assert!(m.contains("needs a ViT"), "{m}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a ResNet accepted patch dropout"),
    }
}
