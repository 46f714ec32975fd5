//! The int8 bundle: round trips, fidelity to fp32, size, and clear errors for bad files.

mod common;

use common::*;
use modalscope_model::bundle::{self, Precision, TokenizerFiles};
use modalscope_model::{Clip, ClipConfig, ModelError, WeightStore, canonical_store};

fn canonical_fixture(model: &str) -> (ClipConfig, WeightStore) {
    let store =
        WeightStore::from_safetensors_file(fixture(model).join("model.safetensors")).unwrap();
    (fixture_config(model), canonical_store(store).unwrap())
}

fn tokenizer_files() -> TokenizerFiles {
    TokenizerFiles {
        vocab_json: std::fs::read_to_string(fixture("tokenizer/vocab.json")).unwrap(),
        merges_txt: std::fs::read_to_string(fixture("tokenizer/merges.txt")).unwrap(),
    }
}

fn write(model: &str, precision: Precision) -> (Vec<u8>, bundle::QuantReport) {
    let (config, store) = canonical_fixture(model);
    let clip = Clip::<B>::from_store(&config, store.clone(), &device()).unwrap();
    bundle::write(
        &config,
        &clip.layer_names(),
        &store,
        Some(&tokenizer_files()),
        precision,
        serde_json::json!({"source": model}),
    )
}

#[test]
fn f32_bundle_round_trips_exactly() {
    for model in ["hf_vit", "openai_rn"] {
        let (_, store) = canonical_fixture(model);
        let (bytes, report) = write(model, Precision::F32);
        let back = bundle::read(&bytes).unwrap();
        assert_eq!(back.store.len(), store.len());
        for (name, t) in store.iter() {
            assert_eq!(back.store.get(name), Some(t), "{model}: {name} changed");
        }
        assert_eq!(back.config, fixture_config(model));
        assert_eq!(back.tokenizer, Some(tokenizer_files()));
        assert_eq!(back.meta["source"], model);
        assert_eq!(report.quantized_tensors, 0);
        assert!(back.layers.iter().any(|l| l == "text.embeds"));
    }
}

#[test]
fn int8_bundle_keeps_embeddings_within_cosine_099_of_fp32() {
    for model in ["hf_vit", "openai_vit", "openai_rn"] {
        let reference = reference(model);
        let fp32 = load_fixture_model(model);
        let (bytes, report) = write(model, Precision::Int8);
        let (int8, tok) = Clip::<B>::from_bundle(&bytes, &device()).unwrap();
        assert!(tok.is_some());
        // The int8 bundle really changed the weights, a little.
        assert!(
            report.max_abs_error > 0.0 && report.mean_abs_error < 0.01,
            "{report:?}"
        );

        let ids = input_ids(&reference);
        let pairs = [
            (
                fp32.encode_image(pixels(&reference)),
                int8.encode_image(pixels(&reference)),
                "image",
            ),
            (
                fp32.encode_text(&ids).unwrap(),
                int8.encode_text(&ids).unwrap(),
                "text",
            ),
        ];
        for (a, b, what) in pairs {
            let (shape, a) = host(a);
            let (_, b) = host(b);
            let dim = shape[1];
            for (row, (ra, rb)) in a.chunks(dim).zip(b.chunks(dim)).enumerate() {
                let c = cosine(ra, rb);
                assert!(
                    c > 0.99,
                    "{model}: {what} embedding {row} has cosine {c} with fp32"
                );
            }
            assert_ne!(
                a, b,
                "{model}: int8 {what} embeddings should not be bit-identical to fp32"
            );
        }
    }
}

#[test]
fn int8_bundle_is_about_a_quarter_of_fp32() {
    // Most of a CLIP is matrices; the ResNet fixture has many small BatchNorm vectors (kept
    // f32), so measure on the ViT, and on ViT-B/32 shapes to check the real ratio.
    // (without the tokenizer text, which is not weights)
    let (config, store) = canonical_fixture("hf_vit");
    let (bytes, report) = bundle::write(
        &config,
        &[],
        &store,
        None,
        Precision::Int8,
        serde_json::Value::Null,
    );
    let ratio = bytes.len() as f64 / report.f32_bytes as f64;
    assert!(ratio < 0.30, "tiny ViT bundle is {ratio:.3} of fp32");

    let cfg = ClipConfig::vit_b32();
    let store = modalscope_model::random_store(&cfg, 0);
    let (bytes, report) = bundle::write(
        &cfg,
        &[],
        &store,
        None,
        Precision::Int8,
        serde_json::Value::Null,
    );
    let ratio = bytes.len() as f64 / report.f32_bytes as f64;
    println!(
        "ViT-B/32: fp32 {} MB, int8 bundle {} MB ({ratio:.3})",
        report.f32_bytes >> 20,
        bytes.len() >> 20
    );
    assert!(
        (0.24..0.27).contains(&ratio),
        "ViT-B/32 bundle is {ratio:.3} of fp32"
    );
}

