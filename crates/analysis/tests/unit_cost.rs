//! What silencing one unit costs a concept (`units_needed`), checked against the host's own
//! arithmetic at the layer the projection reads, and against the text alignment.

use burn::backend::Flex;
use burn::tensor::{Tensor, TensorData};
use modalscope_analysis::{LabelledImages, UnitCost, text_alignments, unit_means, units_needed};
use modalscope_model::{
    Act, Activation, Capture, Clip, ClipConfig, SeededRng, TextConfig, VisionConfig, VitConfig,
};

type B = Flex;

const CLASSES: usize = 3;
const PER_CLASS: usize = 2;

fn config() -> ClipConfig {
    ClipConfig {
        name: "tiny-cost".into(),
        projection_dim: 8,
        vision: VisionConfig::Vit(VitConfig {
            image_size: 16,
            patch_size: 8,
            width: 16,
            layers: 2,
            heads: 2,
            mlp_width: 64,
            act: Act::QuickGelu,
            layer_norm_eps: 1e-5,
        }),
        text: TextConfig {
            vocab_size: 100,
            context_length: 8,
            width: 16,
            layers: 1,
            heads: 2,
            mlp_width: 64,
            act: Act::QuickGelu,
            layer_norm_eps: 1e-5,
            eot_token_id: None,
        },
        image_mean: [0.5; 3],
        image_std: [0.25; 3],
    }
}

fn normal(rng: &mut SeededRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.normal()).collect()
}

/// A set of random images, `PER_CLASS` of each class, interleaved.
fn set(seed: u64) -> LabelledImages<B> {
    let mut rng = SeededRng::new(seed);
    let n = CLASSES * PER_CLASS;
    let images = Tensor::from_data(
        TensorData::new(normal(&mut rng, n * 3 * 16 * 16), [n, 3, 16, 16]),
        &Default::default(),
    );
    LabelledImages::new(images, (0..n).map(|i| i % CLASSES).collect()).unwrap()
}

/// Random unit-length class embeddings.
fn classes() -> (Tensor<B, 2>, Vec<Vec<f64>>) {
    let mut rng = SeededRng::new(5);
    let rows: Vec<Vec<f64>> = (0..CLASSES)
        .map(|_| unit(normal(&mut rng, 8).into_iter().map(f64::from).collect()))
        .collect();
    let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    let t = Tensor::from_data(TensorData::new(flat, [CLASSES, 8]), &Default::default());
    (t, rows)
}

fn unit(v: Vec<f64>) -> Vec<f64> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn host(t: Tensor<B, 2>) -> Vec<Vec<f64>> {
    let w = t.dims()[1];
    let v: Vec<f32> = t.into_data().convert::<f32>().into_vec().unwrap();
    v.chunks(w)
        .map(|r| r.iter().map(|&x| x as f64).collect())
        .collect()
}

/// The concept's zero-shot margin of one unnormalized embedding, in f64.
fn margin(embed: &[f64], classes: &[Vec<f64>], concept: usize) -> f64 {
    let e = unit(embed.to_vec());
    let sims: Vec<f64> = classes
        .iter()
        .map(|c| c.iter().zip(&e).map(|(a, b)| a * b).sum())
        .collect();
    let others = (sims.iter().sum::<f64>() - sims[concept]) / (sims.len() - 1) as f64;
    sims[concept] - others
}

#[test]
fn a_units_cost_at_the_pooled_layer_is_what_the_projection_of_its_change_takes_away() {
    let device = Default::default();
    let clip = Clip::<B>::random(&config(), 7, &device).unwrap();
    let layer = clip.pooled_layer();
    assert_eq!(layer, "vision.post_ln");
    let sets = [set(1), set(2)];
    let all = Tensor::cat(sets.iter().map(|s| s.images.clone()).collect(), 0);
    let means = unit_means(&clip, &all, &layer, 4).unwrap();
    let (classes, class_rows) = classes();
    // The projection, read as rows per unit (burn's Linear keeps `[in, out]`).
    let proj = host(clip.vit.as_ref().unwrap().projection.weight.val());
    assert_eq!((proj.len(), proj[0].len()), (16, 8));
    for concept in 0..CLASSES {
        let costs =
            units_needed(&clip, &layer, &means, &sets, classes.clone(), concept, 4).unwrap();
        assert_eq!(costs.len(), 16);
        // The host's own: the pooled vector, its projection, and the projection of the
        // change mean ablation makes to one unit.
        for (s, set) in sets.iter().enumerate() {
            let mut cap = Capture::only([layer.as_str()]);
            let _ = clip.encode_image_with(set.of_class(concept).unwrap(), &mut cap);
            let Some(Activation::Pooled(x)) = cap.take(&layer) else {
                panic!("the pooled layer records one vector per image");
            };
            let xs = host(x);
            assert_eq!(xs.len(), PER_CLASS);
            let embed = |x: &[f64]| -> Vec<f64> {
                (0..8)
                    .map(|j| x.iter().zip(&proj).map(|(a, row)| a * row[j]).sum())
                    .collect()
            };
            for cost in &costs {
                let u = cost.unit;
                let lost: f64 = xs
                    .iter()
                    .map(|x| {
                        let mut held = x.clone();
                        held[u] = means[u] as f64;
                        margin(&embed(x), &class_rows, concept)
                            - margin(&embed(&held), &class_rows, concept)
                    })
                    .sum::<f64>()
                    / xs.len() as f64;
                assert!(
                    (cost.lost[s] - lost).abs() < 1e-5,
                    "concept {concept}, unit {u}, set {s}: {} against the host's {lost}",
                    cost.lost[s]
                );
            }
        }
        // The units the concept needs most come first.
        let weakest: Vec<f64> = costs.iter().map(UnitCost::weakest).collect();
        assert!(weakest.windows(2).all(|w| w[0] >= w[1]), "{weakest:?}");
        assert!(weakest[0] > 0.0);
    }
}

#[test]
fn zero_held_costs_average_to_the_text_alignment_over_equal_sets() {
    let device = Default::default();
    let clip = Clip::<B>::random(&config(), 8, &device).unwrap();
    let layer = "vision.blocks.1.mlp";
    let units = clip.layer_units(layer).unwrap();
    let sets = [set(3), set(4)];
    let (classes, _) = classes();
    let concept = 1;
    let costs = units_needed(
        &clip,
        layer,
        &vec![0.0; units],
        &sets,
        classes.clone(),
        concept,
        4,
    )
    .unwrap();
    let pairs: Vec<(usize, usize)> = costs.iter().map(|c| (c.unit, concept)).collect();
    let aligned = text_alignments(&clip, layer, &pairs, &sets, classes, 4).unwrap();
    for (cost, a) in costs.iter().zip(&aligned) {
        let mean = (cost.lost[0] + cost.lost[1]) / 2.0;
        assert!(
            (mean - a).abs() < 1e-5,
            "unit {}: {mean} against {a}",
            cost.unit
        );
    }
}

#[test]
fn bad_requests_are_refused_with_a_reason() {
    let device = Default::default();
    let clip = Clip::<B>::random(&config(), 9, &device).unwrap();
    let (classes, _) = classes();
    let sets = [set(1)];
    let err = units_needed(
        &clip,
        "vision.post_ln",
        &[0.0; 3],
        &sets,
        classes.clone(),
        0,
        4,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("3 hold values for the 16 units"), "{err}");
    let err = units_needed(&clip, "vision.post_ln", &[0.0; 16], &sets, classes, 5, 4)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not one of the 3 classes"), "{err}");
}
