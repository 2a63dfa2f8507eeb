//! GoPay sync end to end: consents through the real consent handler, sync runs against moto
//! (due index, leases, conditional token writes, S3) and the GoPay simulator (rotating refresh
//! tokens, scripted identification states, faults).

use std::sync::atomic::Ordering;

use gopay_sim::{
    Endpoint as SimEndpoint, Fault, FaultKind, ProfileSpec, Script, SimConfig, TokenUseOutcome,
};
use kyc_core::chrono::Duration;
use kyc_core::intake::Provider;
use kyc_core::kyc_state::Stream;
use kyc_gopay::plan::{CONSENT_STREAM, IDENTIFICATION_STREAM, PDF_STREAM};
use kyc_gopay::store::{ProfileRecord, ProfileStatus};
use kyc_integration_tests::gopay::*;

/// A customer with a stored consent whose GoPay profile follows `script`.
async fn consented(env: &GoPayEnv, customer: &str, script: Script) -> ProfileRecord {
    let id = env.sim.add_profile(ProfileSpec::with_script(script));
    assert!(env.sim.enqueue_consent(id));
    let endpoint = env.consent_endpoint();
    let callback = env.consent_redirect(&endpoint, customer).await;
    let resp = env.call(&endpoint, "GET", &callback, "").await;
    assert_eq!(resp.status().as_u16(), 302);
    assert_eq!(resp.headers()["location"], SUCCESS_URL);
    profile(env, customer).await
}

async fn profile(env: &GoPayEnv, customer: &str) -> ProfileRecord {
    env.store()
        .profile_of_customer(customer)
        .await
        .unwrap()
        .expect("profile")
}

async fn status(env: &GoPayEnv, customer: &str, stream: &str) -> Option<String> {
    env.events()
        .provider_states(customer)
        .await
        .unwrap()
        .get(&Provider::Gopay)
        .and_then(|s| s.status(Stream::named(stream).unwrap()))
        .map(str::to_string)
}