fn expect_err(bytes: &[u8]) -> ModelError {
    match Clip::<B>::from_bundle(bytes, &device()) {
        Ok(_) => panic!("a bad bundle loaded"),
        Err(e) => e,
    }
}

#[test]
fn truncated_bundles_say_so() {
    let (bytes, _) = write("hf_vit", Precision::Int8);
    for cut in [10, 20, 100, bytes.len() / 2, bytes.len() - 1] {
        let err = expect_err(&bytes[..cut]);
        assert!(
            matches!(err, ModelError::Truncated { .. }),
            "cut at {cut}: expected a truncation error, got {err}"
        );
        assert!(err.to_string().contains("truncated"), "{err}");
    }
    assert!(matches!(expect_err(&bytes[..4]), ModelError::BadMagic));
}

#[test]
fn wrong_magic_version_and_flipped_bytes_are_reported() {
    let (bytes, _) = write("hf_vit", Precision::Int8);
    let mut wrong = bytes.clone();
    wrong[0] = b'X';
    assert!(matches!(expect_err(&wrong), ModelError::BadMagic));
    assert!(
        expect_err(b"<!DOCTYPE html><html>not found</html>")
            .to_string()
            .contains("magic")
    );

    let mut newer = bytes.clone();
    newer[8..12].copy_from_slice(&99u32.to_le_bytes());
    let err = expect_err(&newer);
    assert!(
        matches!(err, ModelError::UnsupportedVersion { found: 99, .. }),
        "{err}"
    );

    let mut flipped = bytes.clone();
    let at = bytes.len() - 1000;
    flipped[at] ^= 0x40;
    let err = expect_err(&flipped);
    assert!(matches!(err, ModelError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("corrupt"));
}

#[test]
fn mismatched_shapes_name_the_tensor() {
    let (config, mut store) = canonical_fixture("hf_vit");
    let name = "vision_model.encoder.layers.1.mlp.fc1.weight";
    let t = store.take_any(name).unwrap();
    store.insert(
        name,
        modalscope_model::HostTensor::new(
            vec![t.shape[0] - 1, t.shape[1]],
            t.data[t.shape[1]..].to_vec(),
        ),
    );
    let safetensors = store.to_safetensors();
    let err =
        Clip::<B>::from_safetensors(&safetensors, Some(config.clone()), &device()).unwrap_err();
    match &err {
        ModelError::ShapeMismatch {
            name: n,
            expected,
            found,
        } => {
            assert_eq!(n, name);
            assert_eq!(expected, &vec![t.shape[0], t.shape[1]]);
            assert_eq!(found, &vec![t.shape[0] - 1, t.shape[1]]);
        }
        other => panic!("expected a shape mismatch, got {other}"),
    }
    assert!(err.to_string().contains(name));

    // The same file inside a bundle fails the same way.
    let (bytes, _) = bundle::write(
        &config,
        &[],
        &store,
        None,
        Precision::Int8,
        serde_json::Value::Null,
    );
    assert!(matches!(
        expect_err(&bytes),
        ModelError::ShapeMismatch { .. }
    ));

    // A ViT checkpoint under a ResNet config misses the ResNet's tensors.
    let (_, store) = canonical_fixture("hf_vit");
    let err = Clip::<B>::from_store(&fixture_config("openai_rn"), store, &device()).unwrap_err();
    assert!(
        matches!(err, ModelError::MissingTensor(ref n) if n.starts_with("visual.")),
        "{err}"
    );
}

#[test]
fn bad_safetensors_bytes_are_reported() {
    let bytes = std::fs::read(fixture("hf_vit/model.safetensors")).unwrap();
    let config = Some(fixture_config("hf_vit"));
    for bad in [
        &bytes[..bytes.len() / 2],
        &bytes[..7],
        b"garbage that is not a model".as_slice(),
    ] {
        let err = Clip::<B>::from_bytes(bad, config.clone(), &device()).unwrap_err();
        assert!(matches!(err, ModelError::Safetensors(_)), "{err}");
    }
    // A valid safetensors file that is not a CLIP.
    let mut other = WeightStore::new();
    other.insert(
        "encoder.weight",
        modalscope_model::HostTensor::new(vec![2, 2], vec![0.0; 4]),
    );
    let err = Clip::<B>::from_bytes(&other.to_safetensors(), None, &device()).unwrap_err();
    assert!(matches!(err, ModelError::UnknownArchitecture(_)), "{err}");
}
