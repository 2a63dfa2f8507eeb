use super::*;
use kyc_core::crypto::PayloadKey;
use kyc_gopay::identification::ClientProfileId;
use kyc_gopay::store::{sealed_access_aad, sealed_refresh_aad};
use kyc_trust_sign::plan::archive_key_aad;
use kyc_xpollens::plan::sealed_field_aad;
use serde_json::json;

const PROVIDERS: [Provider; 3] = [Provider::Xpollens, Provider::TrustSign, Provider::Gopay];

fn seed(provider: Provider) -> u8 {
    match provider {
        Provider::Xpollens => 10,
        Provider::TrustSign => 20,
        Provider::Gopay => 30,
    }
}

fn key(provider: Provider, n: u8) -> PayloadKey {
    PayloadKey::new(
        &format!("{}-k{n}", provider.as_str()),
        [seed(provider) + n; 32],
    )
    .unwrap()
}

/// A provider's keyring whose current key is `k<current>` and which keeps every older one.
fn ring(provider: Provider, current: u8) -> Keyring {
    Keyring::new(
        key(provider, current),
        (1..current).map(|n| key(provider, n)).collect(),
    )
}

fn rings(current: u8) -> BTreeMap<Provider, Keyring> {
    PROVIDERS
        .into_iter()
        .map(|p| (p, ring(p, current)))
        .collect()
}

fn all() -> ResealOptions {
    ResealOptions {
        providers: PROVIDERS.into_iter().collect(),
        dry_run: false,
        page_size: 100,
    }
}

fn no_progress(_: &ResealReport) {}

fn gopay_id() -> ClientProfileId {
    ClientProfileId::new("7001").unwrap()
}

/// A table written by earlier releases (v1 under k1) and by this one before two rotations
/// (v2 under k2): every item kind that holds sealed values, for all three providers.
fn legacy_table() -> MemorySealedItems {
    let (xp1, xp2) = (ring(Provider::Xpollens, 1), ring(Provider::Xpollens, 2));
    let ts1 = ring(Provider::TrustSign, 1);
    let (gp1, gp2) = (ring(Provider::Gopay, 1), ring(Provider::Gopay, 2));
    let t = MemorySealedItems::default();
    let body = EventRecord::body_aad(Provider::Xpollens, "wh-1", Some("alice"));
    t.put(
        "EVENT#xpollens#wh-1",
        "EVENT",
        json!({"provider": "xpollens", "eventId": "wh-1", "subject": "alice",
               "sealedBody": xp1.seal_v1_legacy(&body, b"{\"appUserId\":\"alice\"}")}),
    );
    let big = EventRecord::body_aad(Provider::Xpollens, "wh-big", Some("alice"));
    let location = "s3://bodies/xpollens/bodies/xpollens/abc/old.sealed";
    t.put_body(location, &xp2.seal(&big, b"{\"big\":true}"));
    t.put(
        "EVENT#xpollens#wh-big",
        "EVENT",
        json!({"provider": "xpollens", "eventId": "wh-big", "subject": "alice", "bodyRef": location}),
    );
    t.put(
        "CUSTOMER#alice",
        "STATE#xpollens",
        json!({"version": 3, "userRecord": {"ord": "1", "eventId": "wh-2", "status": "Enrolled",
               "sealed": {"activationCode": xp2.seal(&sealed_field_aad("wh-2", "activationCode", Some("alice")), b"ACT-1")}}}),
    );
    t.put(
        "REJECTED#xpollens#2026-11-01",
        "2026-11-01T10:00:00Z#abc",
        json!({"provider": "xpollens", "bodySha256": "abc",
               "sealedBodyPrefix": xp1.seal_v1_legacy(&kyc_core::intake::rejection_body_aad(Provider::Xpollens, "abc"), b"garbage")}),
    );
    let archive = ts1.seal_v1_legacy(&archive_key_aad("s3:ev1", Some("bob")), b"incoming/bob.zip");
    t.put(
        "EVENT#trust_sign#s3:ev1",
        "EVENT",
        json!({"provider": "trust_sign", "eventId": "s3:ev1", "subject": "bob",
               "sealedBody": ts1.seal_v1_legacy(&EventRecord::body_aad(Provider::TrustSign, "s3:ev1", Some("bob")), b"{}"),
               "summary": {"detail": {"archive": {"bucket": "b", "sealedKey": archive}}}}),
    );
    t.put(
        "CUSTOMER#bob",
        "HIST#2026-11-01T10:00:00.000000Z#trust_sign#s3:ev1",
        json!({"provider": "trust_sign", "eventId": "s3:ev1",
               "summary": {"detail": {"archive": {"sealedKey": archive}}}}),
    );
    t.put(
        "CUSTOMER#bob",
        "STATE#trust_sign",
        json!({"clientFile#cf1": {"ord": "1", "eventId": "s3:ev1", "status": "ACCEPTED",
               "detail": {"archive": {"sealedKey": archive}}}}),
    );
    let id = gopay_id();
    t.put(
        "GOPAY_PROFILE#7001",
        "PROFILE",
        json!({"customerId": "carol", "tokenGen": 4,
               "sealedRefresh": gp1.seal_v1_legacy(&sealed_refresh_aad(&id, 4, "carol"), b"refresh-4"),
               "sealedAccess": gp2.seal(&sealed_access_aad(&id, 4, "carol"), b"access-4")}),
    );
    t.put(
        "CUSTOMER#carol",
        "GOPAY#PROFILE",
        json!({"clientProfileId": "7001"}),
    );
    t
}

