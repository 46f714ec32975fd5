//! Parity of the burn CLIP with the reference implementations (`transformers` for the
//! Hugging Face-named ViT, OpenCLIP for the OpenAI-named ViT and modified ResNet): every
//! embedding, logit and captured activation must match the fixture to 1e-4.

mod common;

use common::*;
use modalscope_model::Capture;

const TOL: f32 = 1e-4;

fn check_model(model: &str) {
    let clip = load_fixture_model(model);
    let reference = reference(model);
    let mut acts: Vec<String> = reference
        .names()
        .filter_map(|n| n.strip_prefix("act.").map(str::to_string))
        .collect();
    acts.sort();
    assert!(
        acts.len() >= 8,
        "{model}: the fixture should carry activations"
    );
    for name in &acts {
        clip.check_layer(name)
            .unwrap_or_else(|e| panic!("{model}: {e}"));
    }

    let mut cap = Capture::only(acts.iter().cloned());
    let image_embeds = clip
        .encode_image_with(pixels(&reference), &mut Capture::all())
        .unwrap();
    let _ = clip.encode_image_with(pixels(&reference), &mut cap);
    let text_embeds = clip
        .encode_text_with(&input_ids(&reference), &mut cap)
        .unwrap()
        .unwrap();

    let mut report = Vec::new();
    let mut check = |what: &str, shape: Vec<usize>, got: Vec<f32>| {
        let want = reference
            .get(what)
            .unwrap_or_else(|| panic!("{model}: no {what} in reference"));
        let d = max_diff(what, &shape, &got, &want.shape, &want.data);
        report.push(format!("{what}: {d:.2e}"));
        assert!(d < TOL, "{model}: {what} differs from the reference by {d}");
    };
    let (s, v) = host(image_embeds.clone());
    check("output.image_embeds", s, v);
    let (s, v) = host(text_embeds.clone());
    check("output.text_embeds", s, v);
    let (s, v) = host(clip.logits(image_embeds, text_embeds));
    check("output.logits_per_image", s, v);
    for name in &acts {
        let act = cap
            .get(name)
            .unwrap_or_else(|| panic!("{model}: layer {name} was not captured"));
        let (s, v) = act.to_host();
        check(&format!("act.{name}"), s, v);
    }
    println!("{model}: {}", report.join(", "));
}

#[test]
fn vit_hf_naming_parity_with_transformers() {
    check_model("hf_vit");
}

#[test]
fn vit_openai_naming_parity_with_transformers() {
    check_model("openai_vit");
}

#[test]
fn resnet_openai_naming_parity_with_transformers() {
    check_model("openai_rn");
}

#[test]
fn shape_inference_refuses_non_standard_head_widths() {
    // The HF fixture has 12-wide heads, so inference (64-wide heads) must refuse rather than
    // guess; with a config, the same bytes load.
    let bytes = std::fs::read(fixture("hf_vit/model.safetensors")).unwrap();
    let err = modalscope_model::Clip::<B>::from_safetensors(&bytes, None, &device()).unwrap_err();
    assert!(err.to_string().contains("head count"), "{err}");
}
