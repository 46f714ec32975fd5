//! Lesions: silencing units during the forward pass equals editing the weights where that
//! identity holds, and bad lesions are refused with a message.

mod common;

use burn::tensor::{Tensor, TensorData};
use common::*;
use modalscope_model::{
    Capture, Clip, ClipConfig, Lesion, ModelError, SeededRng, WeightStore, random_store,
};

fn tiny() -> ClipConfig {
    tiny_config("tiny-lesion", tiny_vit(16, 3), 2)
}

const SEED: u64 = 11;

/// A random store whose biases are random too (CLIP's initialisation zeroes them, which would
/// make the bias part of the identities trivially true).
fn store() -> WeightStore {
    with_random_biases(random_store(&tiny(), SEED), 99)
}

fn model(store: WeightStore) -> Clip<B> {
    Clip::from_store(&tiny(), store, &device()).unwrap()
}

fn images() -> Tensor<B, 4> {
    let mut rng = SeededRng::new(3);
    let data: Vec<f32> = (0..4 * 3 * 16 * 16).map(|_| rng.normal()).collect();
    Tensor::from_data(TensorData::new(data, [4, 3, 16, 16]), &device())
}

fn texts() -> Vec<Vec<u32>> {
    vec![
        vec![5, 17, 42, 99, 0, 0, 0, 0],
        vec![7, 8, 9, 10, 11, 99, 0, 0],
        vec![3, 99, 0, 0, 0, 0, 0, 0],
    ]
}