/// One sealed value: item key (pk, sk), path in the item, provider, binding, plaintext.
type ExpectedValue = (
    &'static str,
    &'static str,
    Vec<PathStep>,
    Provider,
    Aad,
    &'static [u8],
);

/// Every sealed value of [`legacy_table`], and what it must open to.
fn expected() -> Vec<ExpectedValue> {
    let k = |s: &str| PathStep::Key(s.into());
    let id = gopay_id();
    vec![
        (
            "EVENT#xpollens#wh-1",
            "EVENT",
            vec![k("sealedBody")],
            Provider::Xpollens,
            EventRecord::body_aad(Provider::Xpollens, "wh-1", Some("alice")),
            &b"{\"appUserId\":\"alice\"}"[..],
        ),
        (
            "CUSTOMER#alice",
            "STATE#xpollens",
            vec![k("userRecord"), k("sealed"), k("activationCode")],
            Provider::Xpollens,
            sealed_field_aad("wh-2", "activationCode", Some("alice")),
            &b"ACT-1"[..],
        ),
        (
            "REJECTED#xpollens#2026-11-01",
            "2026-11-01T10:00:00Z#abc",
            vec![k("sealedBodyPrefix")],
            Provider::Xpollens,
            kyc_core::intake::rejection_body_aad(Provider::Xpollens, "abc"),
            &b"garbage"[..],
        ),
        (
            "EVENT#trust_sign#s3:ev1",
            "EVENT",
            vec![k("sealedBody")],
            Provider::TrustSign,
            EventRecord::body_aad(Provider::TrustSign, "s3:ev1", Some("bob")),
            &b"{}"[..],
        ),
        (
            "EVENT#trust_sign#s3:ev1",
            "EVENT",
            vec![k("summary"), k("detail"), k("archive"), k("sealedKey")],
            Provider::TrustSign,
            archive_key_aad("s3:ev1", Some("bob")),
            &b"incoming/bob.zip"[..],
        ),
        (
            "CUSTOMER#bob",
            "HIST#2026-11-01T10:00:00.000000Z#trust_sign#s3:ev1",
            vec![k("summary"), k("detail"), k("archive"), k("sealedKey")],
            Provider::TrustSign,
            archive_key_aad("s3:ev1", Some("bob")),
            &b"incoming/bob.zip"[..],
        ),
        (
            "CUSTOMER#bob",
            "STATE#trust_sign",
            vec![
                k("clientFile#cf1"),
                k("detail"),
                k("archive"),
                k("sealedKey"),
            ],
            Provider::TrustSign,
            archive_key_aad("s3:ev1", Some("bob")),
            &b"incoming/bob.zip"[..],
        ),
        (
            "GOPAY_PROFILE#7001",
            "PROFILE",
            vec![k("sealedRefresh")],
            Provider::Gopay,
            sealed_refresh_aad(&id, 4, "carol"),
            &b"refresh-4"[..],
        ),
        (
            "GOPAY_PROFILE#7001",
            "PROFILE",
            vec![k("sealedAccess")],
            Provider::Gopay,
            sealed_access_aad(&id, 4, "carol"),
            &b"access-4"[..],
        ),
    ]
}