fn rotations(env: &GoPayEnv) -> usize {
    env.sim
        .token_uses()
        .iter()
        .filter(|u| u.outcome == TokenUseOutcome::Rotated)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_over_many_runs_keeps_the_consent_and_records_each_change_once() {
    let env = GoPayEnv::start(SimConfig::default()).await;
    let first = consented(&env, "rot-1", Script::standard()).await;
    let mut generation = first.token_gen;
    let mut refreshed = 0;
    // 30 runs, each at the profile's next due time: 15 minutes apart while PENDING (the
    // access token from the consent lasts through those), then daily once IDENTIFIED, where
    // every run must refresh (and GoPay rotates the refresh token): runs 4 to 30.
    for run in 0..30 {
        let report = env.sync(&format!("run-{run}")).await;
        assert_eq!(report.failures, 0, "run {run}: {report:?}");
        refreshed += report.refreshed;
        let p = profile(&env, "rot-1").await;
        assert_eq!(p.status, ProfileStatus::Active);
        assert_eq!(p.token_gen, generation + report.refreshed, "run {run}");
        generation = p.token_gen;
        let next = p.next_due_at.unwrap();
        env.sim.set_now(next);
    }
    assert_eq!(refreshed, 27);
    assert_eq!(env.sim.refresh_token_reuse_count(), 0);
    assert_eq!(rotations(&env), refreshed as usize);
    assert!(env
        .sim
        .token_uses()
        .iter()
        .all(|u| u.outcome == TokenUseOutcome::Rotated));
    // PENDING → PENDING + WAITING_IDENT_DOCUMENT → IDENTIFIED, each once; then the PDF.
    let history = env.events().history("rot-1").await.unwrap();
    let states: Vec<String> = history
        .iter()
        .filter(|h| h.event_type == "identification-status")
        .map(|h| format!("{} {}", h.summary["state"], h.summary["reasons"]))
        .collect();
    assert_eq!(
        states,
        [
            r#""PENDING" []"#,
            r#""PENDING" ["WAITING_IDENT_DOCUMENT"]"#,
            r#""IDENTIFIED" []"#
        ]
    );
    assert_eq!(
        status(&env, "rot-1", IDENTIFICATION_STREAM)
            .await
            .as_deref(),
        Some("IDENTIFIED")
    );
    assert_eq!(
        history
            .iter()
            .filter(|h| h.event_type == "identification-pdf")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_overlapping_runs_never_use_a_refresh_token_twice() {
    let env = GoPayEnv::start(SimConfig::default()).await;
    let n = 24;
    for i in 0..n {
        consented(&env, &format!("ovl-{i}"), Script::pending()).await;
    }
    env.sim.advance(Duration::minutes(61));
    let (a, b) = tokio::join!(env.sync("run-a"), env.sync("run-b"));
    assert_eq!(a.claimed + b.claimed, n, "{a:?} {b:?}");
    assert_eq!(a.refreshed + b.refreshed, n);
    assert_eq!(env.sim.refresh_token_reuse_count(), 0);
    assert_eq!(rotations(&env), n as usize);
    // And again, overlapping, an hour later.
    env.sim.advance(Duration::minutes(61));
    let (a, b) = tokio::join!(env.sync("run-c"), env.sync("run-d"));
    assert_eq!(a.refreshed + b.refreshed, n);
    assert_eq!(env.sim.refresh_token_reuse_count(), 0);
    for i in 0..n {
        assert_eq!(
            profile(&env, &format!("ovl-{i}")).await.status,
            ProfileStatus::Active
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_token_write_after_refresh_loses_no_consent() {
    let env = GoPayEnv::start(SimConfig::default()).await;
    let before = consented(&env, "fail-1", Script::pending()).await;
    env.sim.advance(Duration::minutes(61));

    // Every attempt to store the rotated token fails: it goes to the rescue place.
    env.probe.fail_rotations.store(100, Ordering::SeqCst);
    let r1 = env.sync("run-1").await;
    env.probe.fail_rotations.store(0, Ordering::SeqCst);
    assert_eq!((r1.refreshed, r1.rescued_tokens), (1, 1), "{r1:?}");
    assert!(env.probe.failed_rotations.load(Ordering::SeqCst) >= 3);
    assert_eq!(
        profile(&env, "fail-1").await.token_gen,
        before.token_gen,
        "table not written"
    );

    // The next run recovers it before anything else (the lease of run 1 expires first).
    env.sim.advance(Duration::minutes(4));
    let r2 = env.sync("run-2").await;
    assert_eq!(r2.recovered_tokens, 1, "{r2:?}");
    assert_eq!(r2.refreshed, 0, "the recovered access token is still valid");
    assert_eq!(r2.polled, 1);
    assert_eq!(
        profile(&env, "fail-1").await.token_gen,
        before.token_gen + 1
    );

    // And the recovered refresh token is the live one.
    env.sim.advance(Duration::minutes(61));
    let r3 = env.sync("run-3").await;
    assert_eq!(
        (r3.refreshed, r3.needs_consent, r3.recovered_tokens),
        (1, 0, 0)
    );
    assert_eq!(env.sim.refresh_token_reuse_count(), 0);
    assert_eq!(rotations(&env), 2);
    let p = profile(&env, "fail-1").await;
    assert_eq!(
        (p.status, p.token_gen),
        (ProfileStatus::Active, before.token_gen + 2)
    );

    // A single failed attempt is simply retried.
    env.sim.advance(Duration::minutes(61));
    env.probe.fail_rotations.store(1, Ordering::SeqCst);
    let r4 = env.sync("run-4").await;
    assert_eq!((r4.refreshed, r4.rescued_tokens, r4.polled), (1, 0, 1));
    assert_eq!(
        profile(&env, "fail-1").await.token_gen,
        before.token_gen + 3
    );
    assert_eq!(env.sim.refresh_token_reuse_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_refresh_token_marks_the_profile_as_needing_consent_loudly() {
    let env = GoPayEnv::start(SimConfig::default()).await;
    consented(&env, "dead-1", Script::pending()).await;
    env.sim.advance(Duration::minutes(61));
    // GoPay rotates, then fails: the token we hold is dead (nothing we could have kept).
    env.sim.set_fault(
        SimEndpoint::Token,
        Fault::times(FaultKind::StatusAfterProcessing(500), 1),
    );
    let r1 = env.sync("run-1").await;
    assert_eq!((r1.refreshed, r1.failures), (0, 1), "{r1:?}");
    assert_eq!(profile(&env, "dead-1").await.status, ProfileStatus::Active);

    env.sim.advance(Duration::hours(7));
    let r2 = env.sync("run-2").await;
    assert_eq!(r2.needs_consent, 1, "{r2:?}");
    let p = profile(&env, "dead-1").await;
    assert_eq!(p.status, ProfileStatus::NeedsConsent);
    assert_eq!(
        status(&env, "dead-1", CONSENT_STREAM).await.as_deref(),
        Some("NEEDS_CONSENT")
    );
    // Out of the due index: never polled again until a new consent.
    env.sim.advance(Duration::days(2));
    let r3 = env.sync("run-3").await;
    assert_eq!((r3.due, r3.claimed), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identified_profile_gets_its_pdf_copied_once_with_server_side_encryption() {
    let env = GoPayEnv::start(SimConfig::default()).await;
    consented(&env, "pdf-1", Script::constant("IDENTIFIED", &[])).await;
    let r1 = env.sync("run-1").await;
    assert_eq!((r1.changes, r1.pdfs), (1, 1), "{r1:?}");
    let p = profile(&env, "pdf-1").await;
    let key = p.pdf_key.expect("PDF key recorded");
    let head = env
        .s3
        .head_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption().map(|s| s.as_str()),
        Some("AES256")
    );
    let object = env
        .s3
        .get_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();
    let bytes = object.body.collect().await.unwrap().into_bytes();
    assert!(bytes.starts_with(b"%PDF-"));
    assert_eq!(
        status(&env, "pdf-1", PDF_STREAM).await.as_deref(),
        Some("COPIED")
    );

    // Settled: next visit a day later; no second copy.
    let next = p.next_due_at.unwrap();
    assert!(next >= env.sim.now() + Duration::hours(24));
    env.sim.advance(Duration::hours(27));
    let r2 = env.sync("run-2").await;
    assert_eq!((r2.polled, r2.changes, r2.pdfs), (1, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_back_off_and_the_run_stops_before_the_deadline() {
    let env = GoPayEnv::start(SimConfig::default()).await;
    consented(&env, "err-1", Script::pending()).await;
    env.sim.set_fault(
        SimEndpoint::IdentificationStatus,
        Fault::times(FaultKind::Status(500), 1),
    );
    let now = env.sim.now();
    let r1 = env.sync("run-1").await;
    assert_eq!((r1.claimed, r1.failures, r1.changes), (1, 1, 0));
    let p = profile(&env, "err-1").await;
    assert_eq!(p.consecutive_failures, 1);
    let due = p.next_due_at.unwrap();
    assert!(due >= now && due <= now + Duration::minutes(1), "{due}");
    assert!(p.lease.is_none(), "lease released");

    // Less than the reserve before the deadline: no profile is taken.
    env.sim.advance(Duration::minutes(2));
    let deadline = env.sim.now() + Duration::seconds(10);
    let r2 = kyc_gopay::sync::run(env.sync_deps(), env.sync_settings("run-2"), deadline)
        .await
        .unwrap();
    assert_eq!(r2.claimed, 0);
    assert!(r2.stopped_for_deadline);
    // With time left it recovers and resets the failure count.
    let r3 = env.sync("run-3").await;
    assert_eq!((r3.polled, r3.changes), (1, 1));
    assert_eq!(profile(&env, "err-1").await.consecutive_failures, 0);
    assert_eq!(env.probe.scans(), 0, "never a table scan");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_or_html_token_errors_never_mark_a_profile_needing_consent() {
    let env = GoPayEnv::start(SimConfig::default()).await;
    let before = consented(&env, "waf-1", Script::pending()).await;
    // A WAF page, then GoPay's own UNAUTHORIZED (not about the token): three runs.
    env.sim
        .set_fault(SimEndpoint::Token, Fault::times(FaultKind::Html(403), 2));
    env.sim
        .set_fault(SimEndpoint::Token, Fault::times(FaultKind::Status(403), 1));
    env.sim.advance(Duration::minutes(61));
    for run in 0..3 {
        let r = env.sync(&format!("run-{run}")).await;
        assert_eq!(
            (r.needs_consent, r.unrecognized_token_answers, r.refreshed),
            (0, 1, 0),
            "run {run}: {r:?}"
        );
        assert!(r.credentials_proven);
        let p = profile(&env, "waf-1").await;
        assert_eq!(p.status, ProfileStatus::Active, "run {run}");
        assert_eq!(p.token_gen, before.token_gen);
        env.sim.advance(Duration::hours(7));
    }
    assert_ne!(
        status(&env, "waf-1", CONSENT_STREAM).await.as_deref(),
        Some("NEEDS_CONSENT")
    );
    // GoPay answers normally again: the kept token still works.
    let r = env.sync("run-ok").await;
    assert_eq!((r.refreshed, r.polled, r.needs_consent), (1, 1, 0), "{r:?}");
    assert_eq!(env.sim.refresh_token_reuse_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrongly_marked_profile_is_reactivated_and_polled_again() {
    use kyc_gopay::admin::Admin;
    use kyc_gopay::client::GoPayApi;

    let env = GoPayEnv::start(SimConfig::default()).await;
    let p = consented(&env, "react-1", Script::pending()).await;
    // As the old classification did on a bare 403: marked although the token is live.
    let store = env.store();
    assert!(store
        .mark_needs_consent(&p.client_profile_id, p.token_gen, env.sim.now())
        .await
        .unwrap());
    env.sim.advance(Duration::minutes(61));
    let r = env.sync("run-1").await;
    assert_eq!(
        (r.claimed, r.refreshed),
        (1, 0),
        "only the pending event: {r:?}"
    );
    assert_eq!(
        status(&env, "react-1", CONSENT_STREAM).await.as_deref(),
        Some("NEEDS_CONSENT")
    );

    // An operator notices the next morning.
    env.sim.advance(Duration::hours(10));
    let keys = kyc_core::crypto::Keyring::from_staged(
        &kyc_core::secrets::SecretSource::staged(
            env.secrets.as_ref(),
            kyc_integration_tests::GOPAY_PAYLOAD_KEY_SECRET,
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let credentials = kyc_gopay::tokens::ClientCredentials::new(
        SimConfig::default().client_id,
        kyc_core::redact::Secret::new(SimConfig::default().client_secret),
    );
    let events = env.events();
    let hosts = env.hosts();
    let admin = Admin {
        store: store.as_ref(),
        events: events.as_ref(),
        api: GoPayApi {
            transport: env.transport.as_ref(),
            hosts: &hosts,
            credentials: &credentials,
        },
        keys: &keys,
        owner: "cli-test".into(),
        now: env.sim.now(),
    };
    let out = admin.reactivate("react-1").await.unwrap();
    assert_eq!(out["was"], "needsConsent");
    assert_eq!(
        status(&env, "react-1", CONSENT_STREAM).await.as_deref(),
        Some("GRANTED")
    );
    let r = env.sync("run-2").await;
    assert_eq!((r.refreshed, r.polled, r.needs_consent), (1, 1, 0), "{r:?}");
    let after = profile(&env, "react-1").await;
    assert_eq!(
        (after.status, after.token_gen),
        (ProfileStatus::Active, p.token_gen + 1)
    );
    assert_eq!(env.sim.refresh_token_reuse_count(), 0);
}

// ----- issue 22 ----------------------------------------------------------------------------------

/// A customer who consented in the bank's session with `declared` identity, identified by GoPay
/// as `subject`.
async fn consented_declaring(
    env: &GoPayEnv,
    customer: &str,
    declared: serde_json::Value,
    subject: gopay_sim::SubjectSpec,
) -> ProfileRecord {
    let id = env.sim.add_profile(
        ProfileSpec::with_script(Script::constant("IDENTIFIED", &[])).identified_as(subject),
    );
    assert!(env.sim.enqueue_consent(id));
    let endpoint = env.bank_session_endpoint();
    let resp = env
        .bank_session_consent(&endpoint, customer, customer, Some(declared))
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    profile(env, customer).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identified_person_is_matched_with_the_declared_identity() {
    use gopay_sim::SubjectSpec;
    let env = GoPayEnv::start(SimConfig::default()).await;
    let declared = serde_json::json!({"firstName": "Bohumila", "lastName": "Křížová", "birthDate": "1977-04-23"});
    let same = consented_declaring(
        &env,
        "id-same",
        declared.clone(),
        SubjectSpec::new("BOHUMILA", "Krizova", "1977-04-23"),
    )
    .await;
    consented_declaring(
        &env,
        "id-other",
        declared,
        SubjectSpec::new("Bohumila", "Šťastná", "1977-04-23"),
    )
    .await;
    // Sealed at rest: the table holds no declared value in clear.
    let item = env
        .ddb
        .get_item()
        .table_name(kyc_integration_tests::TABLE)
        .key(
            "PK",
            kyc_aws::aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "GOPAY_PROFILE#{}",
                same.client_profile_id
            )),
        )
        .key(
            "SK",
            kyc_aws::aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let text = format!("{item:?}");
    assert!(text.contains("sealedDeclaredIdentity"));
    assert!(!text.contains("Bohumila") && !text.contains("1977-04-23"));

    let report = env.sync("run-1").await;
    assert_eq!(report.identity_mismatches, 1, "{report:?}");
    let states = env.events().provider_states("id-same").await.unwrap();
    let same = states[&Provider::Gopay]
        .stream(&Stream::named(IDENTIFICATION_STREAM).unwrap())
        .unwrap()
        .clone();
    assert_eq!(same.status, "IDENTIFIED");
    assert_eq!(same.detail["identityMatch"]["result"], "match");
    let states = env.events().provider_states("id-other").await.unwrap();
    let other = states[&Provider::Gopay]
        .stream(&Stream::named(IDENTIFICATION_STREAM).unwrap())
        .unwrap()
        .clone();
    assert_eq!(other.status, "IDENTITY_MISMATCH");
    assert_eq!(
        other.detail["identityMatch"]["differingFields"],
        serde_json::json!(["lastName"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_404_for_every_profile_takes_none_out_of_service() {
    let env = GoPayEnv::start(SimConfig::default()).await;
    for i in 0..3 {
        consented(&env, &format!("nf-{i}"), Script::pending()).await;
    }
    // A wrong or moved base URL: "non-existent service" for every poll.
    env.sim.set_fault(
        SimEndpoint::IdentificationStatus,
        Fault::always(FaultKind::Status(404)),
    );
    let mut marked = 0;
    for run in 0..5 {
        let r = env.sync(&format!("run-{run}")).await;
        assert!(r.missing_guard_tripped, "run {run}: {r:?}");
        marked += r.unknown_at_gopay;
        env.sim.advance(Duration::hours(7));
    }
    assert_eq!(marked, 0);
    for i in 0..3 {
        assert_eq!(
            profile(&env, &format!("nf-{i}")).await.status,
            ProfileStatus::Active
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_403_on_one_profiles_refresh_over_three_runs_and_a_day_needs_consent() {
    let env = GoPayEnv::start(SimConfig::default()).await;
    let dead = consented(&env, "bare-dead", Script::pending()).await;
    consented(&env, "bare-ok-1", Script::pending()).await;
    consented(&env, "bare-ok-2", Script::pending()).await;
    let sim_id: u64 = dead.client_profile_id.as_str().parse().unwrap();
    assert!(env.sim.refuse_refresh_bare(sim_id, true));
    env.sim.advance(Duration::minutes(61));
    for run in 0..3 {
        let r = env.sync(&format!("run-{run}")).await;
        assert!(r.refreshed >= 2, "run {run}: {r:?}");
        assert_eq!(r.bare_refresh_refusals, 1, "run {run}: {r:?}");
        let expected = if run < 2 { 0 } else { 1 };
        assert_eq!(r.needs_consent, expected, "run {run}: {r:?}");
        env.sim.advance(Duration::hours(13));
    }
    let p = profile(&env, "bare-dead").await;
    assert_eq!(p.status, ProfileStatus::NeedsConsent);
    let states = env.events().provider_states("bare-dead").await.unwrap();
    let consent = states[&Provider::Gopay]
        .stream(&Stream::named(CONSENT_STREAM).unwrap())
        .unwrap()
        .clone();
    assert_eq!(consent.status, "NEEDS_CONSENT");
    assert_eq!(consent.detail["evidence"]["runs"], 3);
    for c in ["bare-ok-1", "bare-ok-2"] {
        assert_eq!(profile(&env, c).await.status, ProfileStatus::Active);
    }
    assert_eq!(env.sim.refresh_token_reuse_count(), 0);
}
