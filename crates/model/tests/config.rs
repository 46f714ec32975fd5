//! Architecture presets, config parsing and inference from tensor shapes.

use modalscope_model::{
    ClipConfig, HostTensor, VisionConfig, WeightStore, canonical_shapes, infer_config,
};

/// A store holding the right shapes and no values (inference reads shapes only).
fn shapes_only(cfg: &ClipConfig) -> WeightStore {
    let mut store = WeightStore::new();
    for (name, shape) in canonical_shapes(cfg) {
        store.insert(
            name,
            HostTensor {
                shape,
                data: Vec::new(),
            },
        );
    }
    store
}

#[test]
fn presets_are_recognised_from_their_shapes() {
    for preset in [
        ClipConfig::vit_b32(),
        ClipConfig::vit_b16(),
        ClipConfig::rn50(),
        ClipConfig::rn50x4(),
    ] {
        let inferred = infer_config(&shapes_only(&preset)).unwrap();
        assert_eq!(inferred, preset, "{}", preset.name);
        preset.validate().unwrap();
    }
}

#[test]
fn rn50x4_has_the_studys_2560_neuron_last_block() {
    let cfg = ClipConfig::rn50x4();
    let VisionConfig::Resnet(r) = &cfg.vision else {
        panic!("RN50x4 is a ResNet")
    };
    assert_eq!(r.embed_dim(), 2560);
    assert_eq!(r.layers, [4, 6, 10, 6]);
    let shapes = canonical_shapes(&cfg);
    let last = shapes
        .iter()
        .find(|(n, _)| n == "visual.layer4.5.conv3.weight")
        .unwrap();
    assert_eq!(last.1[0], 2560);
    let params: usize = shapes
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    // OpenAI's RN50x4 has about 178M parameters.
    assert!((170_000_000..185_000_000).contains(&params), "{params}");
}

#[test]
fn vit_b32_parameter_count_matches_openai() {
    let params: usize = canonical_shapes(&ClipConfig::vit_b32())
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    // openai/clip-vit-base-patch32 has 151,277,313 parameters.
    assert_eq!(params, 151_277_313);
}

#[test]
fn config_files_with_errors_are_reported() {
    assert!(
        ClipConfig::from_hf_json("x", "{")
            .unwrap_err()
            .to_string()
            .contains("config.json")
    );
    assert!(
        ClipConfig::from_hf_json("x", "{}")
            .unwrap_err()
            .to_string()
            .contains("vision_config")
    );
    let bad_patch = r#"{"embed_dim": 8, "vision_cfg": {"width": 64, "layers": 2, "patch_size": 7, "image_size": 32}, "text_cfg": {}}"#;
    let cfg = ClipConfig::from_open_clip_json("x", bad_patch).unwrap();
    assert!(
        cfg.validate()
            .unwrap_err()
            .to_string()
            .contains("patch size")
    );
}
