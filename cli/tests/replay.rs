//! `kyc replay xpollens FILE...` as an operator runs it.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
kyc_test_log::install!();

use std::path::PathBuf;
use std::process::Command;

fn events(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name)
}

fn replay(files: &[PathBuf]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kyc"))
        .args(["replay", "xpollens"])
        .args(files)
        // Offline: no AWS settings are needed, and none may be reached.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .map(kyc_test_log::shown)
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn replays_events_and_a_queue_page_in_the_order_given() {
    let (ok, stdout, stderr) = replay(&[
        events("xpollens-04-v2-complete.json"),
        events("xpollens-04-v2-awaiting.json"),
        events("xpollens-35-enrolment.json"),
        events("xpollens-queue-page.json"),
    ]);
    assert!(ok, "{stderr}");
    let out: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let alice = &out["customers"]["demo-alice"];
    // Awaiting (09:10) after Complete (09:20): kept in history, state unchanged.
    assert_eq!(
        alice["state"]["providers"]["xpollens"]["kycDemand"]["status"],
        "Complete"
    );
    assert_eq!(alice["state"]["customer"], "demo-alice");
    let deliveries = out["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 6, "{deliveries:?}");
    assert_eq!(deliveries[1]["status"], 202);
    assert!(deliveries[1]["outcome"]
        .as_str()
        .unwrap()
        .starts_with("not applied: stale"));
    assert_eq!(
        deliveries[3]["file"].as_str().unwrap(),
        events("xpollens-queue-page.json").display().to_string()
    );
    // Secrets of callback 35 stay sealed.
    assert!(!stdout.contains("0xd14c7c77a134d87b45ec82cac16ac631"));
    assert!(!stdout.to_lowercase().contains("webviewurl\": \"http"));
}

#[test]
fn a_file_of_neither_form_fails_with_a_clear_message() {
    // Removed when dropped, even if the test fails.
    let dir = tempfile::Builder::new()
        .prefix("kyc-replay-")
        .tempdir()
        .unwrap();
    let bare = dir.path().join("bare-body.json");
    std::fs::write(&bare, r#"{"type":"4","status":"Pending","appUserId":"x"}"#).unwrap();
    let (ok, stdout, stderr) = replay(&[events("xpollens-04-v1-pending.json"), bare.clone()]);
    assert!(!ok);
    assert!(
        stdout.is_empty(),
        "nothing is applied when a file is unusable"
    );
    assert!(
        stderr.contains("neither an API Gateway HTTP API 2.0 event nor a fallback-queue page"),
        "{stderr}"
    );
    let (ok, _, stderr) = replay(&[dir.path().join("missing.json")]);
    assert!(!ok && stderr.contains("cannot read"), "{stderr}");
}