fn inline(t: &MemorySealedItems, pk: &str, sk: &str, path: &[PathStep]) -> String {
    value_at(&t.get(pk, sk).expect("item"), path)
        .and_then(Value::as_str)
        .expect("sealed text")
        .to_string()
}

fn offloaded_body(t: &MemorySealedItems) -> String {
    let location = t.get("EVENT#xpollens#wh-big", "EVENT").unwrap()["bodyRef"]
        .as_str()
        .unwrap()
        .to_string();
    t.body(&location)
        .expect("the event points at a stored body")
}

#[test]
fn every_item_kind_yields_its_sealed_values_with_their_bindings() {
    let t = legacy_table();
    let items = t.items.lock().unwrap().clone();
    let mut found = 0;
    for (k, attributes) in &items {
        let values = sealed_values(&StoredItem {
            key: k.clone(),
            attributes: attributes.clone(),
        });
        found += values.len();
    }
    // 9 inline values + 1 offloaded body; the customer link holds none.
    assert_eq!(found, 10);
    let rings = rings(2);
    for (pk, sk, path, provider, aad, plain) in expected() {
        let sealed = inline(&t, pk, sk, &path);
        assert_eq!(
            rings[&provider].open(&aad, &sealed).unwrap(),
            plain,
            "{pk} {path:?}"
        );
    }
}

#[tokio::test]
async fn reseal_moves_every_value_to_the_current_key_and_a_second_run_changes_nothing() {
    let t = legacy_table();
    let checkpoint = MemoryCheckpoint::default();
    let report = run(&t, &checkpoint, &rings(3), &all(), &no_progress)
        .await
        .unwrap();
    assert_eq!(report.sealed_values, 10);
    assert_eq!(report.resealed, 10);
    assert_eq!((report.failed, report.lost_races), (0, 0));
    assert!(report.complete);
    for p in PROVIDERS {
        let labels: Vec<&String> = report.remaining[p.as_str()].keys().collect();
        assert_eq!(labels, [&format!("v2.{}-k3", p.as_str())], "{p:?}");
        assert_eq!(
            report.retirable[p.as_str()],
            [format!("{}-k1", p.as_str()), format!("{}-k2", p.as_str())]
        );
    }
    // Every value now opens with the current keys alone: k1 and k2 can go.
    let current_only: BTreeMap<Provider, Keyring> = PROVIDERS
        .into_iter()
        .map(|p| (p, Keyring::new(key(p, 3), vec![])))
        .collect();
    for (pk, sk, path, provider, aad, plain) in expected() {
        let sealed = inline(&t, pk, sk, &path);
        assert!(sealed.starts_with("v2."), "{pk} {path:?}");
        assert_eq!(current_only[&provider].open(&aad, &sealed).unwrap(), plain);
    }
    let big = EventRecord::body_aad(Provider::Xpollens, "wh-big", Some("alice"));
    assert_eq!(
        current_only[&Provider::Xpollens]
            .open(&big, &offloaded_body(&t))
            .unwrap(),
        b"{\"big\":true}"
    );
    assert_eq!(t.body_count(), 1, "the old body object is deleted");
    assert!(
        checkpoint.0.lock().unwrap().is_none(),
        "a complete run clears its checkpoint"
    );

    // Idempotent: nothing to do, nothing written, and it says so.
    let writes = t.replaces();
    let again = run(&t, &checkpoint, &rings(3), &all(), &no_progress)
        .await
        .unwrap();
    assert_eq!((again.resealed, again.already_current), (0, 10));
    assert_eq!(t.replaces(), writes);
    assert!(
        again.message.starts_with("nothing to re-seal"),
        "{}",
        again.message
    );
}

