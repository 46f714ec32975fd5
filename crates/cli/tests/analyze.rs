//! The analysis subcommands: clear errors for bad layers, units, concepts and files, and
//! tables or JSON on the built-in model.

use std::path::PathBuf;
mod common;
use common::modalscope;

fn builtin() -> String {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../web/builtin.msb"
    ))
    .to_string_lossy()
    .into_owned()
}

/// Runs a command that must fail, returning its message; it must not panic.
fn error_of(args: &[&str]) -> String {
    let (ok, _, stderr) = modalscope(args);
    assert!(!ok, "{args:?} succeeded");
    assert!(stderr.contains("error:"), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    stderr
}

#[test]
fn bad_requests_fail_with_a_message_not_a_panic() {
    let m = builtin();
    let e = error_of(&["neurons", "--model", &m, "--layer", "vision.blocks.99.mlp"]);
    assert!(e.contains("unknown layer `vision.blocks.99.mlp`"), "{e}");
    let e = error_of(&["neurons", "--model", &m, "--layer", "text.blocks.0.mlp"]);
    assert!(e.contains("text tower"), "{e}");
    let e = error_of(&[
        "families",
        "--model",
        &m,
        "--layer",
        "vision.blocks.0.mlp",
        "--k",
        "0",
    ]);
    assert!(e.contains("--k must be at least 1"), "{e}");
    let e = error_of(&[
        "lesion",
        "--model",
        &m,
        "--layer",
        "vision.blocks.0.mlp",
        "--units",
        "99999",
    ]);
    assert!(e.contains("unit 99999 does not exist"), "{e}");
    let e = error_of(&[
        "lesion",
        "--model",
        &m,
        "--layer",
        "vision.blocks.0.mlp",
        "--units",
        "1,x",
    ]);
    assert!(e.contains("invalid unit `x`"), "{e}");
    let e = error_of(&[
        "lesion",
        "--model",
        &m,
        "--layer",
        "vision.nope",
        "--units",
        "1",
    ]);
    assert!(e.contains("unknown layer"), "{e}");
    let e = error_of(&[
        "lesion",
        "--model",
        &m,
        "--layer",
        "vision.blocks.0.mlp",
        "--concept",
        "pizza",
    ]);
    assert!(e.contains("`pizza` is not a concept"), "{e}");
    let e = error_of(&["attack", "--model", &m, "--word", "pizza"]);
    assert!(e.contains("`pizza` is not a concept"), "{e}");
    let e = error_of(&["attack", "--model", &m, "--per-concept", "0"]);
    assert!(e.contains("at least 1"), "{e}");
    // Files: missing, not a bundle.
    let e = error_of(&["attack", "--model", "/nonexistent/model.msb"]);
    assert!(
        e.contains("cannot read the model `/nonexistent/model.msb`"),
        "{e}"
    );
    let not_a_bundle = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let e = error_of(&[
        "neurons",
        "--model",
        not_a_bundle,
        "--layer",
        "vision.blocks.0.mlp",
    ]);
    assert!(e.contains("not a modalscope bundle"), "{e}");
    // Neither --units nor --concept.
    let (ok, _, stderr) = modalscope(&["lesion", "--model", &m, "--layer", "vision.blocks.0.mlp"]);
    assert!(!ok && stderr.contains("--units"), "{stderr}");
}

#[test]
fn analyses_print_tables_and_json_on_the_builtin_model() {
    let m = builtin();
    let (ok, stdout, stderr) = modalscope(&[
        "neurons",
        "--model",
        &m,
        "--layer",
        "vision.blocks.1.mlp",
        "--top",
        "3",
        "--per-concept",
        "2",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let neurons = v["neurons"].as_array().unwrap();
    assert_eq!(neurons.len(), 3);
    assert_eq!(neurons[0]["modalities"].as_array().unwrap().len(), 2);
    assert!(neurons[0]["text_alignment"].is_number());
    assert_eq!(v["concepts"].as_array().unwrap().len(), 30);

    let (ok, stdout, stderr) = modalscope(&[
        "lesion",
        "--model",
        &m,
        "--layer",
        "vision.blocks.1.mlp",
        "--units",
        "0-3",
        "--mean",
        "--per-concept",
        "1",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("mean ablation of 4 unit(s) of vision.blocks.1.mlp: 0,1,2,3"),
        "{stdout}"
    );
    assert!(stdout.contains("reproduce: modalscope lesion"), "{stdout}");
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.contains("% ->") && !l.trim_start().starts_with("overall"))
            .count(),
        30,
        "{stdout}"
    );

    let (ok, stdout, stderr) = modalscope(&[
        "lesion",
        "--model",
        &m,
        "--layer",
        "vision.blocks.1.mlp",
        "--concept",
        "star",
        "--count",
        "2",
        "--per-concept",
        "1",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["target_concept"], "star");
    assert_eq!(
        v["report"]["lesions"][0]["units"].as_array().unwrap().len(),
        2
    );

    let (ok, stdout, stderr) = modalscope(&["attack", "--model", &m, "--per-concept", "1"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("predictions flipped to the written word"),
        "{stdout}"
    );

    let (ok, stdout, stderr) = modalscope(&[
        "families",
        "--model",
        &m,
        "--layer",
        "vision.blocks.1.mlp",
        "--k",
        "4",
        "--per-concept",
        "2",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("4 families"), "{stdout}");
}
