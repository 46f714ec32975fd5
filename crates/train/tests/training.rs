//! Training on a tiny recipe: the loss falls, runs are deterministic, and a resumed run equals
//! an uninterrupted one.

use burn::backend::{Autodiff, Flex};
use modalscope_model::{Clip, Preprocessor, VisionConfig, bundle};
use modalscope_synth::{Generator, GeneratorConfig, vocabulary};
use modalscope_train::data::TrainingData;
use modalscope_train::{
    ResNetShape, TrainConfig, Trainer, builtin_tokenizer_files, contrastive_loss, tokenizer, train,
};

type B = Autodiff<Flex>;

fn tiny(steps: usize) -> TrainConfig {
    TrainConfig {
        steps,
        ..TrainConfig::tiny()
    }
}

/// The data a trainer of `config` draws its batches from.
fn training_data(config: &TrainConfig, t: &Trainer<B>) -> TrainingData {
    TrainingData::new(
        config,
        config.seed,
        t.tokenizer().clone(),
        Preprocessor::for_config(t.model().config()),
    )
    .expect("a recipe the trainer accepted")
}

fn run(config: TrainConfig) -> Trainer<B> {
    let mut t = Trainer::<B>::new(config, Default::default()).unwrap();
    train(&mut t, None, |_| true).unwrap();
    t
}

#[test]
fn loss_falls_on_a_tiny_run() {
    loss_falls(tiny(200));
}

#[test]
fn loss_falls_on_a_tiny_run_in_two_shards() {
    loss_falls(TrainConfig {
        shards: 2,
        ..tiny(200)
    });
}

/// The recipe's ResNet tower trains too (its BatchNorms folded, so nothing normalizes the
/// maps while it learns), and its bundle loads back as the same ResNet. At the tiny recipe's
/// 32 pixels its last stage sees one position and it learns slower than the ViT there (0.2
/// below the start in 200 steps, against 0.6), but clearly below what a model that knows
/// nothing reaches; with a dead tower (a stem that starts at zero) it stays there.
#[test]
fn loss_falls_on_a_tiny_resnet_run_and_its_bundle_loads_as_a_resnet() {
    let mut config = tiny(200);
    config.shape.resnet = Some(ResNetShape {
        layers: [1, 1, 1, 1],
        width: 8,
        heads: 2,
    });
    let t = run(config.clone());
    let (first, last) = first_and_last_losses(&t);
    let know_nothing = (config.batch as f32).ln();
    println!(
        "tiny ResNet run: first 20 steps {first:.3}, last 20 {last:.3}, know nothing {know_nothing:.3}"
    );
    assert!(
        last < first - 0.12 && last < know_nothing - 0.1,
        "the loss did not fall: {first} -> {last} (know nothing: {know_nothing})"
    );
    let (bytes, _) = t.bundle("test");
    let (clip, _) = Clip::<Flex>::from_bundle(&bytes, &Default::default()).unwrap();
    assert!(matches!(clip.config().vision, VisionConfig::Resnet(_)));
    assert_eq!(
        clip.config(),
        &config.clip_config(t.tokenizer().vocab_size())
    );
    assert!(clip.layer_names().contains(&"vision.layer4.0".to_string()));
}

/// Mean loss of a 200-step run's first 20 steps and of its last 20.
fn first_and_last_losses(t: &Trainer<B>) -> (f32, f32) {
    let mean =
        |s: &[modalscope_train::StepLog]| s.iter().map(|l| l.loss).sum::<f32>() / s.len() as f32;
    (mean(&t.log[..20]), mean(&t.log[180..]))
}

fn loss_falls(config: TrainConfig) {
    let t = run(config.clone());
    let (first, last) = first_and_last_losses(&t);
    println!("tiny run: mean loss of the first 20 steps {first:.3}, of the last 20 {last:.3}");
    // ln(rows) is the loss of a model that knows nothing (3.47 for one loss over 32 rows).
    let know_nothing = ((config.batch / config.shards) as f32).ln();
    assert!(
        first > know_nothing - 0.5,
        "{first} (know nothing: {know_nothing})"
    );
    assert!(
        last < first - 0.5,
        "the loss did not fall: {first} -> {last}"
    );
    let m = t.evals.last().expect("a final evaluation");
    assert_eq!(m.step, 200);
    assert!((0.0..=1.0).contains(&m.drawn_accuracy) && m.heldout_loss.is_finite());
}