#[tokio::test]
async fn a_dry_run_counts_and_writes_nothing() {
    let t = legacy_table();
    let before = t.items.lock().unwrap().clone();
    let checkpoint = MemoryCheckpoint::default();
    let report = run(
        &t,
        &checkpoint,
        &rings(3),
        &ResealOptions {
            dry_run: true,
            page_size: 2,
            ..all()
        },
        &no_progress,
    )
    .await
    .unwrap();
    assert_eq!((report.would_reseal, report.resealed), (10, 0));
    assert_eq!(report.remaining["gopay"]["v1.gopay-k1"], 1);
    assert_eq!(report.remaining["gopay"]["v2.gopay-k2"], 1);
    assert!(report.retirable["gopay"].is_empty());
    assert_eq!(*t.items.lock().unwrap(), before);
    assert_eq!(t.replaces(), 0);
    assert!(checkpoint.0.lock().unwrap().is_none());
}

#[tokio::test]
async fn an_interrupted_run_resumes_after_its_checkpoint() {
    let t = legacy_table();
    let checkpoint = MemoryCheckpoint::default();
    let options = ResealOptions {
        page_size: 2,
        ..all()
    };
    *t.fail_after_pages.lock().unwrap() = Some(2);
    let err = run(&t, &checkpoint, &rings(3), &options, &no_progress)
        .await
        .unwrap_err();
    assert!(matches!(err, ResealError::Unavailable(_)), "{err}");
    let saved = checkpoint
        .0
        .lock()
        .unwrap()
        .clone()
        .expect("checkpoint kept");
    assert_eq!(saved.report.items_scanned, 4);
    let first_writes = t.replaces();
    assert!(first_writes > 0 && first_writes < 10, "{first_writes}");

    *t.fail_after_pages.lock().unwrap() = None;
    let served_before = t.pages_served();
    let report = run(&t, &checkpoint, &rings(3), &options, &no_progress)
        .await
        .unwrap();
    assert!(report.resumed);
    // 9 items in pages of 2: the resumed run reads only the 3 pages after the checkpoint.
    assert_eq!(t.pages_served() - served_before, 3);
    assert_eq!(report.items_scanned, 9);
    assert_eq!(
        report.resealed, 10,
        "counts continue across the interruption"
    );
    assert_eq!(t.replaces(), 10, "no value re-sealed twice");
    assert!(checkpoint.0.lock().unwrap().is_none());
}

#[tokio::test]
async fn a_checkpoint_of_other_providers_is_refused() {
    let t = legacy_table();
    let checkpoint = MemoryCheckpoint::default();
    *t.fail_after_pages.lock().unwrap() = Some(1);
    let gopay_only = ResealOptions {
        providers: [Provider::Gopay].into_iter().collect(),
        page_size: 2,
        ..all()
    };
    run(&t, &checkpoint, &rings(3), &gopay_only, &no_progress)
        .await
        .unwrap_err();
    *t.fail_after_pages.lock().unwrap() = None;
    let err = run(&t, &checkpoint, &rings(3), &all(), &no_progress)
        .await
        .unwrap_err();
    assert!(matches!(err, ResealError::Checkpoint(_)), "{err}");
}

