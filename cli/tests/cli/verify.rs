//! `kyc verify` against moto: clean after the seal, exit 1 naming the hour and the entry's keys
//! (never its content) once an entry was changed.

use kyc_aws::aws_sdk_dynamodb::types::AttributeValue as Av;
use kyc_aws::aws_sdk_dynamodb::Client;
use kyc_aws::DynamoStore;
use kyc_core::chrono::Duration;
use kyc_core::intake::EventStore;
use kyc_evidence::aws::{lock_mode, DynamoHistory, S3Digests};
use kyc_evidence::seal::{run, SealSettings};
use kyc_integration_tests::downstream::state_plan;
use kyc_integration_tests::{provision, Moto, TABLE};
use serde_json::Value;

use crate::common;

const BUCKET: &str = "kyc-hooks-evidence-cli";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_is_clean_after_the_seal_and_names_a_changed_entry() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let s3 = kyc_aws::s3_client(&config);
    kyc_integration_tests::create_locked_bucket(&s3, BUCKET).await;
    let store = DynamoStore::new(&config, TABLE);
    // Entries recorded now (the plans' received time is the test day's; the seal reads the
    // hour index of whatever time they carry).
    let mut times = Vec::new();
    for (c, e) in [("vera", "v1"), ("vera", "v2"), ("walt", "w1")] {
        let plan = state_plan(c, e, "Pending", false, 1);
        times.push(plan.event.received_at);
        store.record(&plan).await.unwrap();
    }
    let client = Client::new(&config);
    let history = DynamoHistory::new(client.clone(), TABLE);
    let digests = S3Digests {
        client: s3.clone(),
        bucket: BUCKET.into(),
        lock_mode: lock_mode("GOVERNANCE").unwrap(),
        lock_days: 1,
    };
    let last = *times.iter().max().unwrap();
    run(
        &history,
        &digests,
        SealSettings::default(),
        last + Duration::hours(2),
    )
    .await
    .unwrap();
    let kyc = |args: &[&str]| kyc_evidence_cli(&moto, args);
    let (code, out, err) = kyc(&["verify", "vera"]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["tampering"], serde_json::json!([]));
    assert!(v["leavesChecked"].as_u64().unwrap() >= 2);

    // Someone edits vera's first entry in the table.
    let items = client
        .query()
        .table_name(TABLE)
        .key_condition_expression("PK = :pk AND begins_with(SK, :h)")
        .expression_attribute_values(":pk", Av::S("XP#C#vera".into()))
        .expression_attribute_values(":h", Av::S("HIST#".into()))
        .send()
        .await
        .unwrap();
    let mut edited = items.items()[0].clone();
    let sk = edited["SK"].as_s().unwrap().clone();
    edited.insert("outcome".into(), Av::S("applied (edited)".into()));
    client
        .put_item()
        .table_name(TABLE)
        .set_item(Some(edited))
        .send()
        .await
        .unwrap();
    let (code, out, err) = kyc(&["verify", "vera"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("1 finding"), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["tampering"][0]["kind"], "changed");
    assert_eq!(v["tampering"][0]["sk"], sk.as_str());
    assert!(!out.contains("edited"), "never the content");
    // The window around the entries' fixed hour (not "the last 30 days": that window would
    // leave their hour behind as the calendar moves on, and the edit would go unseen).
    let since = (last - Duration::hours(1)).to_rfc3339();
    let until = (last + Duration::hours(1)).to_rfc3339();
    let (code, _, err) = kyc(&["verify", "--since", &since, "--until", &until]);
    assert_eq!(code, Some(1), "{err}");
}

