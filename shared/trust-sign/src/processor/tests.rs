use super::*;
use chrono::TimeZone;
use kyc_core::crypto::{NamingKey, PayloadKey};
use kyc_core::intake::{MemoryStore, Provider};
use kyc_core::secrets::StaticSecrets;
use trust_sign_gen::{archive_bytes, write_archive, ArchiveOptions, Kind};

const BUCKET: &str = "archives";

fn settings() -> Settings {
    Settings {
        table: "t".into(),
        payload_key_secret: "k".into(),
        archive_prefix: "incoming/".into(),
        processed_prefix: "processed/".into(),
        quarantine_prefix: "quarantine/".into(),
        link_key: LinkKey::ExternalId,
        legacy_keys: Default::default(),
        limits: Limits::default(),
        reading: Default::default(),
        secret_ttl: Duration::from_secs(300),
    }
}

struct Twins {
    archives: Arc<MemoryArchives>,
    store: Arc<MemoryStore>,
    processor: Processor,
}

fn naming() -> NamingKey {
    NamingKey::new("n1", [8; 32]).unwrap()
}

fn twins() -> Twins {
    let archives = Arc::new(MemoryArchives::default());
    let store = Arc::new(MemoryStore::default());
    let keys =
        Keyring::new(PayloadKey::new("t", [7; 32]).unwrap(), vec![]).with_naming_key(naming());
    let processor = Processor {
        sources: archives.clone(),
        objects: archives.clone(),
        store: store.clone(),
        keys: Keyring::cached(
            Arc::new(StaticSecrets(Default::default())),
            "k",
            Duration::from_secs(300),
        )
        .preloaded(keys),
        settings: settings(),
        clock: Arc::new(|| Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0).unwrap()),
    };
    Twins {
        archives,
        store,
        processor,
    }
}

fn notification(key: &str, version: &str) -> Notification {
    Notification {
        event_name: Some("ObjectCreated:Put".into()),
        bucket: Some(BUCKET.into()),
        key: Some(key.replace(' ', "+")),
        version_id: Some(version.into()),
        etag: Some("\"e\"".into()),
        size: None,
    }
}

fn customer(kind: Kind, customer: &str) -> Vec<u8> {
    let mut v = Vec::new();
    let opts = ArchiveOptions {
        report_patch: Some(serde_json::json!({"clientFile": {"externalId": customer}})),
        ..ArchiveOptions::default()
    };
    write_archive(kind, &opts, &mut v).unwrap();
    v
}

#[tokio::test]
async fn a_valid_archive_is_copied_then_recorded_once() {
    let t = twins();
    t.archives
        .insert(BUCKET, "incoming/a b.zip", "v1", customer(Kind::Full, "c1"));
    let n = notification("incoming/a b.zip", "v1");
    let r = t.processor.handle(&[n.clone(), n]).await.unwrap();
    let RecordResult::Processed {
        event_id, outcome, ..
    } = &r[0]
    else {
        panic!("{r:?}")
    };
    assert_eq!(outcome, &Outcome::Applied);
    assert!(matches!(
        &r[1],
        RecordResult::Processed {
            outcome: Outcome::Duplicate,
            ..
        }
    ));
    let states = t.store.provider_states("c1").await.unwrap();
    let stream = states[&Provider::TrustSign]
        .streams
        .values()
        .next()
        .unwrap();
    assert_eq!(&stream.event_id, event_id);
    let processed = stream.detail["processedKey"].as_str().unwrap();
    let copy = t.archives.object(BUCKET, processed).unwrap();
    assert!(serde_json::from_slice::<serde_json::Value>(&copy).is_ok());
    assert_eq!(t.store.event_count(), 1);
}

#[tokio::test]
async fn a_bad_archive_is_quarantined_then_recorded_failed() {
    let t = twins();
    t.archives.insert(
        BUCKET,
        "incoming/bad.zip",
        "v1",
        archive_bytes(Kind::NotZip),
    );
    let r = t
        .processor
        .handle(&[notification("incoming/bad.zip", "v1")])
        .await
        .unwrap();
    assert!(
        matches!(&r[0], RecordResult::Quarantined { reason_code, outcome: Outcome::Recorded { .. }, .. } if reason_code == "not_zip"),
        "{r:?}"
    );
    let mark = vec![(QUARANTINE_TAG.to_string(), "not_zip".to_string())];
    assert_eq!(t.archives.tags(BUCKET, "incoming/bad.zip"), mark);
    let quarantined =
        crate::plan::quarantine_key("quarantine/", "incoming/", "incoming/bad.zip", &naming());
    assert_eq!(t.archives.tags(BUCKET, &quarantined), mark);
    assert_eq!(
        t.archives.object(BUCKET, &quarantined).unwrap(),
        archive_bytes(Kind::NotZip)
    );
    assert_eq!(t.store.event_count(), 1);
}

