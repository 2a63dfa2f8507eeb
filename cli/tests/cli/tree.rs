//! The command tree `kyc <provider> <verb>`, the older forms operators' scripts call (same
//! output), and the exit codes: 1 bad input, 2 usage, 3 transient AWS failure.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use trust_sign_gen::{archive_bytes, Kind};

use crate::common;

fn events(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name)
        .display()
        .to_string()
}

/// Offline runs: no AWS settings are needed, and none may be reached.
fn kyc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kyc"))
        .args(args)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .map(kyc_test_log::shown)
        .unwrap()
}

fn same_report(new: &[&str], alias: &[&str]) {
    let (a, b) = (kyc(new), kyc(alias));
    assert!(
        a.status.success(),
        "{new:?}: {}",
        String::from_utf8_lossy(&a.stderr)
    );
    assert_eq!(a.status.code(), b.status.code(), "{alias:?}");
    assert!(!a.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&b.stdout),
        "{new:?} vs {alias:?}"
    );
}

#[test]
fn kyc_inspect_xpollens_is_an_alias_of_kyc_xpollens_inspect() {
    let file = events("xpollens-04-v2-complete.json");
    same_report(
        &["xpollens", "inspect", &file],
        &["inspect", "xpollens", &file],
    );
}

#[test]
fn kyc_replay_xpollens_is_an_alias_of_kyc_xpollens_replay() {
    let (a, b) = (
        events("xpollens-04-v2-complete.json"),
        events("xpollens-queue-page.json"),
    );
    same_report(
        &["xpollens", "replay", &a, &b],
        &["replay", "xpollens", &a, &b],
    );
}

#[test]
fn kyc_inspect_gopay_is_an_alias_of_kyc_gopay_inspect() {
    let file = events("gopay-identification-status.json");
    same_report(&["gopay", "inspect", &file], &["inspect", "gopay", &file]);
}

#[test]
fn kyc_inspect_archive_is_an_alias_of_kyc_trust_sign_inspect() {
    let file = std::env::temp_dir().join(format!("kyc-tree-{}.zip", std::process::id()));
    std::fs::write(&file, archive_bytes(Kind::IdCard)).unwrap();
    let file_name = file.display().to_string();
    same_report(
        &["trust-sign", "inspect", &file_name],
        &["inspect", "archive", &file_name],
    );
    same_report(
        &["trust-sign", "inspect", &file_name],
        &["inspect", "trust-sign", &file_name],
    );
    let _ = std::fs::remove_file(&file);
}

#[test]
fn kyc_reprocess_is_an_alias_of_kyc_trust_sign_reprocess() {
    // A URL that is not s3://: refused before any AWS call, by both forms alike.
    for args in [
        &["trust-sign", "reprocess", "https://bucket/x"][..],
        &["reprocess", "https://bucket/x"][..],
    ] {
        let out = kyc(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("not an s3://BUCKET/PREFIX URL"));
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn bad_input_exits_1_with_the_reason_on_stderr() {
    let missing = kyc(&["xpollens", "inspect", "/nonexistent/callback.json"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
    let not_a_callback = kyc(&[
        "xpollens",
        "inspect",
        &events("xpollens-bad-missing-subject.json"),
    ]);
    assert_eq!(not_a_callback.status.code(), Some(1));
    assert!(not_a_callback.stdout.is_empty());
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["xpollens"][..],
        &["frobnicate"][..],
        &["gopay", "revoke"][..],
        &["status", "c-1", "--output", "yaml"][..],
    ] {
        assert_eq!(kyc(args).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn every_argument_has_help_with_an_example() {
    for args in [
        &["xpollens", "inspect", "--help"][..],
        &["xpollens", "replay", "--help"][..],
        &["trust-sign", "inspect", "--help"][..],
        &["trust-sign", "reprocess", "--help"][..],
        &["gopay", "inspect", "--help"][..],
        &["gopay", "revoke", "--help"][..],
        &["status", "--help"][..],
        &["publish", "--help"][..],
        &["keys", "check", "--help"][..],
    ] {
        let out = kyc(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("e.g."), "{args:?}: {help}");
    }
}

#[test]
fn an_unreachable_table_is_transient_and_exits_3() {
    // A loopback port with nothing listening: every AWS call fails to connect.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for verb in ["status", "history"] {
        let out = common::kyc_local(
            &format!("http://127.0.0.1:{port}"),
            &[verb, "c-1", "--output", "table"],
            &[("AWS_MAX_ATTEMPTS", "1")],
        );
        assert_eq!(
            out.status.code(),
            Some(3),
            "{verb}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }
}