/// The evidence bundle: exported (and recorded), opened with its key (manifest and every proof
/// checked), and its summary.html rendered by a real headless browser, offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_opens_with_its_key_its_proofs_verify_and_its_page_renders_offline() {
    let ids = ["ex-demand-1", "ex-demand-2", "ex-record-1"];
    let moto = sealed_callbacks(&[
        (
            ids[0],
            r#"{"type":"4","status":"Pending","appUserId":"xena"}"#,
        ),
        (
            ids[1],
            r#"{"type":"4","status":"Complete","appUserId":"xena"}"#,
        ),
        (
            ids[2],
            r#"{"type":"34","appUserId":"xena","userRecordStatus":"Validated"}"#,
        ),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = bundle_key(dir.path());
    let bundle = dir.path().join("xena.kycbundle");
    let kyc = |args: &[&str]| kyc_evidence_cli(&moto, args);
    let (code, _, err) = kyc(&[
        "export",
        "xena",
        "--reason",
        "free text",
        "--key-file",
        key_file.to_str().unwrap(),
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("reason must be a code"), "{err}");
    assert!(!bundle.exists(), "nothing written on a refusal");
    let (code, out, err) = kyc(&[
        "export",
        "xena",
        "--reason",
        "AUDIT-2026-7",
        "--key-file",
        key_file.to_str().unwrap(),
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["events"], 3);
    assert_eq!(v["proofs"]["sealed"], 3, "{v}");
    let raw = std::fs::read(&bundle).unwrap();
    assert!(
        !raw.windows(4).any(|w| w == b"xena"),
        "the bundle is encrypted"
    );
    // Recorded in the customer's history, with the operator.
    let (_, out, _) = kyc(&["history", "xena"]);
    assert!(
        out.contains("evidenceExported") && out.contains("AUDIT-2026-7"),
        "{out}"
    );

    let opened = dir.path().join("opened");
    let (code, out, err) = kyc(&[
        "bundle",
        "open",
        bundle.to_str().unwrap(),
        "--key-file",
        key_file.to_str().unwrap(),
        "--out",
        opened.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["proofsVerified"].as_u64(), v["proofsFailed"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(v["rootsMatchingTheLockedDigests"], 3, "{v}");
    // Another key opens nothing.
    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
    let (code, _, err) = kyc(&[
        "bundle",
        "open",
        bundle.to_str().unwrap(),
        "--key-file",
        wrong.to_str().unwrap(),
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("does not open"), "{err}");
    // Every event's body is in it, opened.
    let events: Vec<_> = std::fs::read_dir(opened.join("events/xpollens"))
        .unwrap()
        .collect();
    assert_eq!(events.len(), 3);

    // The page in a real browser, offline (no network: it loads nothing).
    let page = opened.join("summary.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("http"), "no external asset");
    let chromium = |extra: &[&str]| {
        std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
            ])
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("chromium (make test installs it)")
    };
    let dom = chromium(&["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8(dom.stdout).unwrap();
    for id in ids {
        assert!(dom.contains(id), "the rendered page shows event {id}");
    }
    assert_eq!(dom.matches("class=\"event\"").count(), 3);
    assert!(dom.contains("verifies against the hour"));
    let shot = dir.path().join("summary.png");
    let s = chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1200,900",
    ]);
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "a screenshot of {} bytes",
        png.len()
    );
    if let Ok(keep) = std::env::var("KYC_SUMMARY_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

/// `kyc customer alias` after the seal (a provider's events arrive under its id, then the bank
/// links it): the export of the bank's customer finds every entry in its sealed hour (under the
/// id's own salt), and every proof of the bundle verifies against the locked digests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_after_an_alias_added_since_the_seal_has_every_proof() {
    let moto = sealed_callbacks(&[
        (
            "al-demand-1",
            r#"{"type":"4","status":"Pending","appUserId":"xp-88"}"#,
        ),
        (
            "al-demand-2",
            r#"{"type":"4","status":"Complete","appUserId":"xp-88"}"#,
        ),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = bundle_key(dir.path());
    let bundle = dir.path().join("bank-88.kycbundle");
    let kyc = |args: &[&str]| {
        let (code, out, err) = kyc_evidence_cli(&moto, args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    kyc(&["customer", "alias", "bank-88", "xpollens", "xp-88"]);
    let exported = kyc(&[
        "export",
        "bank-88",
        "--reason",
        "AUDIT-2026-8",
        "--key-file",
        key_file.to_str().unwrap(),
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(exported["events"], 2, "{exported}");
    assert_eq!(
        (
            &exported["proofs"]["sealed"],
            &exported["proofs"]["addedAfterSeal"]
        ),
        (&Value::from(2), &Value::from(0)),
        "{exported}"
    );
    let opened = kyc(&[
        "bundle",
        "open",
        bundle.to_str().unwrap(),
        "--key-file",
        key_file.to_str().unwrap(),
        "--out",
        dir.path().join("opened").to_str().unwrap(),
    ]);
    assert_eq!(
        (
            opened["proofsVerified"].as_u64(),
            opened["proofsFailed"].as_u64()
        ),
        (Some(2), Some(0)),
        "{opened}"
    );
    assert_eq!(opened["rootsMatchingTheLockedDigests"], 2, "{opened}");
}

/// moto with `BUCKET` locked, the Xpollens callbacks `(event id, body)` delivered (202 each) and
/// their hour sealed.
async fn sealed_callbacks(callbacks: &[(&str, &str)]) -> Moto {
    use kyc_integration_tests::{an_hour_with_room, sealing_time, settings, Delivery};
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let s3 = kyc_aws::s3_client(&config);
    kyc_integration_tests::create_locked_bucket(&s3, BUCKET).await;
    let endpoint = xpollens_callback::build_endpoint(&settings(TABLE), &config).unwrap();
    let hour = an_hour_with_room(30).await;
    for (id, body) in callbacks {
        let d = Delivery::new(id, "12/11/2026 09:00:00 +00:00", body);
        let resp = xpollens_callback::handle(&endpoint, d.request())
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 202);
    }
    let digests = S3Digests {
        client: s3,
        bucket: BUCKET.into(),
        lock_mode: lock_mode("GOVERNANCE").unwrap(),
        lock_days: 1,
    };
    run(
        &DynamoHistory::new(Client::new(&config), TABLE),
        &digests,
        SealSettings::default(),
        sealing_time(hour),
    )
    .await
    .unwrap();
    moto
}

/// `kyc` against moto with the table and the evidence bucket: (exit code, stdout, stderr).
fn kyc_evidence_cli(moto: &Moto, args: &[&str]) -> (Option<i32>, String, String) {
    common::kyc_text(
        &moto.endpoint,
        args,
        &[("TABLE_NAME", TABLE), ("EVIDENCE_BUCKET", BUCKET)],
    )
}

/// A bundle key file (base64 of 32 bytes, as an operator writes it) in `dir`.
fn bundle_key(dir: &std::path::Path) -> std::path::PathBuf {
    let key_file = dir.join("bundle.key");
    std::fs::write(&key_file, "TCE1b0iSoBuZb6bEzZPtAcV4c6xk8e3yVgq6h9u2RmY=\n").unwrap();
    key_file
}
