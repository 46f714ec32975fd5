//! What the CLI test files share.

use std::process::Command;

/// Runs the `modalscope` binary: whether it succeeded, its stdout and its stderr.
pub fn modalscope(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_modalscope"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The shipped built-in model's bundle.
#[allow(dead_code)]
pub fn builtin() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/builtin.msb").to_string()
}

/// The shipped built-in model with the concepts and image sets the analyses use. Tests ask
/// it for its layers (`clip.neuron_layers()`, `clip.pooled_layer()`) instead of naming a
/// ViT's, so that they hold for whichever tower is shipped.
#[allow(dead_code)]
pub fn builtin_study() -> modalscope_cli::study::Study {
    let bytes = std::fs::read(builtin()).expect("the built-in bundle");
    modalscope_cli::study::Study::from_bytes(&bytes).expect("the built-in bundle loads")
}
