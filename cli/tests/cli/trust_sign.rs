//! `kyc inspect archive`: summary, verdicts and manifest of a local archive as JSON, personal
//! data redacted; a bad archive is a clear error and a non-zero exit.

use std::process::Command;
use trust_sign_gen::{archive_bytes, Kind};

use crate::common;

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
    // The face match failed, then an operator reviewed it; the report does not say how (the
    // reference names no acceptance field): a person decides.
    assert!(out.contains("reviewed_outcome_unknown"), "{out}");
    // And the state change recording it would make.
    assert_eq!(v["stateChange"]["status"], "ACCEPTED", "{v}");
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

/// `kyc trust-sign inspect FILE ARGS...`: (exit ok, stdout as JSON or null, stderr).
fn trust_sign_inspect(kind: Kind, args: &[&str]) -> (bool, serde_json::Value, String) {
    let file = std::env::temp_dir().join(format!(
        "kyc-trust-sign-inspect-{}-{}-{}.zip",
        std::process::id(),
        kind.name(),
        args.len()
    ));
    std::fs::write(&file, archive_bytes(kind)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kyc"))
        .args(["trust-sign", "inspect"])
        .arg(&file)
        .args(args)
        .env_remove("REVIEW_OUTCOME")
        .env_remove("REPORT_TIME_ZONE")
        .env_remove("LINK_KEY")
        .output()
        .map(kyc_test_log::shown)
        .unwrap();
    let _ = std::fs::remove_file(&file);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.success(),
        v,
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Issue 23: each generated case shows its verdict, and the state change the archive would
/// make (stream, status, provider time, final or not, flags).
#[test]
fn inspect_shows_each_verdict_case_and_the_state_change_it_would_make() {
    use serde_json::json;
    let stream = format!("clientFile#{}", trust_sign_gen::scenarios::CLIENT_FILE_UUID);

    let (ok, v, err) = trust_sign_inspect(Kind::FraudMarked, &[]);
    assert!(ok, "{err}");
    let card = &v["summary"]["participants"][0]["identity_checks"][0];
    assert_eq!(
        (&card["validation"], &card["outcome"], &card["reason"]),
        (&json!("VALIDATED"), &json!("failed"), &json!("fraudMarked")),
        "{v}"
    );
    assert_eq!(v["summary"]["fraudMarked"], true);
    let change = &v["stateChange"];
    assert_eq!(change["customer"], trust_sign_gen::scenarios::EXTERNAL_ID);
    assert_eq!(change["stream"], stream.as_str());
    assert_eq!(change["status"], "ACCEPTED");
    assert_eq!(change["providerTime"], "2024-06-18T08:00:05Z");
    assert_eq!(change["final"], false);
    assert_eq!(
        change["flags"],
        json!([
            "fraudMarked",
            format!(
                "fraudMarkedParticipant:{}",
                trust_sign_gen::scenarios::CORINNE
            )
        ])
    );

    let (ok, v, err) = trust_sign_inspect(Kind::FraudUnlinked, &[]);
    assert!(ok, "{err}");
    assert_eq!(v["summary"]["fraudMarked"], true);
    assert_eq!(
        v["summary"]["unlinkedFraudMarks"][0]["task_id"], "9_9",
        "{v}"
    );
    assert_eq!(v["stateChange"]["flags"], json!(["fraudMarked"]));

    let (ok, v, err) = trust_sign_inspect(
        Kind::ReviewOtherParticipant,
        &["--review-outcome", "event-state"],
    );
    assert!(ok, "{err}");
    let participants = &v["summary"]["participants"];
    assert_eq!(
        participants[0]["identity_checks"][0]["outcome"], "failed",
        "{v}"
    );
    assert_eq!(
        participants[1]["identity_checks"][0]["review"]["linked_by"],
        "taskId"
    );
    assert_eq!(v["summary"]["unlinkedReviews"].as_array().unwrap().len(), 1);
    assert_eq!(v["stateChange"]["status"], "PENDING");

    let field = "field:reviewState=ACCEPTED/REJECTED";
    for (args, outcome, flags) in [
        (
            &[][..],
            "reviewed_outcome_unknown",
            json!(["reviewedOutcomeUnknown"]),
        ),
        (&["--review-outcome", field][..], "overturned", json!([])),
    ] {
        let (ok, v, err) = trust_sign_inspect(Kind::ReviewOutcomeField, args);
        assert!(ok, "{err}");
        let fm = &v["summary"]["participants"][0]["identity_checks"][1];
        assert_eq!(fm["outcome"], outcome, "{args:?}: {v}");
        assert_eq!(fm["review"]["other_fields"]["reviewState"], "ACCEPTED");
        assert_eq!(v["stateChange"]["flags"], flags, "{args:?}");
    }

    let (ok, v, err) = trust_sign_inspect(Kind::NotValidatedFailures, &[]);
    assert!(ok, "{err}");
    let payslip = &v["summary"]["participants"][1]["documents"][0];
    assert_eq!(payslip["outcome"], "not_evaluated");
    assert_eq!(
        payslip["unconfirmed_failures"][0], "document/maxAgeExceeded",
        "{v}"
    );
    assert_eq!(v["stateChange"]["flags"], json!(["unconfirmedFailures"]));

    // The report date has a basic offset; startDate none (read in the zone, flagged).
    for zone in ["Europe/Paris", "UTC"] {
        let (ok, v, err) = trust_sign_inspect(Kind::IsoDates, &["--time-zone", zone]);
        assert!(ok, "{err}");
        assert_eq!(
            v["stateChange"]["providerTime"], "2024-06-18T08:00:05Z",
            "{v}"
        );
        assert_eq!(
            v["summary"]["zonelessDates"],
            json!(["clientFile.startDate"])
        );
        assert_eq!(v["summary"]["timeZone"], zone);
    }

    // Another link key naming nothing: no state change, and why.
    let (ok, v, err) = trust_sign_inspect(Kind::Payslip, &["--link-key", "externalInfo.crm"]);
    assert!(ok, "{err}");
    assert_eq!(
        v["noStateChange"],
        "the report names no customer (externalInfo.crm)"
    );
    assert!(v.get("stateChange").is_none());

    // A bad setting is refused, naming the option, not the value.
    let (ok, _, err) = trust_sign_inspect(Kind::Payslip, &["--review-outcome", "status-ok"]);
    assert!(!ok);
    assert!(
        err.contains("--review-outcome") && !err.contains("status-ok"),
        "{err}"
    );

    // A huge non-V6 version: a short, clear error.
    let (ok, _, err) = trust_sign_inspect(Kind::VersionHuge, &[]);
    assert!(!ok);
    assert!(
        err.contains("bad archive (report_not_v6)") && err.len() < 400,
        "{err}"
    );
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
        // Opening personal data needs a reason code, and is recorded first.
        let refused = common::kyc_local(
            &moto.endpoint,
            &[command, "cust-reveal", "--reveal"],
            &[("TABLE_NAME", TABLE)],
        );
        assert_eq!(refused.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&refused.stderr).contains("--reveal needs --reason"));
        let revealed = run(&[
            command,
            "cust-reveal",
            "--reveal",
            "--reason",
            "DSAR-2026-31",
        ]);
        assert!(
            revealed.contains("\"key\": \"incoming/dossier jean_dupont.zip\""),
            "{revealed}"
        );
    }
    // Who looked: both reveals in the customer's history, with the caller's identity.
    let history: serde_json::Value = serde_json::from_str(
        run(&["history", "cust-reveal"])
            .split_once("\n}\n")
            .map(|(json, _)| format!("{json}\n}}"))
            .unwrap()
            .as_str(),
    )
    .unwrap();
    let looked: Vec<(&str, &str)> = history["bank"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "personalDataRevealed")
        .map(|a| {
            (
                a["reason"].as_str().unwrap(),
                a["detail"]["command"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        looked,
        [("DSAR-2026-31", "status"), ("DSAR-2026-31", "history")]
    );
    assert!(history["bank"][0]["operator"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:"));
}
