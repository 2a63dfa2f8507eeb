//! `kyc reseal` end to end against moto: values of all three providers written by the real
//! code (Xpollens endpoint with an offloaded body, Trust & Sign processor, GoPay store) under
//! two keys each, then re-sealed under a third through the DynamoDB + S3 adapter.

use base64::Engine;
use kyc_aws::aws_config::SdkConfig;
use kyc_aws::{DynamoStore, SecretsManagerSource};
use kyc_core::crypto::{Keyring, PayloadKey};
use kyc_core::intake::{EventStore, Provider};
use kyc_core::redact::Secret;
use kyc_core::secrets::SecretSource;
use kyc_gopay::aws::store::DynamoGoPayStore;
use kyc_gopay::identification::ClientProfileId;
use kyc_gopay::store::{sealed_refresh_aad, GoPayStore, NewConsent, SealedTokens};
use kyc_integration_tests::trust_sign::*;
use kyc_integration_tests::*;
use kyc_reseal::aws::DynamoSealedItems;
use kyc_reseal::{
    run, sealed_values, FileCheckpoint, ItemKey, ResealOptions, ResealReport, SealedItems,
};
use kyc_trust_sign::aws::build_processor;
use kyc_trust_sign::plan::reveal_keys;
use serde_json::json;
use std::collections::BTreeMap;
use trust_sign_gen::{write_archive, ArchiveOptions, Kind};
use xpollens_callback::{build_endpoint, handle};

const PROVIDERS: [Provider; 3] = [Provider::Xpollens, Provider::TrustSign, Provider::Gopay];

/// Key ids and material of generation `n` (1 = what `provision` created).
fn key(provider: Provider, n: u8) -> (String, u8) {
    let (prefix, first, base) = match provider {
        Provider::Xpollens => ("xp", "test-1", 42),
        Provider::TrustSign => ("ts", "ts-1", 43),
        Provider::Gopay => ("gp", "gp-1", 44),
    };
    let id = if n == 1 {
        first.to_string()
    } else {
        format!("{prefix}-{n}")
    };
    (id, base + 10 * (n - 1))
}

fn secret_name(provider: Provider) -> &'static str {
    match provider {
        Provider::Xpollens => XPOLLENS_PAYLOAD_KEY_SECRET,
        Provider::TrustSign => TRUST_SIGN_PAYLOAD_KEY_SECRET,
        Provider::Gopay => GOPAY_PAYLOAD_KEY_SECRET,
    }
}

/// Rotates every provider's keyring to key `n`, keeping all older keys (a new secret version:
/// AWSCURRENT moves, AWSPREVIOUS keeps the previous keyring).
async fn rotate_all(config: &SdkConfig, n: u8) {
    let sm = kyc_aws::aws_sdk_secretsmanager::Client::new(config);
    for p in PROVIDERS {
        let keys: Vec<_> = (1..=n)
            .rev()
            .map(|g| {
                let (id, byte) = key(p, g);
                json!({"keyId": id, "key": base64::engine::general_purpose::STANDARD.encode([byte; 32])})
            })
            .collect();
        let mut keyring = json!({"currentKeyId": key(p, n).0, "keys": keys});
        if p == Provider::TrustSign {
            // The naming key stays what it was: a payload-key rotation renames nothing.
            keyring["namingKey"] = json!({"keyId": "ts-names-1",
                "key": base64::engine::general_purpose::STANDARD.encode([200u8; 32])});
        }
        sm.put_secret_value()
            .secret_id(secret_name(p))
            .secret_string(keyring.to_string())
            .send()
            .await
            .expect("rotate keyring");
    }
}

async fn keyring(config: &SdkConfig, provider: Provider) -> Keyring {
    let staged = SecretsManagerSource::new(config)
        .staged(secret_name(provider))
        .await
        .unwrap();
    Keyring::from_staged(&staged).unwrap()
}

/// Only the current key: what is left once the old keys are retired.
fn current_only(provider: Provider, n: u8) -> Keyring {
    let (id, byte) = key(provider, n);
    Keyring::new(PayloadKey::new(&id, [byte; 32]).unwrap(), vec![])
}