#[test]
fn same_seed_gives_the_same_loss_curve() {
    let losses = |seed| {
        let t = run(TrainConfig { seed, ..tiny(12) });
        t.log.iter().map(|l| l.loss.to_bits()).collect::<Vec<_>>()
    };
    let a = losses(3);
    assert_eq!(a, losses(3), "two runs with one seed differ");
    assert_ne!(a, losses(4), "another seed gave the same curve");
}

#[test]
fn a_sharded_step_is_the_mean_of_its_parts_losses_and_deterministic() {
    let config = TrainConfig {
        shards: 2,
        ..tiny(3)
    };
    let mut t = Trainer::<B>::new(config.clone(), Default::default()).unwrap();
    // The first batch as the trainer draws it, and the loss of each half on its own.
    let batch = training_data(&config, &t).batch::<B>(0, &Default::default());
    let half = config.batch / 2;
    let part = |rows: std::ops::Range<usize>| {
        let images = batch.images.clone().slice([rows.clone()]);
        let loss = contrastive_loss(
            t.model(),
            images,
            &batch.ids[rows.clone()],
            &batch.groups[rows],
            None,
        );
        loss.unwrap().into_scalar()
    };
    let expected = (part(0..half) + part(half..config.batch)) / 2.0;
    let whole = contrastive_loss(
        t.model(),
        batch.images.clone(),
        &batch.ids,
        &batch.groups,
        None,
    )
    .unwrap()
    .into_scalar();
    let got = t.step().unwrap().loss;
    assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    assert!(
        (got - whole).abs() > 1e-4,
        "the parts' loss equals the whole batch's: {whole}"
    );
    train(&mut t, None, |_| true).unwrap();
    let bits = |t: &Trainer<B>| t.log.iter().map(|l| l.loss.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&t), bits(&run(config)), "two sharded runs differ");
}

#[test]
fn a_resumed_run_equals_an_uninterrupted_one() {
    let dir = std::env::temp_dir().join(format!("modalscope-train-resume-{}", std::process::id()));
    let whole = run(tiny(16));

    let mut first = Trainer::<B>::new(tiny(16), Default::default()).unwrap();
    for _ in 0..8 {
        first.step().unwrap();
    }
    first.save_checkpoint(&dir).unwrap();
    drop(first);
    let mut second = Trainer::<B>::resume(&dir, Default::default()).unwrap();
    assert_eq!(second.steps_done(), 8);
    train(&mut second, None, |_| true).unwrap();

    let bits = |t: &Trainer<B>| t.log.iter().map(|l| l.loss.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&whole), bits(&second));
    let (a, b) = (whole.model().to_store(), second.model().to_store());
    for (name, t) in a.iter() {
        assert_eq!(Some(t), b.get(name), "{name} differs after resuming");
    }
    std::fs::remove_dir_all(&dir).ok();
    // A folder without a checkpoint is refused with a message.
    let err = Trainer::<B>::resume(&dir, Default::default())
        .err()
        .expect("no checkpoint");
    assert!(err.to_string().contains("state.json"), "{err}");
}

#[test]
fn every_caption_word_is_one_token_and_captions_fit_the_context() {
    let files = builtin_tokenizer_files();
    let context = TrainConfig::builtin().shape.context_length;
    let tok = tokenizer(&files, context);
    for w in vocabulary() {
        assert_eq!(tok.tokenize(&w).len(), 1, "{w}");
    }
    let generator = Generator::new(GeneratorConfig::default(), 11).unwrap();
    let longest = (0..3000)
        .map(|i| tok.tokenize(&generator.sample(i).caption).len())
        .max()
        .unwrap();
    assert!(
        longest + 2 <= context,
        "a caption of {longest} tokens does not fit {context}"
    );
    // The end-of-text token has the largest id, so the model pools where OpenAI's CLIP does.
    assert_eq!(tok.eos_id() as usize + 1, tok.vocab_size());
}