fn gap(a: Tensor<B, 2>, b: Tensor<B, 2>) -> f32 {
    let (_, a) = host(a);
    let (_, b) = host(b);
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Edits a PyTorch-layout matrix `[rows, cols]` in the store.
fn edit(store: &mut WeightStore, name: &str, f: impl Fn(usize, usize, &mut f32)) {
    let mut t = store.get(name).unwrap().clone();
    let cols = t.shape[1];
    for (k, v) in t.data.iter_mut().enumerate() {
        f(k / cols, k % cols, v);
    }
    store.insert(name, t);
}

fn edit_vec(store: &mut WeightStore, name: &str, f: impl Fn(usize, &mut f32)) {
    let mut t = store.get(name).unwrap().clone();
    for (k, v) in t.data.iter_mut().enumerate() {
        f(k, v);
    }
    store.insert(name, t);
}

#[test]
fn zero_ablating_an_mlp_neuron_equals_zeroing_its_weights() {
    let base = model(store());
    for (block, unit) in [(0usize, 5usize), (1, 0), (2, 63)] {
        let layer = format!("vision.blocks.{block}.mlp");
        let lesioned = base
            .encode_image_lesioned(images(), &[Lesion::zero(&layer, [unit])])
            .unwrap();
        let unlesioned = base.encode_image(images());
        assert!(
            gap(lesioned.clone(), unlesioned) > 1e-4,
            "the lesion changes the output"
        );

        // fc1 row and bias of the unit zeroed: its pre-activation is 0 and quick-GELU(0) = 0.
        let p = format!("vision_model.encoder.layers.{block}.mlp");
        let mut s = store();
        edit(&mut s, &format!("{p}.fc1.weight"), |r, _, v| {
            if r == unit {
                *v = 0.0
            }
        });
        edit_vec(&mut s, &format!("{p}.fc1.bias"), |k, v| {
            if k == unit {
                *v = 0.0
            }
        });
        let d = gap(lesioned.clone(), model(s).encode_image(images()));
        println!("{layer} unit {unit}: fc1 row zeroed vs zero ablation: {d:e}");
        assert!(d < 1e-5, "{layer} unit {unit}: fc1 zeroed differs by {d}");

        // fc2 column of the unit zeroed: nothing of it reaches the residual stream.
        let mut s = store();
        edit(&mut s, &format!("{p}.fc2.weight"), |_, c, v| {
            if c == unit {
                *v = 0.0
            }
        });
        let d = gap(lesioned, model(s).encode_image(images()));
        println!("{layer} unit {unit}: fc2 column zeroed vs zero ablation: {d:e}");
        assert!(d < 1e-5, "{layer} unit {unit}: fc2 zeroed differs by {d}");
    }
}

#[test]
fn mean_ablation_equals_folding_the_mean_into_the_bias() {
    let base = model(store());
    let (block, units, means) = (1usize, [2usize, 30, 31], [0.7f32, -0.2, 1.5]);
    let layer = format!("vision.blocks.{block}.mlp");
    let lesioned = base
        .encode_image_lesioned(images(), &[Lesion::mean(&layer, units, means)])
        .unwrap();
    // h_u = m everywhere: fc2 adds W[:, u] m as a constant, the same as a bias.
    let p = format!("vision_model.encoder.layers.{block}.mlp");
    let mut s = store();
    let w = s.get(&format!("{p}.fc2.weight")).unwrap().clone();
    let cols = w.shape[1];
    edit_vec(&mut s, &format!("{p}.fc2.bias"), |r, v| {
        for (&u, &m) in units.iter().zip(&means) {
            *v += w.data[r * cols + u] * m;
        }
    });
    edit(&mut s, &format!("{p}.fc2.weight"), |_, c, v| {
        if units.contains(&c) {
            *v = 0.0
        }
    });
    let d = gap(lesioned, model(s).encode_image(images()));
    println!("mean ablation vs the means folded into the fc2 bias: {d:e}");
    assert!(
        d < 1e-5,
        "mean ablation differs from the folded bias by {d}"
    );
}

#[test]
fn zero_ablating_a_text_neuron_equals_zeroing_its_weights() {
    let base = model(store());
    let (block, unit) = (1usize, 9usize);
    let lesioned = base
        .encode_text_lesioned(
            &texts(),
            &[Lesion::zero(format!("text.blocks.{block}.mlp"), [unit])],
        )
        .unwrap();
    assert!(gap(lesioned.clone(), base.encode_text(&texts()).unwrap()) > 1e-4);
    let p = format!("text_model.encoder.layers.{block}.mlp");
    let mut s = store();
    edit(&mut s, &format!("{p}.fc2.weight"), |_, c, v| {
        if c == unit {
            *v = 0.0
        }
    });
    let d = gap(lesioned, model(s).encode_text(&texts()).unwrap());
    println!("text fc2 column zeroed vs zero ablation: {d:e}");
    assert!(d < 1e-5, "text fc2 zeroed differs by {d}");
}

#[test]
fn the_capture_records_the_silenced_values_and_empty_lesions_change_nothing() {
    let base = model(store());
    let layer = "vision.blocks.0.mlp";
    let mut cap = Capture::only([layer]).with_lesions([Lesion::mean(layer, [3, 4], [0.0, 2.5])]);
    let _ = base.encode_image_with(images(), &mut cap);
    let (shape, values) = cap.get(layer).unwrap().to_host();
    let c = shape[2];
    for row in values.chunks(c) {
        assert_eq!(row[3], 0.0);
        assert_eq!(row[4], 2.5);
    }
    // Other units and an empty lesion: untouched.
    let plain = base.encode_image(images());
    let none = base
        .encode_image_lesioned(images(), &[Lesion::zero(layer, [])])
        .unwrap();
    assert_eq!(gap(plain, none), 0.0);
    // Lesions on the residual stream and the embedding apply too.
    let e = base
        .encode_image_lesioned(images(), &[Lesion::zero("vision.embeds", [0, 7])])
        .unwrap();
    let (_, e) = host(e);
    assert!(e.chunks(8).all(|r| r[0] == 0.0 && r[7] == 0.0));
}

#[test]
fn a_capture_told_to_run_to_the_end_records_and_still_embeds() {
    let base = model(store());
    let layer = "vision.blocks.0.mlp";
    // Plain: the pass stops once the layer is recorded.
    let mut early = Capture::only([layer]);
    assert!(base.encode_image_with(images(), &mut early).is_none());
    // To the end: the same recording, and the embedding of a plain pass.
    let mut full = Capture::only([layer]).to_the_end();
    let embeds = base
        .encode_image_with(images(), &mut full)
        .expect("the pass ran to the end");
    assert_eq!(gap(embeds, base.encode_image(images())), 0.0);
    assert_eq!(
        early.get(layer).unwrap().to_host(),
        full.get(layer).unwrap().to_host()
    );
}

#[test]
fn layer_units_match_the_recorded_channels() {
    let vit = model(store());
    let rn = load_fixture_model("openai_rn");
    for clip in [&vit, &rn] {
        let s = clip.config().vision.image_size();
        let x = Tensor::<B, 4>::zeros([1, 3, s, s], &device());
        let mut cap = Capture::all();
        let _ = clip.encode_image_with(x, &mut cap);
        let _ = clip.encode_text_with(&[vec![1, 2, 3]], &mut cap).unwrap();
        for name in clip.layer_names() {
            let recorded = cap.get(&name).unwrap().channels();
            assert_eq!(clip.layer_units(&name).unwrap(), recorded, "{name}");
        }
    }
    // A ResNet feature map is silenced along its channels.
    let layer = "vision.layer2.0";
    let s = rn.config().vision.image_size();
    let x = Tensor::<B, 4>::ones([1, 3, s, s], &device());
    let mut cap = Capture::only([layer]).with_lesions([Lesion::zero(layer, [1])]);
    let _ = rn.encode_image_with(x, &mut cap);
    let (shape, v) = cap.get(layer).unwrap().to_host();
    let plane = shape[2] * shape[3];
    assert!(v[plane..2 * plane].iter().all(|&x| x == 0.0));
}

#[test]
fn bad_lesions_are_refused_with_a_message() {
    let base = model(store());
    let err = base
        .encode_image_lesioned(images(), &[Lesion::zero("vision.blocks.1.mlp", [64])])
        .unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::UnknownUnit {
                unit: 64,
                units: 64,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("has 64 units"), "{err}");
    let err = base
        .encode_image_lesioned(images(), &[Lesion::zero("vision.blocks.9.mlp", [0])])
        .unwrap_err();
    assert!(matches!(err, ModelError::UnknownLayer { .. }), "{err}");
}
