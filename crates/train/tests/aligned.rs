//! The recipe's alignment term: what it computes (a contrastive loss between the firing of a
//! batch's drawings and of its written names, on a ViT's MLP neurons and a ResNet's channels),
//! checked against the activations the model records; that it leaves training unchanged at
//! weight 0; that it makes a concept's drawings and its written name fire alike while the model
//! still learns; and that bad terms are refused.

mod common;

use common::{B, firing, refusal, run, with_tiny_resnet};
use modalscope_model::Preprocessor;
use modalscope_train::data::{Batch, Content, TrainingData};
use modalscope_train::{Aligned, StepLog, TrainConfig, Trainer, contrastive_loss, training_loss};

fn tiny(steps: usize, aligned: Option<Aligned>) -> TrainConfig {
    TrainConfig {
        steps,
        aligned,
        ..TrainConfig::tiny()
    }
}

fn term(weight: f32, block: usize) -> Option<Aligned> {
    Some(Aligned {
        weight,
        block,
        temperature: 0.1,
        from: 0,
    })
}

/// The first batch of `config`'s data in which some drawing (without a word) has a written name
/// (without a drawing) of its concept beside it.
fn batch_with_a_match(config: &TrainConfig) -> Batch<B> {
    let data = data(config);
    (0..50)
        .map(|step| data.batch::<B>(step, &Default::default()))
        .find(|b| sides_match(&b.contents))
        .expect("a batch with a drawing and a name of one concept")
}

/// `config`'s training data, as its trainer makes it.
fn data(config: &TrainConfig) -> TrainingData {
    let t = Trainer::<B>::new(config.clone(), Default::default()).unwrap();
    let pre = Preprocessor::for_config(t.model().config());
    TrainingData::new(config, config.seed, t.tokenizer().clone(), pre).unwrap()
}

/// The batch of `config`'s first step.
fn first_batch(config: &TrainConfig) -> Batch<B> {
    data(config).batch::<B>(0, &Default::default())
}

/// The images that show only a drawing and those that show only a word, each with its concept.
type Side = Vec<(usize, u16)>;

fn sides(contents: &[Content]) -> (Side, Side) {
    let only = |k: usize| {
        contents
            .iter()
            .enumerate()
            .filter(|(_, c)| c.image[k] != 0 && c.image[1 - k] == 0)
            .map(|(i, c)| (i, c.image[k]))
            .collect::<Vec<_>>()
    };
    (only(0), only(1))
}

/// The alignment term computed on the host in f64 from the firing the model records:
/// cross-entropy of the softmax of cosines over `temperature` against the matches of each
/// drawing among the names and of each name among the drawings, each side averaged over its
/// images that have a match, the two sides averaged.
fn host_term(firing: &[Vec<f64>], contents: &[Content], temperature: f64) -> f64 {
    let (drawn, written) = sides(contents);
    let n = firing.len() as f64;
    let mean: Vec<f64> = (0..firing[0].len())
        .map(|u| firing.iter().map(|f| f[u]).sum::<f64>() / n)
        .collect();
    let firing: Vec<Vec<f64>> = firing
        .iter()
        .map(|f| f.iter().zip(&mean).map(|(x, m)| x - m).collect())
        .collect();
    let unit = |v: &[f64]| {
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
        v.iter().map(|x| x / n).collect::<Vec<_>>()
    };
    let cos = |a: usize, b: usize| {
        let (x, y) = (unit(&firing[a]), unit(&firing[b]));
        x.iter().zip(&y).map(|(p, q)| p * q).sum::<f64>() / temperature
    };
    let side = |from: &Side, to: &Side| {
        let mut sum = 0.0;
        let mut counted = 0;
        for &(i, c) in from {
            let logits: Vec<f64> = to.iter().map(|&(j, _)| cos(i, j)).collect();
            let matches: Vec<usize> = (0..to.len()).filter(|&k| to[k].1 == c).collect();
            if matches.is_empty() {
                continue;
            }
            let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + logits.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
            sum -= matches.iter().map(|&k| logits[k] - lse).sum::<f64>() / matches.len() as f64;
            counted += 1;
        }
        sum / counted as f64
    };
    (side(&drawn, &written) + side(&written, &drawn)) / 2.0
}