#[test]
fn captions_padded_to_the_longest_embed_as_if_padded_to_the_context() {
    let t = Trainer::<B>::new(tiny(1), Default::default()).unwrap();
    let generator = Generator::new(GeneratorConfig::default(), 5).unwrap();
    let captions: Vec<String> = (0..24).map(|i| generator.sample(i).caption).collect();
    let (tok, clip) = (t.tokenizer(), t.model());
    let longest = tok.encode_batch_longest(&captions);
    let lengths: Vec<usize> = captions.iter().map(|c| tok.encode(c).len()).collect();
    assert!(
        longest[0].len() < tok.context_length() && lengths.iter().min() < lengths.iter().max(),
        "the test needs captions of several lengths, all shorter than the context: {lengths:?}"
    );
    let short = clip.encode_text(&longest).unwrap();
    let full = clip
        .encode_text(&tok.encode_batch_padded(&captions))
        .unwrap();
    let gap = (short - full.clone()).abs().max().into_scalar();
    let scale = full.abs().max().into_scalar();
    println!("largest difference {gap:e} on embeddings up to {scale:.3}");
    assert!(gap <= 1e-5 * scale.max(1.0), "{gap}");
}

/// Parameters of a trainer's model after `steps` steps, as flat vectors with their rank.
fn parameters(config: TrainConfig, steps: usize) -> Vec<(usize, Vec<f32>)> {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::Tensor;
    use burn::tensor::backend::Backend;
    struct Flat(Vec<(usize, Vec<f32>)>);
    impl<B: Backend> ModuleVisitor<B> for Flat {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
            let v = p
                .val()
                .into_data()
                .convert::<f32>()
                .into_vec::<f32>()
                .unwrap();
            self.0.push((D, v));
        }
    }
    let mut t = Trainer::<B>::new(config, Default::default()).unwrap();
    for _ in 0..steps {
        t.step().unwrap();
    }
    let mut flat = Flat(Vec::new());
    t.model().visit(&mut flat);
    flat.0
}

/// With `decay_matrices_only`, gains, biases and the logit scale move as without any decay
/// and matrices as with it: CLIP's rule, which burn's AdamW does not offer.
#[test]
fn decay_matrices_only_spares_vectors() {
    let config = |decay, only| TrainConfig {
        weight_decay: decay,
        decay_matrices_only: only,
        learning_rate: 1e-2,
        warmup: 1,
        ..tiny(3)
    };
    // One step, so that all three start from the same weights with the same gradients.
    let spared = parameters(config(0.5, true), 1);
    let free = parameters(config(0.0, false), 1);
    let decayed = parameters(config(0.5, false), 1);
    let gap = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    };
    let (mut vectors, mut matrices, mut reached) = (0, 0, 0);
    for ((s, f), d) in spared.iter().zip(&free).zip(&decayed) {
        if s.0 == 1 {
            vectors += 1;
            assert!(
                gap(&s.1, &f.1) < 1e-6,
                "a vector was decayed: {}",
                gap(&s.1, &f.1)
            );
            // Gains (1 at the start) and the logit scale decay; zero biases hardly move.
            reached += usize::from(gap(&d.1, &f.1) > 1e-3);
        } else {
            matrices += 1;
            assert!(
                gap(&s.1, &d.1) == 0.0,
                "a matrix was spared: {}",
                gap(&s.1, &d.1)
            );
        }
    }
    assert!(
        vectors > 10 && matrices > 10,
        "{vectors} vectors, {matrices} matrices"
    );
    assert!(
        reached > vectors / 4,
        "plain decay moved only {reached} of {vectors} vectors"
    );
}

