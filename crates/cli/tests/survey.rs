//! `modalscope examples` and `modalscope atlas` on the built-in model and its generated set:
//! the export reads back, and bad inputs get clear messages.

mod common;

use common::{builtin, builtin_study, modalscope};
use modalscope_survey::import;

/// The image tower's last layer of neurons, the one the page's analyses default to.
fn last_neurons() -> String {
    builtin_study()
        .clip
        .neuron_layers()
        .pop()
        .expect("an image tower with neurons")
}

fn out_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("modalscope-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn examples_and_atlas_export_what_the_page_imports() {
    let dir = out_dir("atlas");
    let d = dir.to_str().unwrap();
    let layer = last_neurons();
    let (ok, stdout, stderr) = modalscope(&[
        "atlas",
        "--model",
        &builtin(),
        "--layer",
        &layer,
        "--generated",
        "60",
        "--samples",
        "800",
        "--levels",
        "3",
        "--steps",
        "8",
        "--examples",
        "-o",
        d,
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("level 0: 3x3 grid"), "{stdout}");
    assert!(stderr.contains("pass: 60 images"), "{stderr}");
    let back = import(|p: &str| std::fs::read(dir.join(p)).ok()).unwrap();
    assert_eq!(back.manifest.atlas_layer.as_deref(), Some(layer.as_str()));
    let atlas = back.atlas.unwrap();
    assert!(!atlas.levels[0].cells.is_empty());
    let ex = back.examples.unwrap();
    assert_eq!(ex.images_seen, 60);
    assert!(ex.layers[0].units.iter().all(|u| u.len() == 8));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_image_sets_and_layers_are_refused_with_a_reason() {
    let dir = out_dir("bad");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "not an image").unwrap();
    std::fs::write(dir.join("cut.png"), [0x89, b'P', b'N', b'G', 0x0d, 0x0a]).unwrap();
    let out = dir.join("out");
    let layer = last_neurons();
    let (ok, _, stderr) = modalscope(&[
        "examples",
        "--model",
        &builtin(),
        "--layers",
        &layer,
        "--images",
        dir.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("the image set has no images (2 files were skipped")
            && stderr.contains("notes.txt: not an image"),
        "{stderr}"
    );
    let (ok, _, stderr) = modalscope(&[
        "examples",
        "--model",
        &builtin(),
        "--layers",
        "text.blocks.0.mlp",
        "--generated",
        "4",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(stderr.contains("not in the image tower"), "{stderr}");
    let (ok, _, stderr) = modalscope(&[
        "atlas",
        "--model",
        &builtin(),
        "--layer",
        &layer,
        "--images",
        "/definitely/not/here",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("cannot read /definitely/not/here"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