/// Writes one value set of each provider with the keyrings as they are now.
async fn write_generation(config: &SdkConfig, n: u8) {
    let s3 = s3(config);
    // Xpollens: an activation code sealed into the state, and a body large enough for S3.
    let endpoint = build_endpoint(&settings(TABLE), config).unwrap();
    let customer = format!("xp-cust-{n}");
    let activation = format!(
        r#"{{"type":"35","AppUserId":"{customer}","ActivationCode":"ACT-{n}","ErrorMessage":null,"ExtraData":{{"WebViewUrl":"https://pad.example/x?token=T-{n}"}}}}"#
    );
    let large = format!(
        r#"{{"type":"4","status":"Pending","appUserId":"{customer}","kycLevel":"{}"}}"#,
        "L".repeat(80_000)
    );
    for (i, body) in [activation, large].iter().enumerate() {
        let d = Delivery::new(
            &format!("rs-{n}-{i}"),
            &format!("12/11/2026 09:0{i}:0{n} +00:00"),
            body,
        );
        let resp = handle(&endpoint, d.request()).await.unwrap();
        assert_eq!(resp.status().as_u16(), 202);
    }
    // Trust & Sign: one archive for its customer.
    let mut bytes = Vec::new();
    let opts = ArchiveOptions {
        report_patch: Some(json!({"clientFile": {"externalId": format!("ts-cust-{n}")}})),
        ..ArchiveOptions::default()
    };
    write_archive(Kind::Full, &opts, &mut bytes).unwrap();
    let up = put(&s3, BUCKET, &format!("incoming/dossier {n}.zip"), bytes).await;
    build_processor(archive_settings(TABLE), config)
        .handle(&event(vec![record_json(BUCKET, &up)]))
        .await
        .unwrap();
    // GoPay: a consent's tokens, sealed as the consent function seals them.
    let keys = keyring(config, Provider::Gopay).await;
    let id = ClientProfileId::new(format!("900{n}")).unwrap();
    let customer = format!("gp-cust-{n}");
    let generation = 1;
    let tokens = SealedTokens {
        client_profile_id: id.as_str().into(),
        generation,
        sealed_refresh: keys.seal_secret(
            &sealed_refresh_aad(&id, generation, &customer),
            &Secret::new(format!("refresh-{n}")),
        ),
        sealed_access: keys.seal_secret(
            &kyc_gopay::store::sealed_access_aad(&id, generation, &customer),
            &Secret::new(format!("access-{n}")),
        ),
        access_expires_at: kyc_core::chrono::Utc::now(),
        customer_id: None,
        sealed_identity: None,
    };
    let now = kyc_core::chrono::Utc::now();
    let store = DynamoGoPayStore::new(kyc_aws::aws_sdk_dynamodb::Client::new(config), TABLE, 4);
    store
        .save_consent(&NewConsent {
            expected_generation: None,
            customer_id: customer,
            client_profile_id: id,
            tokens,
            sealed_identity: None,
            due_at: now,
            now,
        })
        .await
        .unwrap();
}

