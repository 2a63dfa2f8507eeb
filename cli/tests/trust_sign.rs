//! `kyc inspect archive`: summary, verdicts and manifest of a local archive as JSON, personal
//! data redacted; a bad archive is a clear error and a non-zero exit.

use std::process::Command;
use trust_sign_gen::{archive_bytes, Kind};

fn inspect(kind: Kind) -> (bool, String, String) {
    let file = std::env::temp_dir().join(format!(
        "kyc-inspect-archive-{}-{}.zip",
        std::process::id(),
        kind.name()
    ));
    std::fs::write(&file, archive_bytes(kind)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kyc"))
        .args(["inspect", "archive"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn a_valid_archive_prints_summary_verdicts_and_manifest() {
    let (ok, out, err) = inspect(Kind::FaceMatchOverturned);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["summary"]["clientFileUuid"].is_string(), "{v}");
    assert!(v["summary"]["participants"]
        .as_array()
        .is_some_and(|p| !p.is_empty()));
    assert!(v["manifest"]["missing"].is_array());
    assert!(
        v["stats"]["bytes_read"].as_u64().unwrap() > 0
            || v["stats"]["bytesRead"].as_u64().unwrap() > 0
    );
    // The overturned face match explains itself.
    assert!(out.contains("overturned"), "{out}");
    // Entry names carry the customer's name: redacted.
    assert!(!out.to_lowercase().contains("john_doe"), "{out}");
}

#[test]
fn a_manifest_mismatch_is_reported_not_fatal() {
    let (ok, out, err) = inspect(Kind::ManifestMismatch);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["manifest"]["missing"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        v["manifest"]["unexpected"].as_array().unwrap().len(),
        1,
        "{v}"
    );
}

#[test]
fn bad_archives_are_clear_errors_with_a_non_zero_exit() {
    for (kind, code) in [
        (Kind::NotZip, "not_zip"),
        (Kind::ZipBombLying, "size_limit_exceeded"),
        (Kind::DotDotName, "unsafe_entry_name"),
    ] {
        let (ok, out, err) = inspect(kind);
        assert!(!ok, "{kind:?}: {out}");
        assert!(out.is_empty());
        assert!(err.contains(&format!("bad archive ({code})")), "{err}");
        assert!(!err.contains("cron"), "{err}");
    }
}
