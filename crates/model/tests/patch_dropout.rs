//! Patch dropout: a ViT that keeps some patch tokens of an image computes what a ViT of the
//! kept patches alone computes, checked against a smaller ViT run on the cropped image.

mod common;

use burn::tensor::{Tensor, TensorData};
use common::*;
use modalscope_model::{
    Capture, Clip, ClipConfig, HostTensor, SeededRng, WeightStore, random_store,
};

/// A ViT on `size`-pixel images in 8-pixel patches.
fn config(size: usize) -> ClipConfig {
    tiny_config("tiny-dropout", tiny_vit(size, 2), 1)
}

const POSITIONS: &str = "vision_model.embeddings.position_embedding.weight";

/// Random weights for a 32-pixel ViT (a 4 x 4 grid), with random biases so that no term of
/// the pass is trivially zero.
fn store() -> WeightStore {
    with_random_biases(random_store(&config(32), 5), 17)
}

/// The same weights as a 16-pixel ViT (a 2 x 2 grid) whose position embedding is the class
/// token's and those of the 32-pixel grid's `patches`, so that it sees a crop of the image
/// where the larger one sees those patches.
fn cropped_model(store: &WeightStore, patches: [usize; 4]) -> Clip<B> {
    let mut small = store.clone();
    let positions = store.get(POSITIONS).unwrap();
    let width = positions.shape[1];
    let rows = std::iter::once(0).chain(patches.iter().map(|p| p + 1));
    let data = rows
        .flat_map(|r| positions.data[r * width..(r + 1) * width].to_vec())
        .collect();
    small.insert(POSITIONS, HostTensor::new(vec![5, width], data));
    Clip::from_store(&config(16), small, &device()).unwrap()
}

fn images() -> Tensor<B, 4> {
    let mut rng = SeededRng::new(3);
    let data: Vec<f32> = (0..3 * 3 * 32 * 32).map(|_| rng.normal()).collect();
    Tensor::from_data(TensorData::new(data, [3, 3, 32, 32]), &device())
}

fn embed(model: &Clip<B>, images: Tensor<B, 4>, kept: Option<Vec<Vec<usize>>>) -> Vec<f32> {
    let mut cap = Capture::none();
    if let Some(kept) = kept {
        cap = cap.keeping_patches(kept);
    }
    host(model.encode_image_with(images, &mut cap).unwrap()).1
}

fn largest_gap(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn keeping_some_patches_equals_a_vit_of_those_patches_alone() {
    let store = store();
    let full = Clip::<B>::from_store(&config(32), store.clone(), &device()).unwrap();
    // The top-left and the bottom-right quarter of the 4 x 4 grid, and the pixels under them.
    for (patches, y, x) in [([0, 1, 4, 5], 0, 0), ([10, 11, 14, 15], 16, 16)] {
        let kept = vec![patches.to_vec(); 3];
        let dropped = embed(&full, images(), Some(kept));
        let crop = images().slice([0..3, 0..3, y..y + 16, x..x + 16]);
        let reference = embed(&cropped_model(&store, patches), crop, None);
        let gap = largest_gap(&dropped, &reference);
        assert!(gap < 1e-5, "patches {patches:?}: off by {gap}");
        // The other patches do matter when they are kept.
        let whole = embed(&full, images(), None);
        assert!(largest_gap(&dropped, &whole) > 1e-2);
    }
}

#[test]
fn keeping_every_patch_or_listing_them_in_another_order_changes_nothing() {
    let full = Clip::<B>::from_store(&config(32), store(), &device()).unwrap();
    let whole = embed(&full, images(), None);
    let all = embed(&full, images(), Some(vec![(0..16).collect(); 3]));
    assert_eq!(all, whole);
    // Each token carries its position, so the class token sees the same set in any order.
    let kept = vec![
        vec![2, 7, 9, 12, 13],
        vec![0, 3, 5, 6, 15],
        vec![1, 4, 8, 10, 11],
    ];
    let reversed = kept
        .iter()
        .map(|l| l.iter().rev().copied().collect())
        .collect();
    let a = embed(&full, images(), Some(kept));
    let b = embed(&full, images(), Some(reversed));
    let gap = largest_gap(&a, &b);
    assert!(gap < 1e-5, "off by {gap}");
}

#[test]
#[should_panic(expected = "patch dropout needs")]
fn a_patch_outside_the_grid_is_refused() {
    let full = Clip::<B>::from_store(&config(32), store(), &device()).unwrap();
    embed(&full, images(), Some(vec![vec![3, 16]; 3]));
}
