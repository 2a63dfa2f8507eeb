//! `kyc replay xpollens FILE...` as an operator runs it.

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

/// Issue 24: a real delivery sequence of one day — PEP screening, a transfer's complementary
/// diligence, a user freeze live then its queue copies — keeps `kyc xpollens replay`'s output
/// format, each of them its own stream in the customer's state.
#[test]
fn pep_screening_and_complementary_diligence_show_as_their_own_streams() {
    let (ok, stdout, stderr) = replay(&[
        events("xpollens-15-user-freeze.json"),
        events("xpollens-pep-awaiting-decision.json"),
        events("xpollens-31-to-review.json"),
        events("xpollens-pep-accepted-edd.json"),
        events("xpollens-31-validated.json"),
        events("xpollens-queue-page-without-payload.json"),
    ]);
    assert!(ok, "{stderr}");
    let out: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let erin = &out["customers"]["demo-erin"]["state"]["providers"]["xpollens"];
    assert_eq!(
        erin["pepScreening"]["status"],
        "AcceptedWithEnhancedDueDiligence"
    );
    assert_eq!(erin["pepScreening"]["final"], true);
    assert_eq!(erin["pepScreening"]["detail"]["enhancedDueDiligence"], true);
    let bob = &out["customers"]["demo-bob"]["state"]["providers"]["xpollens"];
    let diligence = &bob["complementaryDiligence"];
    assert_eq!(diligence["status"], "Validated");
    assert_eq!(diligence["detail"]["orderId"], "rx193bo32");
    assert_eq!(diligence["items"]["closedCount"], 1);
    assert_eq!(diligence["items"]["open"], serde_json::json!({}));
    assert_eq!(
        diligence["sealedSecrets"],
        serde_json::json!(["transmitterFullName"])
    );
    // The queue kept the second freeze's query string: applied (unfrozen a minute later).
    assert_eq!(bob["userFreeze"]["status"], "NotFrozen");
    let history = out["customers"]["demo-erin"]["history"].as_array().unwrap();
    assert_eq!(
        history[0]["eventType"],
        "PoliticallyExposedPersonStatusCreatedOrUpdated"
    );
    // The first freeze copy kept nothing: a missed callback, recorded, never applied.
    let deliveries = out["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 7, "{deliveries:?}");
    let missed = &deliveries[5];
    assert!(
        missed["eventId"]
            .as_str()
            .unwrap()
            .ends_with(".withoutPayload"),
        "{missed}"
    );
    assert!(missed["outcome"]
        .as_str()
        .unwrap()
        .starts_with("recorded: missed callback kept without its data"));
    assert_eq!(deliveries[6]["outcome"], "applied");
    // The transmitter's name is personal data: never printed.
    assert!(!stdout.contains("Epp Sandra"), "{stdout}");
}