/// A failed quarantine write is an `ArchiveWriteError`: the record fails (Lambda retries it),
/// no failure is recorded without its quarantined object, and the message names no key.
#[tokio::test]
async fn a_failed_quarantine_is_retried_and_records_nothing() {
    let t = twins();
    let key = "incoming/1_corinne_berthier.zip";
    t.archives
        .insert(BUCKET, key, "v1", archive_bytes(Kind::NotZip));
    let n = [notification(key, "v1")];
    t.archives.fail_writes(true);
    let err = t.processor.handle(&n).await.unwrap_err().to_string();
    assert!(err.contains("quarantine: S3 write failed"), "{err}");
    assert!(!err.contains("corinne"), "{err}");
    assert_eq!(t.store.event_count(), 0);
    t.archives.fail_writes(false);
    let r = t.processor.handle(&n).await.unwrap();
    assert!(matches!(&r[0], RecordResult::Quarantined { .. }), "{r:?}");
    assert_eq!(t.store.event_count(), 1);
}

/// Issue 21: without a naming key no quarantine copy gets a reversible name: the record fails
/// (retried) and nothing is copied, tagged or recorded; good archives still go through.
#[tokio::test]
async fn without_a_naming_key_a_bad_archive_is_retried_not_copied_under_a_reversible_name() {
    let mut t = twins();
    t.processor.keys = Keyring::cached(
        Arc::new(StaticSecrets(Default::default())),
        "k",
        Duration::from_secs(300),
    )
    .preloaded(Keyring::new(PayloadKey::new("t", [7; 32]).unwrap(), vec![]));
    let key = "incoming/1_corinne_berthier.zip";
    t.archives
        .insert(BUCKET, key, "v1", archive_bytes(Kind::NotZip));
    let err = t
        .processor
        .handle(&[notification(key, "v1")])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no namingKey"), "{err}");
    assert!(!err.contains("corinne"), "{err}");
    assert_eq!(t.store.event_count(), 0);
    assert!(t.archives.tags(BUCKET, key).is_empty());
    t.archives.insert(
        BUCKET,
        "incoming/good.zip",
        "v1",
        customer(Kind::Full, "c9"),
    );
    let r = t
        .processor
        .handle(&[notification("incoming/good.zip", "v1")])
        .await
        .unwrap();
    assert!(matches!(&r[0], RecordResult::Processed { .. }), "{r:?}");
}

