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
