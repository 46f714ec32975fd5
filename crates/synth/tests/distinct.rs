//! Every pair of concepts must have clearly different drawn silhouettes.

use modalscope_synth::{Background, CONCEPTS, Colour, Scene, Style};

const SIZE: u32 = 64;
const VIEWS: u64 = 20;

/// The mean foreground mask of a concept drawn black, filled, big and centred on white, over
/// views that differ in rotation and mirroring as the generator varies them.
fn mean_mask(concept: usize) -> Vec<f32> {
    let mut mean = vec![0.0f32; (SIZE * SIZE) as usize];
    for seed in 0..VIEWS {
        let mut scene = Scene::drawn(concept, seed);
        let drawing = scene.drawing.as_mut().unwrap();
        drawing.colour = Colour::Black;
        drawing.ink = [0, 0, 0];
        drawing.style = Style::Filled;
        drawing.extent = 0.7;
        drawing.centre = [0.5, 0.5];
        scene.background = Background::plain([255, 255, 255]);
        let image = scene.render(SIZE);
        for (m, p) in mean.iter_mut().zip(image.pixels()) {
            if p.0.iter().any(|&v| v < 200) {
                *m += 1.0 / VIEWS as f32;
            }
        }
    }
    mean
}

fn soft_iou(a: &[f32], b: &[f32]) -> f32 {
    let inter: f32 = a.iter().zip(b).map(|(x, y)| x.min(*y)).sum();
    let union: f32 = a.iter().zip(b).map(|(x, y)| x.max(*y)).sum();
    inter / union
}

#[test]
fn drawn_silhouettes_of_different_concepts_differ() {
    let masks: Vec<Vec<f32>> = (0..CONCEPTS.len()).map(mean_mask).collect();
    let mut pairs = Vec::new();
    for i in 0..CONCEPTS.len() {
        for j in i + 1..CONCEPTS.len() {
            pairs.push((soft_iou(&masks[i], &masks[j]), i, j));
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (iou, i, j) in &pairs[..8] {
        println!("{} / {}: IoU {iou:.3}", CONCEPTS[*i], CONCEPTS[*j]);
    }
    let failures: Vec<String> = pairs
        .iter()
        .filter(|p| p.0 >= 0.8)
        .map(|(iou, i, j)| format!("{} / {}: {iou:.3}", CONCEPTS[*i], CONCEPTS[*j]))
        .collect();
    assert!(
        failures.is_empty(),
        "near-identical silhouettes: {failures:?}"
    );
}
