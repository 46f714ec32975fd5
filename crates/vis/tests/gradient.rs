//! The autodiff gradient of objectives with respect to the input image matches central finite
//! differences on tiny models (ViT and modified ResNet).

mod common;

use burn::tensor::{Tensor, TensorData};
use common::*;
use modalscope_model::SeededRng;
use modalscope_vis::Objective;

/// Objective value (sum over the batch) at `pixels`.
fn value(
    clip: &modalscope_model::Clip<B>,
    obj: &Objective,
    pixels: &[f32],
    shape: [usize; 4],
) -> f64 {
    let x = Tensor::<B, 4>::from_data(TensorData::new(pixels.to_vec(), shape), &Default::default());
    host(obj.scores(clip, x).sum())[0] as f64
}

fn check(model: &str, obj: Objective, batch: usize) {
    let clip = load::<B>(model);
    let s = clip.config().vision.image_size();
    let shape = [batch, 3, s, s];
    let n = batch * 3 * s * s;
    let mut rng = SeededRng::new(42);
    let x0: Vec<f32> = (0..n).map(|_| 0.25 + 0.5 * rng.uniform()).collect();

    let x = Tensor::<B, 4>::from_data(TensorData::new(x0.clone(), shape), &Default::default())
        .require_grad();
    let grads = obj.scores(&clip, x.clone()).sum().backward();
    let g = host(x.grad(&grads).expect("gradient reaches the input"));
    let gnorm = g.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
    assert!(gnorm > 1e-6, "{model}: the gradient vanishes");

    // Directional derivatives along random directions, and along the gradient itself.
    let mut dirs: Vec<Vec<f32>> = (0..3)
        .map(|_| (0..n).map(|_| rng.normal()).collect())
        .collect();
    dirs.push(g.clone());
    for (k, u) in dirs.iter().enumerate() {
        let unorm = u.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        let u: Vec<f32> = u.iter().map(|v| (*v as f64 / unorm) as f32).collect();
        let analytic: f64 = g.iter().zip(&u).map(|(a, b)| *a as f64 * *b as f64).sum();
        // ReLU networks have kinks: keep the step small enough not to cross many of them.
        let h = if model.ends_with("rn") { 1e-4f32 } else { 1e-2 };
        let plus: Vec<f32> = x0.iter().zip(&u).map(|(a, b)| a + h * b).collect();
        let minus: Vec<f32> = x0.iter().zip(&u).map(|(a, b)| a - h * b).collect();
        let numeric = (value(&clip, &obj, &plus, shape) - value(&clip, &obj, &minus, shape))
            / (2.0 * h as f64);
        let err = (analytic - numeric).abs();
        println!("{model} dir {k}: autodiff {analytic:.6e}, finite difference {numeric:.6e}");
        assert!(
            err <= 2e-2 * gnorm + 1e-4,
            "{model} dir {k}: autodiff {analytic} vs finite difference {numeric} (|grad| {gnorm})"
        );
    }
}

#[test]
fn neuron_gradient_matches_finite_differences() {
    check("hf_vit", Objective::neuron("vision.blocks.1.mlp", 5), 1);
    check("openai_rn", Objective::neuron("vision.layer3.0", 7), 1);
}

#[test]
fn channel_and_direction_gradients_match_finite_differences() {
    let mut rng = SeededRng::new(7);
    let dir: Vec<f32> = (0..48).map(|_| rng.normal()).collect();
    check(
        "hf_vit",
        Objective::channel("vision.blocks.0", 3)
            + 0.5 * Objective::direction("vision.blocks.1", dir),
        1,
    );
    // A unit that is alive on these inputs (random ReLU networks have many dead ones).
    let clip = load::<B>("openai_rn");
    let x = noise_images::<B>(1, 64, 42);
    let act = clip
        .image_activation(modalscope_vis::normalize_input(&clip, x), "vision.layer4.0")
        .unwrap();
    let means = host(act.positions().mean_dim(1));
    let alive = (0..means.len())
        .max_by(|&a, &b| means[a].total_cmp(&means[b]))
        .unwrap();
    check("openai_rn", Objective::channel("vision.layer4.0", alive), 1);
}

#[test]
fn embedding_diversity_and_regularizer_gradients_match_finite_differences() {
    let mut rng = SeededRng::new(9);
    let text: Vec<f32> = (0..24).map(|_| rng.normal()).collect();
    let obj = Objective::embedding(text.clone())
        + 0.1 * Objective::diversity("vision.blocks.0.mlp")
        - 0.01 * Objective::total_variation()
        - 0.01 * Objective::l2(0.5);
    check("hf_vit", obj, 2);
    check(
        "openai_rn",
        Objective::embedding(text) + Objective::diversity("vision.layer2.0"),
        2,
    );
}