#[tokio::test]
async fn a_token_rotated_during_the_reseal_is_left_to_its_writer() {
    let t = legacy_table();
    let id = gopay_id();
    let gp3 = ring(Provider::Gopay, 3);
    let rotated_refresh = gp3.seal(&sealed_refresh_aad(&id, 5, "carol"), b"refresh-5");
    let rotated_access = gp3.seal(&sealed_access_aad(&id, 5, "carol"), b"access-5");
    let (r, a) = (rotated_refresh.clone(), rotated_access.clone());
    // The GoPay sync rotates the token between our read and our write.
    t.before_next_replace(move |items| {
        let profile = items
            .get_mut(&ItemKey {
                pk: "GOPAY_PROFILE#7001".into(),
                sk: "PROFILE".into(),
            })
            .unwrap();
        profile.insert("tokenGen".into(), json!(5));
        profile.insert("sealedRefresh".into(), json!(r));
        profile.insert("sealedAccess".into(), json!(a));
    });
    let report = run(
        &t,
        &MemoryCheckpoint::default(),
        &rings(3),
        &ResealOptions {
            providers: [Provider::Gopay].into_iter().collect(),
            ..all()
        },
        &no_progress,
    )
    .await
    .unwrap();
    assert_eq!(
        (report.lost_races, report.resealed, report.failed),
        (2, 0, 0)
    );
    let profile = t.get("GOPAY_PROFILE#7001", "PROFILE").unwrap();
    assert_eq!(profile["sealedRefresh"], json!(rotated_refresh));
    assert_eq!(profile["sealedAccess"], json!(rotated_access));
    assert_eq!(report.remaining["gopay"]["v2.gopay-k3"], 2);
    // Other providers were not touched.
    assert!(inline(
        &t,
        "EVENT#xpollens#wh-1",
        "EVENT",
        &[PathStep::Key("sealedBody".into())]
    )
    .starts_with("v1."));
}

#[tokio::test]
async fn a_value_that_does_not_open_is_reported_and_left_as_it_is() {
    let t = legacy_table();
    // A v2 token copied into another customer's profile: bound to carol, it does not open
    // as dave's.
    let copied = inline(
        &t,
        "GOPAY_PROFILE#7001",
        "PROFILE",
        &[PathStep::Key("sealedAccess".into())],
    );
    t.put(
        "GOPAY_PROFILE#7002",
        "PROFILE",
        json!({"customerId": "dave", "tokenGen": 4, "sealedAccess": copied}),
    );
    // And a keyring that lost k1 cannot open the v1 values.
    let mut rings = rings(3);
    rings.insert(
        Provider::Gopay,
        Keyring::new(key(Provider::Gopay, 3), vec![key(Provider::Gopay, 2)]),
    );
    let report = run(
        &t,
        &MemoryCheckpoint::default(),
        &rings,
        &ResealOptions {
            providers: [Provider::Gopay].into_iter().collect(),
            ..all()
        },
        &no_progress,
    )
    .await
    .unwrap();
    assert_eq!((report.resealed, report.failed), (1, 2));
    let text = serde_json::to_string(&report).unwrap();
    assert!(
        !text.contains("refresh-4") && !text.contains(&copied),
        "{text}"
    );
    let reasons: Vec<(&str, &str)> = report
        .failures
        .iter()
        .map(|f| (f.pk.as_str(), f.sealed_as.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("GOPAY_PROFILE#7001", "v1.gopay-k1"),
            ("GOPAY_PROFILE#7002", "v2.gopay-k2")
        ]
    );
    assert_eq!(
        t.get("GOPAY_PROFILE#7002", "PROFILE").unwrap()["sealedAccess"],
        json!(copied)
    );
    assert!(
        report.retirable["gopay"].is_empty(),
        "k1 and k2 are still in use"
    );
    assert_eq!(report.missing_keys["gopay"], ["gopay-k1"]);
}