#[test]
fn the_term_is_a_contrastive_loss_between_the_firing_of_drawings_and_of_names() {
    // A ViT's last MLP at the class token, its pooled layer (one past the last block), and a
    // ResNet's last block averaged over the map.
    for (config, layer) in [
        (tiny(1, term(0.5, 1)), "vision.blocks.1.mlp"),
        (tiny(1, term(0.5, 2)), "vision.post_ln"),
        (with_tiny_resnet(tiny(1, term(0.5, 3))), "vision.layer4.0"),
    ] {
        let t = Trainer::<B>::new(config.clone(), Default::default()).unwrap();
        let batch = batch_with_a_match(&config);
        let aligned = config.aligned.as_ref().unwrap();
        let (loss, penalty) = objective(&t, &batch, aligned, &batch.contents);
        let penalty = f64::from(penalty.expect("a term"));
        let host = firing(t.model(), batch.images.clone(), layer);
        let expected = 0.5 * host_term(&host, &batch.contents, 0.1);
        println!("{layer}: term {penalty:.6}, host {expected:.6}");
        assert!(expected > 1e-3, "{expected}");
        assert!(
            (penalty - expected).abs() < 1e-4 * expected.max(1.0),
            "{layer}: {penalty} vs {expected}"
        );
        // The contrastive part is the plain contrastive loss of the same batch.
        let plain = contrastive_loss(
            t.model(),
            batch.images.clone(),
            &batch.ids,
            &batch.groups,
            None,
        )
        .unwrap()
        .into_scalar();
        assert!((loss - plain).abs() < 1e-6);
        // Where no drawing meets a name of its concept, there is nothing to align.
        let unmatched: Vec<Content> = batch
            .contents
            .iter()
            .map(|c| Content {
                image: [c.image[0], 0],
                ..*c
            })
            .collect();
        let (_, none) = objective(&t, &batch, aligned, &unmatched);
        assert!(none.is_none());
    }
}

#[test]
fn a_zero_weight_term_trains_exactly_as_none() {
    let bits = |log: &[StepLog]| log.iter().map(|l| l.loss.to_bits()).collect::<Vec<_>>();
    let plain = run(tiny(6, None));
    let zero = run(tiny(6, term(0.0, 1)));
    assert_eq!(bits(&plain.log), bits(&zero.log));
    assert!(zero.log.iter().all(|l| l.penalty == 0.0));
    // A real weight logs a term and changes the run from its second step on.
    let some = run(tiny(6, term(0.5, 1)));
    assert!(some.log.iter().any(|l| l.penalty > 0.0));
    assert_eq!(some.log[0].loss.to_bits(), plain.log[0].loss.to_bits());
    assert_ne!(bits(&some.log[1..]), bits(&plain.log[1..]));
}

/// A term that counts from step 3 leaves the first three steps as they are without it and
/// changes the run from there on.
#[test]
fn a_term_from_a_later_step_leaves_the_steps_before_it_alone() {
    let bits = |log: &[StepLog]| log.iter().map(|l| l.loss.to_bits()).collect::<Vec<_>>();
    let plain = run(tiny(6, None));
    let late = run(tiny(
        6,
        Some(Aligned {
            from: 3,
            ..term(0.5, 1).unwrap()
        }),
    ));
    assert_eq!(bits(&plain.log[..4]), bits(&late.log[..4]));
    assert!(late.log[..3].iter().all(|l| l.penalty == 0.0));
    assert!(late.log[3..].iter().any(|l| l.penalty > 0.0));
    assert_ne!(bits(&plain.log[4..]), bits(&late.log[4..]));
}

/// The alignment term (weight 1) of `t`'s model on `batch`.
fn term_on(t: &Trainer<B>, batch: &Batch<B>) -> f32 {
    let (_, p) = objective(t, batch, &term(1.0, 3).unwrap(), &batch.contents);
    p.expect("a batch with a match")
}

