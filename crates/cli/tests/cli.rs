//! The command line converts fixture checkpoints into bundles that load and reports errors.

use std::path::PathBuf;
mod common;
use common::modalscope;

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures")).join(path)
}

#[test]
fn converts_a_hugging_face_folder_and_inspects_the_bundle() {
    let dir = std::env::temp_dir().join(format!("modalscope-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A Hugging Face-style folder: weights, config and tokenizer side by side.
    for f in [
        "hf_vit/model.safetensors",
        "hf_vit/config.json",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
    ] {
        let src = fixture(f);
        std::fs::copy(&src, dir.join(src.file_name().unwrap())).unwrap();
    }
    let out = dir.join("tiny.msb");
    let (ok, stdout, stderr) = modalscope(&[
        "convert",
        dir.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("bundle size"), "{stdout}");
    assert!(stdout.contains("tokenizer    included"), "{stdout}");
    let cosine: f32 = stdout
        .lines()
        .find_map(|l| l.split("min ").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .expect("a cosine line");
    assert!(cosine > 0.99, "{stdout}");

    let (ok, stdout, stderr) = modalscope(&["inspect", out.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("vision.blocks.1.mlp"), "{stdout}");
    assert!(stdout.contains("text.embeds"), "{stdout}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn converts_an_openai_resnet_with_its_open_clip_config() {
    let out = std::env::temp_dir().join(format!("modalscope-rn-{}.msb", std::process::id()));
    let (ok, stdout, stderr) = modalscope(&[
        "convert",
        fixture("openai_rn/model.safetensors").to_str().unwrap(),
        "--config",
        fixture("openai_rn/open_clip_config.json").to_str().unwrap(),
        "--name",
        "tiny-rn",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("tiny-rn (OpenAi naming)"), "{stdout}");
    let (ok, stdout, _) = modalscope(&["inspect", out.to_str().unwrap()]);
    assert!(ok);
    assert!(stdout.contains("vision.layer4.0"), "{stdout}");
    std::fs::remove_file(&out).ok();
}

#[test]
fn bad_inputs_give_messages_not_panics() {
    let missing = modalscope(&["inspect", "/nonexistent/model.msb"]);
    assert!(
        !missing.0 && missing.2.contains("cannot read"),
        "{}",
        missing.2
    );

    let garbage = std::env::temp_dir().join(format!("modalscope-garbage-{}", std::process::id()));
    std::fs::write(&garbage, b"MSCPBNDL\x01\x00\x00\x00").unwrap();
    let (ok, _, stderr) = modalscope(&["inspect", garbage.to_str().unwrap()]);
    assert!(!ok && stderr.contains("truncated"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Shapes alone cannot tell the tiny model's head count: the CLI says so.
    let (ok, _, stderr) = modalscope(&[
        "inspect",
        fixture("hf_vit/model.safetensors").to_str().unwrap(),
    ]);
    assert!(!ok && stderr.contains("head count"), "{stderr}");
    std::fs::remove_file(&garbage).ok();
}

#[test]
fn trains_a_tiny_model_in_shards_and_refuses_an_impossible_split() {
    let dir = std::env::temp_dir().join(format!("modalscope-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("tiny.msb");
    let (ok, stdout, stderr) = modalscope(&[
        "train",
        "--tiny",
        "--steps",
        "4",
        "--shards",
        "2",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("\"shards\":2"), "{stdout}");
    let (ok, stdout, stderr) = modalscope(&["inspect", out.to_str().unwrap()]);
    assert!(
        ok && stdout.contains("vision.blocks.1.mlp"),
        "{stdout}{stderr}"
    );

    let (ok, _, stderr) = modalscope(&[
        "train",
        "--tiny",
        "--shards",
        "0",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!ok && stderr.contains("shards"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A second stage starts from the first's bundle; a file that is not one, or a bundle of
    // another shape (the built-in model against the tiny recipe), is refused with a message.
    let second = dir.join("second.msb");
    let second_stage = |init: &str| {
        modalscope(&[
            "train",
            "--tiny",
            "--steps",
            "2",
            "--init",
            init,
            "-o",
            second.to_str().unwrap(),
        ])
    };
    let (ok, _, stderr) = second_stage(out.to_str().unwrap());
    assert!(ok && second.exists(), "{stderr}");
    // The built-in model's later stages need the stage before them.
    let (ok, _, stderr) = modalscope(&["train", "--stage", "aligned"]);
    assert!(!ok && stderr.contains("--init"), "{stderr}");
    let garbage = dir.join("garbage.msb");
    std::fs::write(&garbage, b"not a bundle").unwrap();
    let builtin = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/builtin.msb");
    for (init, says) in [
        (garbage.to_str().unwrap(), "is not a model bundle"),
        (builtin, "another shape"),
    ] {
        let (ok, _, stderr) = second_stage(init);
        assert!(!ok && stderr.contains(says), "{init}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