#[tokio::test]
async fn transient_failures_record_nothing_and_a_retry_applies_once() {
    let t = twins();
    t.archives
        .insert(BUCKET, "incoming/t.zip", "v1", customer(Kind::Full, "c2"));
    let n = [notification("incoming/t.zip", "v1")];
    t.archives.fail_reads(true);
    assert!(t.processor.handle(&n).await.is_err());
    t.archives.fail_reads(false);
    // The processed copy fails: nothing is recorded (the copy comes first).
    t.archives.fail_writes(true);
    let err = t.processor.handle(&n).await.unwrap_err();
    assert!(err.to_string().contains("processed copy"), "{err}");
    assert_eq!(t.store.event_count(), 0);
    t.archives.fail_writes(false);
    let r = t.processor.handle(&n).await.unwrap();
    assert!(matches!(
        &r[0],
        RecordResult::Processed {
            outcome: Outcome::Applied,
            ..
        }
    ));
    assert_eq!(t.store.history("c2").await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_version_gone_before_it_is_read_records_nothing() {
    let t = twins();
    t.archives
        .insert(BUCKET, "incoming/g.zip", "v2", customer(Kind::Full, "c3"));
    let r = t
        .processor
        .handle(&[notification("incoming/g.zip", "v1")])
        .await
        .unwrap();
    assert!(matches!(r[0], RecordResult::Gone { .. }), "{r:?}");
    assert_eq!(t.store.event_count(), 0);
}

#[tokio::test]
async fn foreign_objects_and_events_are_skipped() {
    let t = twins();
    let mut removed = notification("incoming/a.zip", "v1");
    removed.event_name = Some("ObjectRemoved:Delete".into());
    let r = t
        .processor
        .handle(&[
            notification("incoming/notes.json", "v1"),
            notification("processed/a.zip", "v1"),
            notification("incoming/bad%zz.zip", "v1"),
            removed,
        ])
        .await
        .unwrap();
    assert!(r.iter().all(|r| matches!(r, RecordResult::Skipped { .. })));
    assert_eq!(t.store.event_count(), 0);
}

#[test]
fn keys_are_url_decoded_form_style() {
    assert_eq!(
        decode_key("incoming/dossier+2024%2F06+%C3%A9t%C3%A9.zip").as_deref(),
        Some("incoming/dossier 2024/06 été.zip")
    );
    assert_eq!(decode_key("a%2Bb").as_deref(), Some("a+b"));
    assert_eq!(decode_key("bad%2"), None);
    assert_eq!(decode_key("bad%zz"), None);
    assert_eq!(decode_key("%FF"), None);
}

#[test]
fn only_zip_keys_under_the_prefix_are_archives() {
    let s = settings();
    assert!(s.is_archive_key("incoming/a.zip"));
    assert!(s.is_archive_key("incoming/sub/A.ZIP"));
    assert!(!s.is_archive_key("incoming/a.json"));
    assert!(!s.is_archive_key("quarantine/incoming/a.zip"));
    assert!(!s.is_archive_key("incoming/.zip"));
}

#[test]
fn own_prefixes_must_not_overlap_the_archive_prefix() {
    assert!(settings().checked().is_ok());
    let mut s = settings();
    s.archive_prefix = String::new();
    assert!(s.checked().is_err());
    let mut s = settings();
    s.processed_prefix = "incoming/processed/".into();
    assert_eq!(
        s.checked().unwrap_err(),
        OverlappingPrefix {
            name: "PROCESSED_PREFIX"
        }
    );
}

#[tokio::test]
async fn a_batch_counts_recorded_duplicate_and_quarantined_by_reason() {
    use kyc_core::metrics::Metric;
    let t = twins();
    t.archives
        .insert(BUCKET, "incoming/a.zip", "v1", customer(Kind::Full, "c1"));
    t.archives.insert(
        BUCKET,
        "incoming/dossier jean_dupont.zip",
        "v1",
        archive_bytes(Kind::NotZip),
    );
    let good = notification("incoming/a.zip", "v1");
    let bad = notification("incoming/dossier jean_dupont.zip", "v1");
    let skipped = notification("elsewhere/x.zip", "v1");
    let r = t
        .processor
        .handle(&[good.clone(), good, bad, skipped])
        .await
        .unwrap();
    let m = metrics(&r);
    assert_eq!(m.total(Metric::EventsRecorded), 2.0, "{r:?}");
    assert_eq!(m.total(Metric::Duplicates), 1.0);
    assert_eq!(m.for_reason(Metric::ArchivesQuarantined, "not_zip"), 1.0);
    // The dimension is the reason code: nothing of the key reaches a metric line.
    let lines = kyc_core::metrics::emf_lines(&m, "trust-sign-archive", Utc::now()).join("\n");
    assert!(
        !lines.contains("dupont") && !lines.contains("dossier"),
        "{lines}"
    );
}

#[test]
fn settings_from_the_environment_fail_on_a_bad_value_naming_it() {
    use kyc_core::config::Env;
    let base = [("TABLE_NAME", "t"), ("PAYLOAD_KEY_SECRET", "k")];
    let with = |extra: &[(&str, &str)]| {
        let mut all = base.to_vec();
        all.extend_from_slice(extra);
        Settings::from_env(&Env::from_pairs(&all))
    };
    let s = with(&[]).unwrap();
    assert_eq!(s.archive_prefix, "incoming/");
    assert_eq!(s.link_key, LinkKey::ExternalId);
    assert_eq!(s.limits.max_report_size, 64 * 1024 * 1024);
    for (name, bad) in [
        ("MAX_REPORT_BYTES", "64MiB"),
        ("MAX_REPORT_BYTES", "134217728"),
        ("LINK_KEY", "recordId"),
        ("PROCESSED_PREFIX", "incoming/done/"),
        ("QUARANTINE_PREFIX", "incoming/"),
        ("SECRET_CACHE_TTL_SECONDS", "five"),
    ] {
        let e = with(&[(name, bad)]).unwrap_err();
        assert_eq!(e.name(), name, "{bad}");
        assert!(!e.to_string().contains(bad), "{e}");
    }
    assert_eq!(
        with(&[]).map(|s| s.secret_ttl),
        Ok(Duration::from_secs(300))
    );
    assert_eq!(
        Settings::from_env(&Env::from_pairs(&[("TABLE_NAME", "t")]))
            .unwrap_err()
            .name(),
        "PAYLOAD_KEY_SECRET"
    );
}

#[test]
fn a_transient_archive_failure_is_retryable() {
    use kyc_core::invocation::InvocationError;
    let e: InvocationError = Transient("record 0: S3".into()).into();
    assert_eq!(e, InvocationError::Retryable("record 0: S3".into()));
}

// --- Issue 23 ---

/// The event store's twin, refusing (as DynamoDB does for an item past 400 KB) every record
/// whose event summary or state detail serialises past `limit` bytes.
struct SizeLimitedStore {
    inner: MemoryStore,
    limit: usize,
    refusals: Mutex<usize>,
}

#[async_trait]
impl EventStore for SizeLimitedStore {
    async fn record(&self, plan: &kyc_core::intake::WritePlan) -> Result<Outcome, StoreError> {
        let size = plan.event.summary.to_string().len()
            + plan
                .patch
                .as_ref()
                .map_or(0, |p| p.value.detail.to_string().len());
        if size > self.limit {
            *self.refusals.lock().unwrap() += 1;
            return Err(StoreError::Refused(
                "Item size has exceeded the maximum allowed size".into(),
            ));
        }
        self.inner.record(plan).await
    }
    async fn record_rejection(&self, r: &kyc_core::intake::Rejection) -> Result<(), StoreError> {
        self.inner.record_rejection(r).await
    }
    async fn provider_states(
        &self,
        subject: &str,
    ) -> Result<BTreeMap<Provider, kyc_core::kyc_state::ProviderState>, StoreError> {
        self.inner.provider_states(subject).await
    }
    async fn history(
        &self,
        subject: &str,
    ) -> Result<Vec<kyc_core::intake::HistoryEntry>, StoreError> {
        self.inner.history(subject).await
    }
    async fn erased(
        &self,
        guard: &str,
        at: kyc_core::chrono::DateTime<kyc_core::chrono::Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.erased(guard, at).await
    }
}

fn limited(limit: usize) -> (Twins, Arc<SizeLimitedStore>) {
    let mut t = twins();
    let store = Arc::new(SizeLimitedStore {
        inner: MemoryStore::default(),
        limit,
        refusals: Mutex::new(0),
    });
    t.processor.store = store.clone();
    (t, store)
}

#[tokio::test]
async fn a_record_refused_for_its_size_is_stored_minimal_never_retried() {
    // The full record of `full` is a few tens of KB; the minimal one a few KB.
    let (t, store) = limited(6 * 1024);
    t.archives
        .insert(BUCKET, "incoming/a.zip", "v1", customer(Kind::Full, "c1"));
    let r = t
        .processor
        .handle(&[notification("incoming/a.zip", "v1")])
        .await
        .expect("a refusal for size is not a transient failure");
    let RecordResult::Processed {
        outcome, minimal, ..
    } = &r[0]
    else {
        panic!("{r:?}")
    };
    assert_eq!((outcome, *minimal), (&Outcome::Applied, true));
    assert_eq!(*store.refusals.lock().unwrap(), 1);
    let states = store.provider_states("c1").await.unwrap();
    let stream = states[&Provider::TrustSign]
        .streams
        .values()
        .next()
        .unwrap();
    assert_eq!(stream.status, "ACCEPTED");
    assert!(stream.detail.get("participants").is_none());

    // Refused even minimal: tagged, recorded failed, the invocation succeeds (no retry).
    let (t, store) = limited(1024);
    t.archives
        .insert(BUCKET, "incoming/a.zip", "v1", customer(Kind::Full, "c1"));
    let r = t
        .processor
        .handle(&[notification("incoming/a.zip", "v1")])
        .await
        .unwrap();
    assert!(
        matches!(&r[0], RecordResult::Quarantined { reason_code, .. } if reason_code == "item_too_large"),
        "{r:?}"
    );
    assert_eq!(
        t.archives.tags(BUCKET, "incoming/a.zip"),
        vec![(QUARANTINE_TAG.to_string(), "item_too_large".to_string())]
    );
    assert_eq!(*store.refusals.lock().unwrap(), 2);
    assert_eq!(store.inner.event_count(), 1);
}

#[tokio::test]
async fn a_huge_non_v6_version_is_recorded_by_its_type_only() {
    let t = twins();
    t.archives.insert(
        BUCKET,
        "incoming/v.zip",
        "v1",
        archive_bytes(Kind::VersionHuge),
    );
    let r = t
        .processor
        .handle(&[notification("incoming/v.zip", "v1")])
        .await
        .unwrap();
    assert!(
        matches!(&r[0], RecordResult::Quarantined { reason_code, .. } if reason_code == "report_not_v6"),
        "{r:?}"
    );
    let day = t.store.history("TS#U#2026-11-22").await.unwrap();
    let summary = day[0].summary.to_string();
    assert!(summary.len() < 4 * 1024, "{}", summary.len());
    assert!(summary.contains(r#"the string \"5.99999"#), "{summary}");
}

#[tokio::test]
async fn a_deflate_bomb_in_external_info_is_clipped_and_the_archive_processed() {
    let t = twins();
    t.archives.insert(
        BUCKET,
        "incoming/bomb.zip",
        "v1",
        archive_bytes(Kind::ExternalInfoBomb),
    );
    let r = t
        .processor
        .handle(&[notification("incoming/bomb.zip", "v1")])
        .await
        .unwrap();
    let RecordResult::Processed { outcome, .. } = &r[0] else {
        panic!("{r:?}")
    };
    assert_eq!(outcome, &Outcome::Applied);
    let history = t
        .store
        .history(trust_sign_gen::scenarios::EXTERNAL_ID)
        .await
        .unwrap();
    let summary = &history[0].summary;
    // externalInfo: keys only, the bomb noted as a clipped value.
    let keys = &summary["analysis"]["summary"]["externalInfoKeys"];
    assert_eq!(keys, &serde_json::json!(["bomb", "channel", "customerId"]));
    let mismatches = &summary["analysis"]["summary"]["typeMismatches"];
    assert_eq!(mismatches["located"][0]["path"], "clientFile.externalInfo");
    assert_eq!(mismatches["located"][0]["found"], "clipped");
}

#[tokio::test]
async fn external_info_values_never_reach_summaries_or_history() {
    let t = twins();
    let mut bytes = Vec::new();
    let opts = ArchiveOptions {
        report_patch: Some(serde_json::json!({"clientFile": {"externalInfo": {
            "advisorNote": "client Jean-Michel Planté, né le 03/04/1971", "customerId": "customer-0042"}}})),
        ..ArchiveOptions::default()
    };
    write_archive(Kind::Full, &opts, &mut bytes).unwrap();
    t.archives.insert(BUCKET, "incoming/i.zip", "v1", bytes);
    t.processor
        .handle(&[notification("incoming/i.zip", "v1")])
        .await
        .unwrap();
    let history = t
        .store
        .history(trust_sign_gen::scenarios::EXTERNAL_ID)
        .await
        .unwrap();
    let states = t
        .store
        .provider_states(trust_sign_gen::scenarios::EXTERNAL_ID)
        .await
        .unwrap();
    let stored = format!(
        "{} {}",
        history[0].summary,
        states[&Provider::TrustSign]
            .streams
            .values()
            .map(|v| serde_json::to_string(v).unwrap())
            .collect::<String>()
    );
    assert!(
        !stored.contains("Planté") && !stored.contains("1971"),
        "{stored}"
    );
    assert!(stored.contains("advisorNote"));
}

#[tokio::test]
async fn fraud_marks_and_unknown_review_outcomes_flag_the_state_and_are_counted() {
    let t = twins();
    t.archives.insert(
        BUCKET,
        "incoming/f.zip",
        "v1",
        archive_bytes(Kind::FraudMarked),
    );
    t.archives.insert(
        BUCKET,
        "incoming/r.zip",
        "v1",
        customer(Kind::FaceMatchOverturned, "c2"),
    );
    let r = t
        .processor
        .handle(&[
            notification("incoming/f.zip", "v1"),
            notification("incoming/r.zip", "v1"),
        ])
        .await
        .unwrap();
    let states = t
        .store
        .provider_states(trust_sign_gen::scenarios::EXTERNAL_ID)
        .await
        .unwrap();
    let stream = states[&Provider::TrustSign]
        .streams
        .values()
        .next()
        .unwrap();
    assert_eq!(
        stream.flags,
        vec![
            "fraudMarked".to_string(),
            format!(
                "fraudMarkedParticipant:{}",
                trust_sign_gen::scenarios::CORINNE
            ),
        ]
    );
    assert_eq!(stream.detail["fraudMarked"], true);
    assert_eq!(stream.detail["participants"][0]["fraudMarked"], true);
    assert_eq!(
        stream.detail["participants"][0]["checks"][0]["reason"],
        "fraudMarked"
    );
    let states = t.store.provider_states("c2").await.unwrap();
    let stream = states[&Provider::TrustSign]
        .streams
        .values()
        .next()
        .unwrap();
    assert_eq!(stream.flags, vec!["reviewedOutcomeUnknown".to_string()]);
    assert_eq!(
        stream.detail["participants"][0]["checks"][0]["outcome"],
        "reviewed_outcome_unknown"
    );
    let batch = metrics(&r);
    use kyc_core::metrics::Metric;
    assert_eq!(batch.total(Metric::ReviewOutcomeUnknown), 1.0);
    assert_eq!(batch.total(Metric::FraudMarkedFiles), 1.0);
    // A duplicate delivery counts neither again.
    let again = t
        .processor
        .handle(&[notification("incoming/r.zip", "v1")])
        .await
        .unwrap();
    assert_eq!(metrics(&again).total(Metric::ReviewOutcomeUnknown), 0.0);
}

#[tokio::test]
async fn a_report_dated_without_an_offset_reaches_the_state_read_in_the_configured_zone() {
    for (zone, at) in [
        (chrono_tz::Europe::Paris, "2024-06-18T08:00:05+00:00"),
        (chrono_tz::UTC, "2024-06-18T10:00:05+00:00"),
    ] {
        let mut t = twins();
        t.processor.settings.reading.time_zone = zone;
        let mut bytes = Vec::new();
        let opts = ArchiveOptions {
            report_patch: Some(serde_json::json!({"date": "2024-06-18T10:00:05"})),
            ..ArchiveOptions::default()
        };
        write_archive(Kind::Full, &opts, &mut bytes).unwrap();
        t.archives.insert(BUCKET, "incoming/d.zip", "v1", bytes);
        t.processor
            .handle(&[notification("incoming/d.zip", "v1")])
            .await
            .unwrap();
        let states = t
            .store
            .provider_states(trust_sign_gen::scenarios::EXTERNAL_ID)
            .await
            .unwrap();
        let stream = states[&Provider::TrustSign]
            .streams
            .values()
            .next()
            .unwrap();
        assert_eq!(stream.at.to_rfc3339(), at);
        assert!(stream.flags.contains(&"zonelessReportDate".to_string()));
        assert_eq!(stream.detail["zonelessDates"], serde_json::json!(["date"]));
    }
}

/// An archive of an erased customer (`kyc erase`) dropped into the bucket again: nothing is
/// recorded, and the report copy written before the record is removed.
#[tokio::test]
async fn an_erased_customers_archive_is_dropped_and_leaves_no_report_copy() {
    use kyc_core::erasure::{tombstone_pk, Tombstone};
    let t = twins();
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0).unwrap();
    t.store.put_tombstone(&Tombstone {
        provider: Provider::TrustSign,
        providers: vec![Provider::TrustSign],
        partition: tombstone_pk(Provider::TrustSign, &naming(), "gone"),
        erased_at: now,
        drop_until: now + chrono::Duration::days(60),
        reason: "gdprArticle17".into(),
        event_digests: vec![],
        events_erased: 0,
    });
    t.archives.insert(
        BUCKET,
        "incoming/gone.zip",
        "v1",
        customer(Kind::Full, "gone"),
    );
    t.archives.insert(
        BUCKET,
        "incoming/kept.zip",
        "v1",
        customer(Kind::Full, "kept"),
    );
    let r = t
        .processor
        .handle(&[
            notification("incoming/gone.zip", "v1"),
            notification("incoming/kept.zip", "v1"),
        ])
        .await
        .unwrap();
    assert!(
        matches!(
            &r[0],
            RecordResult::Processed {
                outcome: Outcome::ErasedSubject,
                ..
            }
        ),
        "{r:?}"
    );
    assert_eq!(t.store.event_count(), 1, "only kept's archive is recorded");
    let processed: Vec<String> = t
        .archives
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("processed/"))
        .collect();
    assert_eq!(processed.len(), 1, "{processed:?}");
    let kept = t.store.provider_states("kept").await.unwrap();
    let stream = kept[&Provider::TrustSign].streams.values().next().unwrap();
    assert_eq!(stream.detail["processedKey"], processed[0].as_str());
}