/// The contrastive loss and the alignment term of `t`'s model on `batch` under `rule`, the
/// images' contents given as `contents`.
fn objective(
    t: &Trainer<B>,
    batch: &Batch<B>,
    rule: &Aligned,
    contents: &[Content],
) -> (f32, Option<f32>) {
    let (loss, p) = training_loss(
        t.model(),
        batch.images.clone(),
        &batch.ids,
        &batch.groups,
        None,
        None,
        Some((rule, contents)),
    )
    .unwrap();
    (loss.into_scalar(), p.map(|p| p.into_scalar()))
}

/// The term's gradient reaches the tower: one step of a tiny ResNet with the term (weighted
/// so that it leads the gradient) lowers it on the batch the step was taken on, where a step
/// of the contrastive loss alone does not move it as much. (On a whole run the term can fall
/// only once the tower reads written names, which a tiny run never does; what it does at full
/// size the README reports.)
#[test]
fn a_step_with_the_term_lowers_it_on_its_batch() {
    // The first seed whose first batch holds a drawing and a name of one concept.
    let config = |aligned| {
        (7..)
            .map(|seed| TrainConfig {
                seed,
                warmup: 0,
                ..with_tiny_resnet(tiny(1, aligned))
            })
            .find(|c| sides_match(&first_batch(c).contents))
            .unwrap()
    };
    let change = |aligned| {
        let config = config(aligned);
        let batch = first_batch(&config);
        let mut t = Trainer::<B>::new(config, Default::default()).unwrap();
        let before = term_on(&t, &batch);
        t.step().unwrap();
        (before, term_on(&t, &batch))
    };
    let (b0, a0) = change(None);
    let (b1, a1) = change(term(10.0, 3));
    println!("term on the step's batch: {b0:.4} -> {a0:.4} without, {b1:.4} -> {a1:.4} with it");
    assert_eq!(b0, b1, "both runs start from the same model and batch");
    assert!(
        b1 - a1 > 0.02 && b1 - a1 > 3.0 * (b0 - a0).max(0.0),
        "a step with the term did not lower it: {b0} -> {a0} without, {b1} -> {a1} with"
    );
}

/// A tiny ResNet still learns under the term at the weight the README's run used: its
/// contrastive loss falls at least half as far as without the term.
#[test]
fn the_model_still_learns_with_the_term() {
    let fall = |log: &[StepLog]| {
        let mean = |s: &[StepLog]| s.iter().map(|l| l.loss).sum::<f32>() / s.len() as f32;
        mean(&log[..20]) - mean(&log[log.len() - 20..])
    };
    let plain = run(with_tiny_resnet(tiny(200, None)));
    let aligned = run(with_tiny_resnet(tiny(200, term(0.5, 3))));
    assert!(aligned.log.iter().any(|l| l.penalty > 0.0));
    let (a, b) = (fall(&plain.log), fall(&aligned.log));
    println!("contrastive loss falls {a:.3} without the term, {b:.3} with it");
    assert!(a > 0.1 && b > 0.5 * a, "{a} without, {b} with");
}

/// Whether some drawing of `contents` meets a written name of its concept.
fn sides_match(contents: &[Content]) -> bool {
    let (drawn, written) = sides(contents);
    drawn
        .iter()
        .any(|(_, d)| written.iter().any(|(_, w)| w == d))
}

#[test]
fn bad_alignment_terms_are_refused_with_a_message() {
    let refusal = |aligned| refusal(tiny(1, aligned));
    for weight in [-0.1, f32::NAN, f32::INFINITY] {
        let e = refusal(term(weight, 1));
        assert!(e.contains("alignment weight"), "{e}");
    }
    for temperature in [0.0, -1.0, f32::NAN] {
        let e = refusal(Some(Aligned {
            temperature,
            ..term(1.0, 1).unwrap()
        }));
        assert!(e.contains("alignment temperature"), "{e}");
    }
    let e = refusal(term(1.0, 3));
    assert!(
        e.contains("alignment names block 3, but the image tower has blocks 0 to 1 and 2 for its pooled layer"),
        "{e}"
    );
    // A recipe without a temperature gets SimCLR's 0.1, and without a first step the term
    // counts from the start.
    let parsed: Aligned = serde_json::from_str(r#"{"weight": 1.0, "block": 1}"#).unwrap();
    assert_eq!((parsed.temperature, parsed.from), (0.1, 0));
}
