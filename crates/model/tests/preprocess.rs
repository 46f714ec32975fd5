//! Image preprocessing matches transformers' Pillow-based CLIP processor.

mod common;

use common::*;
use modalscope_model::{ModelError, Preprocessor};

#[test]
fn preprocessing_parity_with_transformers() {
    for model in ["hf_vit", "openai_rn"] {
        let reference = reference(model);
        let want = reference.get("input.pixel_values").unwrap();
        let pre = Preprocessor::for_config(&fixture_config(model));
        let mut got = Vec::new();
        for name in ["shapes", "noise", "gradient"] {
            let bytes = std::fs::read(fixture(&format!("images/{name}.png"))).unwrap();
            got.extend(pre.prepare(&Preprocessor::decode(&bytes).unwrap()));
        }
        let d = max_diff(model, &want.shape, &got, &want.shape, &want.data);
        println!("{model}: max pixel difference {d:e}");
        assert!(d < 1e-5, "{model}: preprocessing differs by {d}");
    }
}

#[test]
fn things_that_are_not_images_are_refused() {
    for bad in [
        &b""[..],
        b"not an image",
        &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0],
    ] {
        let err = Preprocessor::decode(bad).unwrap_err();
        assert!(matches!(err, ModelError::Image(_)), "{err}");
        assert!(err.to_string().contains("not an image"));
    }
}