/// Issue 22: the customer's declared identity, sealed on a started consent and on the
/// profile, moves to the current key with the tokens.
#[tokio::test]
async fn a_declared_identity_is_resealed_on_the_state_and_on_the_profile() {
    use kyc_gopay::consent::declared_identity_state_aad;
    use kyc_gopay::store::declared_identity_aad;
    let t = MemorySealedItems::default();
    let id = gopay_id();
    let gp1 = ring(Provider::Gopay, 1);
    let declared = br#"{"firstName":"Bohumila"}"#;
    t.put(
        "GOPAY_PROFILE#7001",
        "PROFILE",
        json!({"customerId": "carol",
               "sealedDeclaredIdentity": gp1.seal(&declared_identity_aad(&id, "carol"), declared)}),
    );
    let state_key = "sha256:00ff";
    t.put(
        &format!("GOPAY_STATE#{state_key}"),
        "GOPAY_STATE",
        json!({"customerId": "carol",
               "sealedDeclaredIdentity": gp1.seal(&declared_identity_state_aad(state_key, "carol"), declared)}),
    );
    let report = run(
        &t,
        &MemoryCheckpoint::default(),
        &rings(2),
        &all(),
        &no_progress,
    )
    .await
    .unwrap();
    assert_eq!((report.resealed, report.failed), (2, 0), "{report:?}");
    let gp2 = ring(Provider::Gopay, 2);
    let path = [PathStep::Key("sealedDeclaredIdentity".into())];
    let on_profile = inline(&t, "GOPAY_PROFILE#7001", "PROFILE", &path);
    assert!(on_profile.starts_with("v2.gopay-k2"), "{on_profile}");
    assert_eq!(
        gp2.open(&declared_identity_aad(&id, "carol"), &on_profile)
            .unwrap(),
        declared
    );
    let on_state = inline(
        &t,
        &format!("GOPAY_STATE#{state_key}"),
        "GOPAY_STATE",
        &path,
    );
    assert_eq!(
        gp2.open(&declared_identity_state_aad(state_key, "carol"), &on_state)
            .unwrap(),
        declared
    );
}

/// The provider-scoped layout: sealed values are found by item kind and bound to the customer
/// as the provider sent it (the `customerId` attribute), whether the key holds the id escaped
/// or only its digest.
#[test]
fn sealed_values_of_the_provider_scoped_layout_open_under_their_customer() {
    let xp = ring(Provider::Xpollens, 2);
    let ts = ring(Provider::TrustSign, 1);
    let long = "l".repeat(700);
    let archive = ts.seal(&archive_key_aad("s3:ev9", Some(&long)), b"incoming/x.zip");
    let items = [
        (
            kyc_core::keys::event_pk(Provider::Xpollens, "wh#9"),
            "EVENT".to_string(),
            json!({"provider": "xpollens", "eventId": "wh#9", "subject": "a#b",
                   "sealedBody": xp.seal(&EventRecord::body_aad(Provider::Xpollens, "wh#9", Some("a#b")), b"{}")}),
        ),
        (
            kyc_core::keys::customer_pk(Provider::Xpollens, "a#b"),
            "STATE".to_string(),
            json!({"customerId": "a#b", "scaEnrolment": {"ord": "1", "eventId": "wh#9", "status": "Enrolled",
                   "sealed": {"activationCode": xp.seal(&sealed_field_aad("wh#9", "activationCode", Some("a#b")), b"ACT")}}}),
        ),
        (
            kyc_core::keys::customer_pk(Provider::TrustSign, &long),
            kyc_core::keys::history_sk(kyc_core::chrono::Utc::now(), "s3:ev9"),
            json!({"customerId": long, "provider": "trust_sign", "eventId": "s3:ev9",
                   "summary": {"detail": {"archive": {"sealedKey": archive}}}}),
        ),
        (
            "XP#R#2026-11-01".to_string(),
            "2026-11-01T10:00:00.000000Z#abc".to_string(),
            json!({"bodySha256": "abc",
                   "sealedBodyPrefix": xp.seal(&kyc_core::intake::rejection_body_aad(Provider::Xpollens, "abc"), b"x")}),
        ),
    ];
    assert!(items[2].0.starts_with("TS#C#%%"), "a digest-form key");
    for (pk, sk, attributes) in items {
        let item = StoredItem {
            key: ItemKey { pk: pk.clone(), sk },
            attributes: attributes.as_object().unwrap().clone(),
        };
        let found = sealed_values(&item);
        assert_eq!(found.len(), 1, "{pk}");
        let f = &found[0];
        let sealed = value_at(&item.attributes, &f.path)
            .and_then(Value::as_str)
            .unwrap();
        let keyring = if f.provider == Provider::TrustSign {
            &ts
        } else {
            &xp
        };
        assert!(
            keyring.open(&f.aad, sealed).is_ok(),
            "{pk}: opens under its binding"
        );
    }
}
