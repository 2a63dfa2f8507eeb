//! Running the `kyc` binary from the CLI tests.

// Each test file uses some of these helpers.
#![allow(dead_code)]

use std::process::{Command, Output};

/// `kyc ARGS` against a local AWS endpoint (moto), test credentials, never instance metadata;
/// `env` adds the command's own settings (TABLE_NAME...).
pub fn kyc_local(endpoint: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kyc"))
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "eu-west-3")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .output()
        .map(kyc_test_log::shown)
        .unwrap()
}

/// [`kyc_local`] read as text: (exit code, stdout, stderr).
pub fn kyc_text(
    endpoint: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let out = kyc_local(endpoint, args, env);
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Writes `content` to a fresh temporary file and runs `kyc inspect PROVIDER FILE`:
/// (success, stdout, stderr).
pub fn inspect(provider: &str, tag: &str, content: &str) -> (bool, String, String) {
    // Removed when dropped, even if the test fails.
    let dir = tempfile::Builder::new()
        .prefix(&format!("kyc-inspect-{provider}-{tag}-"))
        .tempdir()
        .unwrap();
    let file = dir.path().join("input.json");
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
