//! `kyc inspect archive`: summary, verdicts and manifest of a local archive as JSON, personal
//! data redacted; a bad archive is a clear error and a non-zero exit.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
kyc_test_log::install!();

use std::process::Command;
use trust_sign_gen::{archive_bytes, Kind};

mod common;

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
        .map(kyc_test_log::shown)
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

/// `kyc reprocess` against a moto server: every current archive version under the prefix,
/// then a second run finds them all recorded.
#[test]
fn reprocess_runs_every_archive_under_a_prefix_and_counts_outcomes() {
    use kyc_integration_tests::trust_sign::{create_bucket, put, s3, BUCKET};
    use kyc_integration_tests::{provision, Moto, TABLE, TRUST_SIGN_PAYLOAD_KEY_SECRET};
    let moto = Moto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (outside, bad) = rt.block_on(async {
        let config = moto.sdk_config().await;
        provision(&config, TABLE).await;
        let s3 = s3(&config);
        create_bucket(&s3, BUCKET, true).await;
        let full = archive_bytes(Kind::Full);
        put(&s3, BUCKET, "incoming/a.zip", full.clone()).await;
        put(&s3, BUCKET, "incoming/b c.zip", archive_bytes(Kind::Rib)).await;
        let bad = put(&s3, BUCKET, "incoming/bad.zip", archive_bytes(Kind::NotZip)).await;
        put(
            &s3,
            BUCKET,
            "incoming/readme.txt",
            b"not an archive".to_vec(),
        )
        .await;
        (put(&s3, BUCKET, "elsewhere/x.zip", full).await, bad)
    });
    let run = |extra: &[&str]| {
        let url = format!("s3://{BUCKET}/incoming/");
        let mut args = vec!["reprocess", url.as_str(), "--quiet"];
        args.extend_from_slice(extra);
        let out = common::kyc_local(
            &moto.endpoint,
            &args,
            &[
                ("TABLE_NAME", TABLE),
                (
                    "TRUST_SIGN_PAYLOAD_KEY_SECRET",
                    TRUST_SIGN_PAYLOAD_KEY_SECRET,
                ),
            ],
        );
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(out.status.success(), "{stderr}");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    // Issue 21: a failure record names a version, not a key: `--version-id` re-runs just it
    // (here an object outside the prefix: nothing under the prefix has that version).
    let only = run(&["--version-id", outside.version_id.as_deref().unwrap()]);
    assert_eq!(only["archives"], 0, "{only}");
    let first = run(&[]);
    assert_eq!(first["archives"], 3, "{first}");
    assert_eq!(first["skippedObjects"], 1, "{first}");
    // Both valid archives name the same client file and report date: the second is recorded
    // but does not move the state.
    assert_eq!(first["counts"]["applied"], 1, "{first}");
    assert_eq!(first["counts"]["notApplied"], 1, "{first}");
    assert_eq!(first["counts"]["quarantined:not_zip"], 1, "{first}");
    let second = run(&[]);
    assert_eq!(second["counts"]["duplicate"], 3, "{second}");
    let one = run(&["--version-id", bad.version_id.as_deref().unwrap()]);
    assert_eq!(one["archives"], 1, "{one}");
    assert_eq!(one["counts"]["duplicate"], 1, "{one}");
}

/// `kyc status` and `kyc history` never print an archive key (it names the customer) unless
/// the operator asks with `--reveal`.
#[test]
fn status_and_history_show_archive_keys_only_with_reveal() {
    use kyc_integration_tests::trust_sign::{
        archive_settings, create_bucket, event, put, record_json, s3, BUCKET,
    };
    use kyc_integration_tests::{provision, Moto, TABLE, TRUST_SIGN_PAYLOAD_KEY_SECRET};
    let moto = Moto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = moto.sdk_config().await;
        provision(&config, TABLE).await;
        let s3 = s3(&config);
        create_bucket(&s3, BUCKET, true).await;
        let mut bytes = Vec::new();
        let opts = trust_sign_gen::ArchiveOptions {
            report_patch: Some(serde_json::json!({"clientFile": {"externalId": "cust-reveal"}})),
            ..Default::default()
        };
        trust_sign_gen::write_archive(Kind::Full, &opts, &mut bytes).unwrap();
        let up = put(&s3, BUCKET, "incoming/dossier jean_dupont.zip", bytes).await;
        let processor = kyc_trust_sign::aws::build_processor(archive_settings(TABLE), &config);
        processor
            .handle(&event(vec![record_json(BUCKET, &up)]))
            .await
            .unwrap();
    });
    let run = |args: &[&str]| {
        let out = common::kyc_local(
            &moto.endpoint,
            args,
            &[
                ("TABLE_NAME", TABLE),
                (
                    "TRUST_SIGN_PAYLOAD_KEY_SECRET",
                    TRUST_SIGN_PAYLOAD_KEY_SECRET,
                ),
            ],
        );
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(out.status.success(), "{stderr}");
        String::from_utf8(out.stdout).unwrap() + &stderr
    };
    for command in ["status", "history"] {
        let plain = run(&[command, "cust-reveal"]);
        assert!(plain.contains("sealedKey"), "{plain}");
        assert!(!plain.contains("jean_dupont"), "{plain}");
        let revealed = run(&[command, "cust-reveal", "--reveal"]);
        assert!(
            revealed.contains("\"key\": \"incoming/dossier jean_dupont.zip\""),
            "{revealed}"
        );
    }
}
