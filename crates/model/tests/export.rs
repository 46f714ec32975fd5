//! A model written back to a store and loaded again computes the same thing.

mod common;

use common::*;
use modalscope_model::{Clip, WeightStore, canonical_store};

#[test]
fn exported_weights_reload_to_the_same_model() {
    for model in ["hf_vit", "openai_vit", "openai_rn"] {
        let clip = load_fixture_model(model);
        let store = clip.to_store();
        let original = canonical_store(
            WeightStore::from_safetensors_file(fixture(model).join("model.safetensors")).unwrap(),
        )
        .unwrap();
        // The same tensor names as the checkpoint (buffers aside).
        let names = |s: &WeightStore| {
            s.names()
                .filter(|n| !n.ends_with("position_ids"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&store), names(&original), "{model}");
        if !model.ends_with("rn") {
            // Nothing is folded in a transformer: the values come back exactly.
            for (name, t) in store.iter() {
                let o = original.get(name).unwrap();
                assert_eq!(t.data, o.data, "{model}: {name}");
                // (a scalar may be stored as [] or [1])
                assert!(t.shape == o.shape || t.numel() == 1, "{model}: {name}");
            }
        }
        let again = Clip::<B>::from_store(&fixture_config(model), store, &device()).unwrap();
        let reference = reference(model);
        let (_, a) = host(clip.encode_image(pixels(&reference)));
        let (_, b) = host(again.encode_image(pixels(&reference)));
        let d = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(d < 1e-5, "{model}: image embeddings moved by {d}");
        let ids = input_ids(&reference);
        assert_eq!(
            host(clip.encode_text(&ids).unwrap()).1,
            host(again.encode_text(&ids).unwrap()).1
        );
    }
}
