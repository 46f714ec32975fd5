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

/// The built-in image tower's layers of neurons in forward order: a ViT's MLPs or a ResNet's
/// blocks, so that the tests hold for whichever tower is shipped.
#[allow(dead_code)]
pub fn builtin_neuron_layers() -> Vec<String> {
    builtin_study().mlp_layers()
}

/// The built-in image tower's last layer before its pooling, which its projection reads.
#[allow(dead_code)]
pub fn builtin_pooled_layer() -> String {
    builtin_study().pooled_layer()
}

/// How many units a layer of the built-in model has.
#[allow(dead_code)]
pub fn builtin_units(layer: &str) -> usize {
    builtin_study()
        .clip
        .layer_units(layer)
        .expect("a layer of the built-in model")
}

#[allow(dead_code)]
fn builtin_study() -> modalscope_cli::study::Study {
    let bytes = std::fs::read(builtin()).expect("the built-in bundle");
    modalscope_cli::study::Study::from_bytes(&bytes).expect("the built-in bundle loads")
}
