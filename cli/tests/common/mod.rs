//! Running the `kyc` binary from the CLI tests.

use std::process::Command;

/// Writes `content` to a fresh temporary file and runs `kyc inspect PROVIDER FILE`:
/// (success, stdout, stderr).
pub fn inspect(provider: &str, tag: &str, content: &str) -> (bool, String, String) {
    let dir = std::env::temp_dir().join(format!(
        "kyc-inspect-{provider}-{}-{tag}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("input.json");
    std::fs::write(&file, content).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kyc"))
        .args(["inspect", provider])
        .arg(&file)
        .output()
        .map(kyc_test_log::shown)
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}