/// The contrastive loss computed on the host from the model's embeddings: symmetric
/// cross-entropy over the pairs that are not left out, each row's target the pairs' `weight`s
/// normalized to sum to 1.
fn reference_loss(
    ie: &[Vec<f64>],
    te: &[Vec<f64>],
    scale: f64,
    weight: impl Fn(usize, usize) -> f64,
    left_out: impl Fn(usize, usize) -> bool,
) -> f64 {
    let n = ie.len();
    let norm = |v: &Vec<f64>| {
        let l = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter().map(|x| x / l).collect::<Vec<_>>()
    };
    let (ie, te): (Vec<_>, Vec<_>) = (ie.iter().map(norm).collect(), te.iter().map(norm).collect());
    let logit =
        |i: usize, j: usize| scale * ie[i].iter().zip(&te[j]).map(|(a, b)| a * b).sum::<f64>();
    // Row `r` of one direction: `pair(r, k)` is the (image, caption) of its k-th entry.
    let direction = |pair: &dyn Fn(usize, usize) -> (usize, usize)| {
        (0..n)
            .map(|r| {
                let pairs: Vec<(usize, usize)> = (0..n).map(|k| pair(r, k)).collect();
                let lse = pairs
                    .iter()
                    .filter(|&&(i, j)| !left_out(i, j))
                    .map(|&(i, j)| logit(i, j).exp())
                    .sum::<f64>()
                    .ln();
                let total: f64 = pairs.iter().map(|&(i, j)| weight(i, j)).sum();
                pairs
                    .iter()
                    .map(|&(i, j)| weight(i, j) / total * (lse - logit(i, j)))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / n as f64
    };
    (direction(&|r, k| (r, k)) + direction(&|r, k| (k, r))) / 2.0
}

#[test]
fn pairs_that_share_a_concept_are_treated_as_each_rule_says_like_a_host_reference() {
    use burn::tensor::Tensor;
    use modalscope_train::data::Batch;
    use modalscope_train::{Positives, SharedConcepts};
    let config = TrainConfig {
        positives: Positives::Content,
        ..tiny(1)
    };
    let t = Trainer::<B>::new(config.clone(), Default::default()).unwrap();
    let data = training_data(&config, &t);
    // A batch where some caption names a concept of an image whose own caption does not name
    // the first's (a drawing with a word on it, captioned by the word only), so that treating
    // (image, caption) is told from treating (caption, image).
    let lopsided = |b: &Batch<B>| {
        let c = &b.contents;
        (0..c.len()).any(|i| (0..c.len()).any(|j| c[j].named_in(&c[i]) != c[i].named_in(&c[j])))
    };
    let batch = (0..50)
        .map(|step| data.batch::<B>(step, &Default::default()))
        .find(lopsided)
        .expect("a batch with a lopsided pair");
    let n = batch.ids.len();
    let host = |x: Tensor<B, 2>| -> Vec<Vec<f64>> {
        let v = x.into_data().convert::<f64>().into_vec::<f64>().unwrap();
        v.chunks(v.len() / n).map(<[f64]>::to_vec).collect()
    };
    let model = t.model();
    let ie = host(model.encode_image(batch.images.clone()));
    let te = host(model.encode_text(&batch.ids).unwrap());
    let scale = f64::from(model.logit_scale.val().into_scalar()).exp();
    assert!(
        scale < 100.0,
        "the logit scale is not clamped here: {scale}"
    );
    let matches =
        |i: usize, j: usize| batch.groups[i] == batch.groups[j] || batch.ids[i] == batch.ids[j];
    let shares =
        |i: usize, j: usize| !matches(i, j) && batch.contents[j].named_in(&batch.contents[i]);
    let shared = (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .filter(|&(i, j)| shares(i, j))
        .count();
    assert!(shared > 0, "no pair of the batch shares a concept");

    let loss = |rule: SharedConcepts| {
        let shared = rule.rule(&batch.contents);
        contrastive_loss(
            model,
            batch.images.clone(),
            &batch.ids,
            &batch.groups,
            shared,
        )
        .unwrap()
        .into_scalar() as f64
    };
    let one = |i, j| f64::from(u8::from(matches(i, j)));
    let none = |_, _| false;
    let cases = [
        (
            SharedConcepts::Negative,
            reference_loss(&ie, &te, scale, one, none),
        ),
        (
            SharedConcepts::LeftOut,
            reference_loss(&ie, &te, scale, one, shares),
        ),
        (
            SharedConcepts::Partial { weight: 0.25 },
            reference_loss(
                &ie,
                &te,
                scale,
                |i, j| one(i, j) + 0.25 * f64::from(u8::from(shares(i, j))),
                none,
            ),
        ),
    ];
    let mut got = Vec::new();
    for (rule, expected) in cases {
        let l = loss(rule);
        println!("{shared} of {n}x{n} pairs share a concept; {rule:?}: loss {l:.5}");
        assert!((l - expected).abs() < 1e-4, "{rule:?}: {l} vs {expected}");
        got.push(l);
    }
    // Contents that do not fit the batch, and a weight that is no weight, are refused.
    let short = SharedConcepts::LeftOut.rule(&batch.contents[1..]);
    let err = contrastive_loss(
        model,
        batch.images.clone(),
        &batch.ids,
        &batch.groups,
        short,
    )
    .expect_err("too few contents");
    assert!(err.to_string().contains("contents"), "{err}");
    for weight in [-0.5, f32::NAN] {
        let bad = TrainConfig {
            shared_concepts: SharedConcepts::Partial { weight },
            ..config.clone()
        };
        let err = Trainer::<B>::new(bad, Default::default())
            .err()
            .expect("a bad weight");
        assert!(err.to_string().contains("partial match"), "{err}");
    }
    // Fewer negatives in every softmax (with the same targets): the loss falls. Partial
    // targets change it.
    assert!(got[1] < got[0] - 1e-3, "{got:?}");
    assert!((got[2] - got[0]).abs() > 1e-3, "{got:?}");
}

/// The share of a 400-sample first batch's mixed samples (a drawing with a word on it) for
/// which `counted` holds, under `config`.
fn mixed_share(
    t: &Trainer<B>,
    config: TrainConfig,
    counted: impl Fn(&modalscope_train::data::Content) -> bool,
) -> f64 {
    let config = TrainConfig {
        batch: 400,
        ..config
    };
    let batch = training_data(&config, t).batch::<B>(0, &Default::default());
    let mixed: Vec<_> = batch
        .contents
        .iter()
        .filter(|c| c.image.iter().all(|&x| x != 0))
        .collect();
    assert!(mixed.len() > 40, "{} mixed samples", mixed.len());
    mixed.iter().filter(|c| counted(c)).count() as f64 / mixed.len() as f64
}

#[test]
fn mixtures_are_captioned_by_their_word_alone_as_often_as_the_recipe_says() {
    let t = Trainer::<B>::new(tiny(1), Default::default()).unwrap();
    // Mixed samples whose caption names no drawing.
    let word_only_share = |word_only: f32| {
        let config = TrainConfig {
            word_only,
            ..tiny(1)
        };
        mixed_share(&t, config, |c| c.caption[0] == 0)
    };
    assert_eq!(word_only_share(0.0), 0.0);
    assert_eq!(word_only_share(1.0), 1.0);
    let half = word_only_share(0.5);
    assert!((0.35..0.65).contains(&half), "{half}");
}

#[test]
fn mixtures_are_labelled_with_their_own_name_as_often_as_the_recipe_says() {
    let t = Trainer::<B>::new(tiny(1), Default::default()).unwrap();
    // Mixed samples whose word is the drawn concept's own name.
    let labelled_share = |labelled: f32| {
        let config = TrainConfig {
            labelled,
            ..tiny(1)
        };
        mixed_share(&t, config, |c| c.image[0] == c.image[1])
    };
    assert_eq!(labelled_share(0.0), 0.0);
    assert_eq!(labelled_share(1.0), 1.0);
    let third = labelled_share(0.33);
    assert!((0.18..0.48).contains(&third), "{third}");
}

#[test]
fn the_recipe_sets_how_many_written_words_are_in_big_letters() {
    let t = Trainer::<B>::new(tiny(1), Default::default()).unwrap();
    let batch = |big_words: f32| {
        let config = TrainConfig {
            big_words,
            batch: 64,
            ..tiny(1)
        };
        training_data(&config, &t).batch::<B>(0, &Default::default())
    };
    let (small, big) = (batch(0.0), batch(1.0));
    assert_eq!(small.contents, big.contents);
    let row = |b: &modalscope_train::data::Batch<B>, i: usize| {
        b.images
            .clone()
            .narrow(0, i, 1)
            .into_data()
            .to_vec::<f32>()
            .unwrap()
    };
    let (mut drawn, mut changed, mut written) = (0, 0, 0);
    for (i, c) in small.contents.iter().enumerate() {
        match (c.image[0] != 0, c.image[1] != 0) {
            // Drawings alone do not depend on the share.
            (true, false) => {
                drawn += 1;
                assert_eq!(row(&small, i), row(&big, i));
            }
            (false, true) => {
                written += 1;
                changed += usize::from(row(&small, i) != row(&big, i));
            }
            _ => {}
        }
    }
    assert!(
        drawn > 10 && written > 10,
        "{drawn} drawn, {written} written"
    );
    // Most words are drawn big at share 1 and small at 0 (long names shrink to fit either way).
    assert!(
        changed * 2 > written,
        "{changed} of {written} written images changed"
    );
}

#[test]
fn recipes_asking_for_data_the_generator_cannot_make_are_refused_with_a_message() {
    let refusal = |config: TrainConfig| {
        Trainer::<B>::new(config, Default::default())
            .err()
            .expect("a recipe the generator cannot follow")
            .to_string()
    };
    for share in [-0.1, 1.5, f32::NAN] {
        let e = refusal(TrainConfig {
            word_only: share,
            ..tiny(1)
        });
        assert!(e.contains("word alone"), "{e}");
        let e = refusal(TrainConfig {
            big_words: share,
            ..tiny(1)
        });
        assert!(e.contains("big letters"), "{e}");
    }
    for share in [-0.5, 2.0, f32::NAN] {
        let e = refusal(TrainConfig {
            decoys: share,
            ..tiny(1)
        });
        assert!(e.contains("decoy word"), "{e}");
    }
    for weight in [0.0, -2.0, f32::NAN] {
        let e = refusal(TrainConfig {
            short_words: weight,
            ..tiny(1)
        });
        assert!(e.contains("short names"), "{e}");
    }
    for mixture in [[0.0; 3], [0.5, -0.1, 0.5], [0.5, f32::NAN, 0.5]] {
        let e = refusal(TrainConfig { mixture, ..tiny(1) });
        assert!(e.contains("non-negative"), "{e}");
    }
}

#[test]
fn a_run_started_from_a_bundle_starts_where_that_model_ended() {
    let mut trained = run(tiny(40));
    let ended = trained.evaluate().unwrap().heldout_loss;
    let (bytes, _) = trained.bundle("test");
    let (clip, _) = Clip::<B>::from_bundle(&bytes, &Default::default()).unwrap();
    let mut started = Trainer::<B>::new(tiny(40), Default::default())
        .unwrap()
        .start_from(clip, serde_json::json!({"recipe": "the first stage's"}))
        .unwrap();
    let mut fresh = Trainer::<B>::new(tiny(40), Default::default()).unwrap();
    let (start, fresh_start) = (
        started.evaluate().unwrap().heldout_loss,
        fresh.evaluate().unwrap().heldout_loss,
    );
    println!(
        "held-out loss: run ended {ended}, started from its bundle {start}, fresh {fresh_start}"
    );
    // The bundle's int8 weights cost a little; a fresh model is where the run began.
    assert!(
        (start - ended).abs() < 0.05 * ended,
        "started at {start}, the bundle's run ended at {ended}"
    );
    assert!(
        start < 0.9 * fresh_start,
        "started at {start}, a fresh model at {fresh_start}"
    );
    assert!(started.step().unwrap().loss.is_finite());
    // The new bundle records where its weights came from, through a checkpoint too.
    let dir = std::env::temp_dir().join(format!("modalscope-train-start-{}", std::process::id()));
    started.save_checkpoint(&dir).unwrap();
    let resumed = Trainer::<B>::resume(&dir, Default::default()).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let meta = bundle::read(&resumed.bundle("test").0).unwrap().meta;
    assert_eq!(meta["started_from"]["recipe"], "the first stage's");
    assert!(
        bundle::read(&trained.bundle("test").0)
            .unwrap()
            .meta
            .get("started_from")
            .is_none()
    );

    // Weights of another shape are refused with a message.
    let mut resnet = tiny(1);
    resnet.shape.resnet = Some(ResNetShape {
        layers: [1, 1, 1, 1],
        width: 8,
        heads: 2,
    });
    let other = Trainer::<B>::new(resnet, Default::default()).unwrap();
    let (bytes, _) = other.bundle("test");
    let (clip, _) = Clip::<B>::from_bundle(&bytes, &Default::default()).unwrap();
    let err = Trainer::<B>::new(tiny(1), Default::default())
        .unwrap()
        .start_from(clip, serde_json::Value::Null)
        .err()
        .expect("a ResNet's weights in a ViT recipe");
    assert!(err.to_string().contains("another shape"), "{err}");
}