fn labels(report: &ResealReport, provider: Provider) -> Vec<String> {
    report.remaining[provider.as_str()]
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn reseal_moves_all_three_providers_from_two_old_keys_to_the_current_one() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    create_bucket(&s3(&config), BUCKET, true).await;
    write_generation(&config, 1).await;
    rotate_all(&config, 2).await;
    write_generation(&config, 2).await;
    rotate_all(&config, 3).await;

    let mut rings = BTreeMap::new();
    for p in PROVIDERS {
        rings.insert(p, keyring(&config, p).await);
    }
    let items = DynamoSealedItems::new(&config, TABLE);
    let dir = std::env::temp_dir().join(format!("kyc-reseal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let checkpoint = FileCheckpoint(dir.join("checkpoint.json"));
    let options = ResealOptions {
        providers: PROVIDERS.into_iter().collect(),
        dry_run: true,
        page_size: 4,
    };

    let dry = run(&items, &checkpoint, &rings, &options, &|_| {})
        .await
        .unwrap();
    assert_eq!(dry.would_reseal, dry.sealed_values);
    assert_eq!(dry.failed, 0, "{:?}", dry.failures);
    for p in PROVIDERS {
        let (k1, k2) = (key(p, 1).0, key(p, 2).0);
        assert_eq!(
            labels(&dry, p),
            [format!("v2.{k1}"), format!("v2.{k2}")],
            "{p:?}"
        );
    }

    let report = run(
        &items,
        &checkpoint,
        &rings,
        &ResealOptions {
            dry_run: false,
            ..options.clone()
        },
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.resealed, dry.would_reseal);
    assert_eq!((report.failed, report.lost_races), (0, 0));
    for p in PROVIDERS {
        assert_eq!(labels(&report, p), [format!("v2.{}", key(p, 3).0)]);
        assert_eq!(report.retirable[p.as_str()], [key(p, 2).0, key(p, 1).0]);
    }
    assert!(
        !checkpoint.0.exists(),
        "a complete run removes its checkpoint"
    );

    // Every sealed value in the table (and the offloaded bodies) opens with the current keys
    // alone: the old ones can be retired.
    let only3: BTreeMap<Provider, Keyring> = PROVIDERS
        .into_iter()
        .map(|p| (p, current_only(p, 3)))
        .collect();
    let (mut after, mut checked, mut offloaded) = (None::<ItemKey>, 0, 0);
    loop {
        let page = items.page(after.as_ref(), 25).await.unwrap();
        for item in &page.items {
            for found in sealed_values(item) {
                let at = kyc_reseal::value_at(&item.attributes, &found.path)
                    .and_then(|v| v.as_str())
                    .unwrap()
                    .to_string();
                let sealed = match found.place {
                    kyc_reseal::Place::Inline => at,
                    kyc_reseal::Place::Offloaded => {
                        offloaded += 1;
                        items.read_body(&at).await.unwrap()
                    }
                };
                only3[&found.provider]
                    .open(&found.aad, &sealed)
                    .unwrap_or_else(|e| panic!("{} {:?}: {e}", item.key.pk, found.path));
                checked += 1;
            }
        }
        match page.last {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    assert_eq!(checked as u64, report.sealed_values);
    assert_eq!(offloaded, 2, "one large Xpollens body per generation");

    // The readers still work: an operator's --reveal of a Trust & Sign archive key, and the
    // GoPay refresh token the sync would use.
    let store = DynamoStore::new(&config, TABLE);
    let states = store.provider_states("ts-cust-1").await.unwrap();
    let (_, stream) = states[&Provider::TrustSign].streams.iter().next().unwrap();
    let mut detail = stream.detail.clone();
    assert_eq!(
        reveal_keys(
            &only3[&Provider::TrustSign],
            &stream.event_id,
            Some("ts-cust-1"),
            &mut detail
        ),
        Ok(1)
    );
    assert_eq!(detail["archive"]["key"], "incoming/dossier 1.zip");
    let gopay = DynamoGoPayStore::new(kyc_aws::aws_sdk_dynamodb::Client::new(&config), TABLE, 4);
    let id = ClientProfileId::new("9001").unwrap();
    let profile = gopay.profile(&id).await.unwrap().unwrap();
    let refresh = only3[&Provider::Gopay]
        .open(
            &sealed_refresh_aad(&id, profile.token_gen, "gp-cust-1"),
            profile.sealed_refresh.as_ref().unwrap(),
        )
        .unwrap();
    assert_eq!(refresh, b"refresh-1");

    // Idempotent: a second run changes nothing and says so.
    let again = run(
        &items,
        &checkpoint,
        &rings,
        &ResealOptions {
            dry_run: false,
            ..options
        },
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(again.resealed, 0);
    assert_eq!(again.already_current, report.sealed_values);
    assert!(
        again.message.starts_with("nothing to re-seal"),
        "{}",
        again.message
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Evidence (issue 27): values re-sealed after their hour was sealed change no leaf — `kyc
/// verify` stays clean — while the history items that hold them were rewritten.
#[tokio::test]
async fn a_reseal_after_the_hourly_seal_verifies_clean() {
    use kyc_evidence::aws::{lock_mode, DynamoHistory, S3Digests};
    use kyc_evidence::seal::{run as seal, HistorySource, SealSettings};
    use kyc_evidence::verify::{hours_between, verify};
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    create_bucket(&s3(&config), BUCKET, true).await;
    // The hour the writes fall in (the seal below seals it, and nothing later).
    let started = kyc_integration_tests::an_hour_with_room(60).await;
    write_generation(&config, 1).await;
    let evidence = "kyc-hooks-evidence-reseal";
    kyc_integration_tests::create_locked_bucket(&s3(&config), evidence).await;
    let history = DynamoHistory::new(kyc_aws::aws_sdk_dynamodb::Client::new(&config), TABLE);
    let digests = S3Digests {
        client: kyc_aws::s3_client(&config),
        bucket: evidence.into(),
        lock_mode: lock_mode("GOVERNANCE").unwrap(),
        lock_days: 1,
    };
    let now = kyc_core::chrono::Utc::now();
    let sealed = seal(
        &history,
        &digests,
        SealSettings::default(),
        kyc_integration_tests::sealing_time(started),
    )
    .await
    .unwrap();
    assert!(sealed.entries > 0);
    let hours = hours_between(started, now);
    // The history holds sealed values (Trust & Sign archive keys) under the first key.
    let sealed_text = |key: &'static str| {
        let history = &history;
        let hours = hours.clone();
        async move {
            let mut n = 0;
            for h in &hours {
                for e in history.entries_of_hour(h).await.unwrap() {
                    n += e.item.to_string().matches(&format!("v2.{key}.")).count();
                }
            }
            n
        }
    };
    let before = sealed_text("ts-1").await;
    assert!(before > 0, "history entries hold sealed values");

    rotate_all(&config, 2).await;
    let mut rings = BTreeMap::new();
    for p in PROVIDERS {
        rings.insert(p, keyring(&config, p).await);
    }
    let dir = std::env::temp_dir().join(format!("kyc-reseal-evidence-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = run(
        &DynamoSealedItems::new(&config, TABLE),
        &FileCheckpoint(dir.join("checkpoint.json")),
        &rings,
        &ResealOptions {
            providers: PROVIDERS.into_iter().collect(),
            dry_run: false,
            page_size: 4,
        },
        &|_| {},
    )
    .await
    .unwrap();
    assert!(report.resealed > 0, "{report:?}");
    assert_eq!(sealed_text("ts-1").await, 0, "every one re-sealed");
    assert_eq!(sealed_text("ts-2").await, before);
    let r = verify(&history, &digests, &hours).await.unwrap();
    assert!(r.is_clean(), "{:?}", r.tampering);
    assert_eq!(r.leaves_checked, sealed.entries);
}
