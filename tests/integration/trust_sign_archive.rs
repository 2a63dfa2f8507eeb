//! Trust & Sign archives end to end: generated archives uploaded to a moto S3 bucket, the real
//! function's processor on real S3 notifications, DynamoDB through the real store.

use kyc_aws::aws_sdk_dynamodb::types::AttributeValue;
use kyc_aws::aws_sdk_dynamodb::Client as Ddb;
use kyc_aws::aws_sdk_s3::Client as S3;
use kyc_aws::DynamoStore;
use kyc_core::intake::{EventStore, Outcome, Provider};
use kyc_core::kyc_state::{SkipReason, Stream};
use kyc_integration_tests::trust_sign::*;
use kyc_integration_tests::*;
use kyc_trust_sign::aws::build_processor;
use kyc_trust_sign::plan::QUARANTINE_TAG;
use kyc_trust_sign::processor::{Processor, RecordResult};
use kyc_trust_sign::{analyze_archive, Limits, MemorySource};
use serde_json::{json, Value};
use trust_sign_gen::{write_archive, ArchiveOptions, Kind, NUMERIC_EXTERNAL_ID};

struct Stack {
    _moto: Moto,
    config: kyc_aws::aws_config::SdkConfig,
    s3: S3,
    processor: Processor,
    store: DynamoStore,
}

async fn stack(versioned: bool) -> Stack {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let s3 = s3(&config);
    create_bucket(&s3, BUCKET, versioned).await;
    let processor = build_processor(
        archive_settings(TABLE),
        &moto.sdk_config_for(Function::TrustSignArchive).await,
    );
    let store = DynamoStore::new(&config, TABLE);
    Stack {
        _moto: moto,
        config,
        s3,
        processor,
        store,
    }
}

fn archive(kind: Kind, patch: Option<Value>) -> Vec<u8> {
    let mut v = Vec::new();
    let opts = ArchiveOptions {
        report_patch: patch,
        ..ArchiveOptions::default()
    };
    write_archive(kind, &opts, &mut v).unwrap();
    v
}

/// The customer a kind's archive is linked to: one per kind, so kinds do not compete for the
/// same client-file stream.
fn customer_patch(customer: &str) -> Value {
    json!({"clientFile": {"externalId": customer}})
}

async fn object_bytes(s3: &S3, key: &str) -> Option<Vec<u8>> {
    let out = s3.get_object().bucket(BUCKET).key(key).send().await.ok()?;
    Some(out.body.collect().await.unwrap().into_bytes().to_vec())
}

async fn event_item(config: &kyc_aws::aws_config::SdkConfig, event_id: &str) -> Value {
    let item = Ddb::new(config)
        .get_item()
        .table_name(TABLE)
        .key(
            "PK",
            AttributeValue::S(kyc_core::keys::event_pk(
                kyc_core::intake::Provider::TrustSign,
                event_id,
            )),
        )
        .key("SK", AttributeValue::S("EVENT".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_else(|| panic!("event {event_id} not recorded"));
    kyc_aws::attribute::from_attribute(AttributeValue::M(item)).unwrap()
}

fn processed(r: &RecordResult) -> (&str, &Outcome) {
    match r {
        RecordResult::Processed {
            event_id, outcome, ..
        } => (event_id, outcome),
        other => panic!("expected Processed, got {other:?}"),
    }
}

#[tokio::test]
async fn every_valid_archive_kind_is_stored_against_its_client_file_and_customer() {
    let st = stack(true).await;
    // The external-info bomb (a 63 MiB report) is processed by the processor's twin tests and
    // the report-at-the-limit bench, not uploaded to moto here.
    let valid: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| k.is_valid() && *k != Kind::ExternalInfoBomb)
        .collect();
    assert_eq!(valid.len(), 19);
    for kind in valid {
        let customer = format!("cust-{}", kind.name());
        let bytes = archive(kind, Some(customer_patch(&customer)));
        let local = analyze_archive(&MemorySource(bytes.clone()), &Limits::default())
            .await
            .unwrap();
        let up = put(
            &st.s3,
            BUCKET,
            &format!("incoming/{}.zip", kind.name()),
            bytes,
        )
        .await;
        let results = st
            .processor
            .handle(&event(vec![record_json(BUCKET, &up)]))
            .await
            .unwrap();
        let (event_id, outcome) = processed(&results[0]);
        assert_eq!(outcome, &Outcome::Applied, "{kind:?}");

        // State: one stream per client file, under the customer the link key names.
        let uuid = local.summary.client_file_uuid.clone().unwrap();
        let states = st.store.provider_states(&customer).await.unwrap();
        let stream = Stream::named(format!("clientFile#{uuid}")).unwrap();
        let v = states[&Provider::TrustSign].stream(&stream).unwrap();
        assert_eq!(
            Some(v.status.as_str()),
            local.summary.state.as_deref(),
            "{kind:?}"
        );
        assert_eq!(v.event_id, *event_id);
        assert_eq!(v.detail["recordId"], json!(local.summary.record_id));
        assert_eq!(v.detail["decision"], json!(local.summary.decision));
        assert_eq!(
            v.detail["manifest"]["complete"],
            json!(local.manifest.is_complete()),
            "{kind:?}"
        );
        let participants = v.detail["participants"].as_array().unwrap();
        assert_eq!(participants.len(), local.summary.participants.len());
        if matches!(kind, Kind::FaceMatchOverturned | Kind::FaceMatchNested) {
            // Failed automatically, then reviewed by an operator whose decision the report
            // does not spell in a field the bank configured: a person decides.
            let checks = participants[0]["checks"].as_array().unwrap();
            assert!(
                checks.iter().any(
                    |c| c["kind"] == "face_match" && c["outcome"] == "reviewed_outcome_unknown"
                ),
                "{checks:?}"
            );
            assert_eq!(v.flags, vec!["reviewedOutcomeUnknown".to_string()]);
        }
        if kind == Kind::FraudMarked {
            // A fraud mark fails the card whatever its validation and review say, and flags
            // the participant and the file in the state and its state-change event.
            let checks = participants[0]["checks"].as_array().unwrap();
            assert_eq!(checks[0]["reason"], "fraudMarked", "{checks:?}");
            assert_eq!(participants[0]["fraudMarked"], true);
            assert_eq!(v.detail["fraudMarked"], true);
            assert_eq!(
                v.flags,
                vec![
                    "fraudMarked".to_string(),
                    format!(
                        "fraudMarkedParticipant:{}",
                        participants[0]["uuid"].as_str().unwrap()
                    )
                ]
            );
        }
        if kind == Kind::FaceMatchNested {
            // Both nested face matches judged, the review linked to the first.
            let item = event_item(&st.config, event_id).await;
            let analysis = &item["summary"]["analysis"]["summary"];
            let checks = analysis["participants"][0]["identity_checks"]
                .as_array()
                .unwrap();
            let outcomes: Vec<_> = checks
                .iter()
                .filter(|c| c["kind"] == "face_match")
                .map(|c| {
                    (
                        c["locator"].as_str().unwrap(),
                        c["outcome"].as_str().unwrap(),
                    )
                })
                .collect();
            let base = "clientFile.participants[0].identityChecks[0].faceMatch";
            assert_eq!(
                outcomes,
                vec![
                    (
                        &*format!("{base}.faceMatches[0]"),
                        "reviewed_outcome_unknown"
                    ),
                    (&*format!("{base}.faceMatches[1]"), "passed")
                ]
            );
            assert_eq!(analysis["unlinkedReviews"], json!([]));
            // idPhotoMatch is only in the reference's example: judged, marked inferred.
            let failed =
                &checks.iter().find(|c| c["kind"] == "face_match").unwrap()["failed_controls"][0];
            assert_eq!(failed["control"], "idPhotoMatch");
            assert_eq!(failed["basis"], "inferred");
        }

        // The raw report.json, byte for byte, under the processed prefix.
        let key = v.detail["processedKey"].as_str().unwrap();
        assert!(key.starts_with(&format!("processed/{uuid}/")), "{key}");
        assert_eq!(object_bytes(&st.s3, key).await.unwrap(), local.report_json);

        // The event keeps the full redacted analysis; the history names the outcome.
        let item = event_item(&st.config, event_id).await;
        assert_eq!(item["eventType"], "archive");
        assert_eq!(item["outcome"], "applied");
        assert_eq!(
            item["summary"]["analysis"]["summary"]["clientFileUuid"],
            json!(uuid)
        );
        let history = st.store.history(&customer).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].outcome, "applied");
    }
}

#[tokio::test]
async fn every_bad_archive_is_recorded_with_its_reason_and_quarantined() {
    let st = stack(true).await;
    let expected = [
        (Kind::NotZip, "not_zip"),
        (Kind::Truncated, "truncated"),
        (Kind::NoReport, "no_report"),
        (Kind::ReportNotJson, "report_not_json"),
        (Kind::ReportNotV6, "report_not_v6"),
        (Kind::Encrypted, "encrypted_entry"),
        (Kind::ZipBomb, "size_limit_exceeded"),
        (Kind::ZipBombLying, "size_limit_exceeded"),
        (Kind::DotDotName, "unsafe_entry_name"),
        (Kind::AbsoluteName, "unsafe_entry_name"),
        (Kind::UnsupportedCompression, "unsupported_compression"),
        (Kind::VersionHuge, "report_not_v6"),
    ];
    let keys = trust_sign_keyring(&st.config).await;
    let bad: Vec<Kind> = Kind::ALL.into_iter().filter(|k| !k.is_valid()).collect();
    assert_eq!(
        bad.len(),
        expected.len(),
        "a bad kind is missing from this test"
    );
    for (kind, code) in expected {
        let key = format!("incoming/bad {}.zip", kind.name());
        let up = put(&st.s3, BUCKET, &key, archive(kind, None)).await;
        // The invocation succeeds: retrying cannot fix a bad archive.
        let results = st
            .processor
            .handle(&event(vec![record_json(BUCKET, &up)]))
            .await
            .unwrap();
        let RecordResult::Quarantined {
            event_id,
            reason_code,
            outcome,
        } = &results[0]
        else {
            panic!("{kind:?}: {:?}", results[0]);
        };
        assert_eq!(reason_code, code, "{kind:?}");
        assert!(matches!(outcome, Outcome::Recorded { .. }), "{outcome:?}");

        // Recorded with the precise reason.
        let item = event_item(&st.config, event_id).await;
        assert_eq!(item["eventType"], "archive_failed");
        assert_eq!(item["summary"]["reasonCode"], *code);
        assert_eq!(item["outcome"], format!("recorded: bad archive: {code}"));
        assert!(!item.to_string().contains("cron"), "{item}");

        // Tagged in place, and copied (tagged too) under the quarantine prefix.
        let tags = st
            .s3
            .get_object_tagging()
            .bucket(BUCKET)
            .key(&key)
            .set_version_id(up.version_id.clone())
            .send()
            .await
            .unwrap();
        assert!(tags
            .tag_set()
            .iter()
            .any(|t| t.key() == QUARANTINE_TAG && t.value() == code));
        // Named by the digest of its key: no customer name in the quarantine copy's key.
        let qkey = kyc_trust_sign::plan::quarantine_key(
            "quarantine/",
            "incoming/",
            &format!("incoming/bad {}.zip", kind.name()),
            keys.naming_key()
                .expect("the provisioned keyring has a naming key"),
        );
        assert!(!qkey.contains(kind.name()), "{qkey}");
        // The quarantine key (it may name the customer) is sealed; the payload key opens it.
        assert!(item["summary"].get("quarantineKey").is_none(), "{item}");
        let mut summary = item["summary"].clone();
        // A bad archive names no customer: its keys are bound to none.
        kyc_trust_sign::plan::reveal_keys(&keys, event_id, None, &mut summary).unwrap();
        assert_eq!(summary["quarantineKey"], json!(qkey));
        assert_eq!(
            object_bytes(&st.s3, &qkey).await.unwrap(),
            archive(kind, None),
            "{kind:?}"
        );

        // Delivered again: nothing new.
        let again = st
            .processor
            .handle(&event(vec![record_json(BUCKET, &up)]))
            .await
            .unwrap();
        assert!(
            matches!(
                &again[0],
                RecordResult::Quarantined {
                    outcome: Outcome::Duplicate,
                    ..
                }
            ),
            "{again:?}"
        );
    }
}

#[tokio::test]
async fn a_duplicate_delivery_is_applied_once() {
    let st = stack(true).await;
    let up = put(
        &st.s3,
        BUCKET,
        "incoming/dossier juin.zip",
        archive(Kind::Full, Some(customer_patch("cust-dup"))),
    )
    .await;
    // Twice in one event and once more in a second event (S3 delivers at least once).
    let rec = record_json(BUCKET, &up);
    let first = st
        .processor
        .handle(&event(vec![rec.clone(), rec.clone()]))
        .await
        .unwrap();
    let second = st.processor.handle(&event(vec![rec])).await.unwrap();
    assert_eq!(processed(&first[0]).1, &Outcome::Applied);
    assert_eq!(processed(&first[1]).1, &Outcome::Duplicate);
    assert_eq!(processed(&second[0]).1, &Outcome::Duplicate);
    assert_eq!(st.store.history("cust-dup").await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_newer_version_supersedes_an_older_one_whatever_the_delivery_order() {
    let st = stack(true).await;
    let key = "incoming/client-file.zip";
    let patch = |date: &str| {
        let mut p = customer_patch("cust-versions");
        p["date"] = date.into();
        p
    };
    // Version 1: pending; version 2 (uploaded later, newer report): rejected.
    let v1 = put(
        &st.s3,
        BUCKET,
        key,
        archive(Kind::IdCard, Some(patch("2024-06-17T08:00:00Z"))),
    )
    .await;
    let v2 = put(
        &st.s3,
        BUCKET,
        key,
        archive(Kind::Rejected, Some(patch("2024-06-18T08:00:05Z"))),
    )
    .await;
    assert_ne!(v1.version_id, v2.version_id);

    // The newer notification arrives first; the older one must not win.
    let r2 = st
        .processor
        .handle(&event(vec![record_json(BUCKET, &v2)]))
        .await
        .unwrap();
    let r1 = st
        .processor
        .handle(&event(vec![record_json(BUCKET, &v1)]))
        .await
        .unwrap();
    assert_eq!(processed(&r2[0]).1, &Outcome::Applied);
    assert!(
        matches!(processed(&r1[0]).1, Outcome::NotApplied { reason: SkipReason::Stale { current, .. } } if current == "REJECTED"),
        "{r1:?}"
    );
    let states = st.store.provider_states("cust-versions").await.unwrap();
    let state = &states[&Provider::TrustSign];
    assert_eq!(state.streams.len(), 1);
    let v = state.streams.values().next().unwrap();
    assert_eq!(v.status, "REJECTED");
    assert_eq!(v.event_id, processed(&r2[0]).0);
    // Each version was read as it was (pinned by version id), not as the latest upload.
    let item = event_item(&st.config, processed(&r1[0]).0).await;
    assert_eq!(item["summary"]["detail"]["state"], "PENDING");
    assert_eq!(st.store.history("cust-versions").await.unwrap().len(), 2);

    // A third version with a newer report supersedes it.
    let v3 = put(
        &st.s3,
        BUCKET,
        key,
        archive(Kind::Full, Some(patch("2024-07-01T00:00:00Z"))),
    )
    .await;
    let r3 = st
        .processor
        .handle(&event(vec![record_json(BUCKET, &v3)]))
        .await
        .unwrap();
    assert_eq!(processed(&r3[0]).1, &Outcome::Applied);
    let states = st.store.provider_states("cust-versions").await.unwrap();
    assert_eq!(
        states[&Provider::TrustSign]
            .streams
            .values()
            .next()
            .unwrap()
            .status,
        "ACCEPTED"
    );
}

#[tokio::test]
async fn several_records_encoded_keys_and_foreign_objects() {
    let st = stack(false).await;
    let odd = "incoming/dossier n°1 + copie (2024).zip";
    let a = put(
        &st.s3,
        BUCKET,
        odd,
        archive(Kind::Lin, Some(customer_patch("cust-odd"))),
    )
    .await;
    let b = put(
        &st.s3,
        BUCKET,
        "incoming/b.zip",
        archive(Kind::Rib, Some(customer_patch("cust-b"))),
    )
    .await;
    let json_file = put(&st.s3, BUCKET, "incoming/notes.json", b"{}".to_vec()).await;
    let outside = put(&st.s3, BUCKET, "elsewhere/c.zip", archive(Kind::Rib, None)).await;
    let mut removed = record_json(BUCKET, &b);
    removed["eventName"] = "ObjectRemoved:Delete".into();
    let results = st
        .processor
        .handle(&event(vec![
            record_json(BUCKET, &a),
            record_json(BUCKET, &b),
            record_json(BUCKET, &json_file),
            record_json(BUCKET, &outside),
            removed,
        ]))
        .await
        .unwrap();
    assert_eq!(processed(&results[0]).1, &Outcome::Applied);
    assert_eq!(processed(&results[1]).1, &Outcome::Applied);
    for r in &results[2..] {
        assert!(matches!(r, RecordResult::Skipped { .. }), "{r:?}");
    }
    assert_eq!(st.store.history("cust-odd").await.unwrap().len(), 1);

    // Unversioned bucket: the ETag pins the object. Overwritten before it was read: the old
    // notification finds it gone (the new upload has its own notification).
    let newer = put(
        &st.s3,
        BUCKET,
        "incoming/b.zip",
        archive(Kind::Payslip, Some(customer_patch("cust-b"))),
    )
    .await;
    let mut stale = b.clone();
    stale.etag = "0123456789abcdef0123456789abcdef".into();
    let r = st
        .processor
        .handle(&event(vec![record_json(BUCKET, &stale)]))
        .await
        .unwrap();
    assert!(matches!(r[0], RecordResult::Gone { .. }), "{r:?}");
    let r = st
        .processor
        .handle(&event(vec![record_json(BUCKET, &newer)]))
        .await
        .unwrap();
    assert!(matches!(
        processed(&r[0]).1,
        Outcome::NotApplied { .. } | Outcome::Applied
    ));
}

#[tokio::test]
async fn transient_failures_fail_the_invocation_and_record_nothing() {
    let st = stack(true).await;
    let up = put(
        &st.s3,
        BUCKET,
        "incoming/t.zip",
        archive(Kind::Full, Some(customer_patch("cust-t"))),
    )
    .await;
    // DynamoDB unavailable (here: a table that does not exist).
    let broken = build_processor(archive_settings("no-such-table"), &st.config);
    let err = broken
        .handle(&event(vec![record_json(BUCKET, &up)]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("record 0"), "{err}");
    // S3 unavailable for the bucket named (missing bucket: a retry, never a silent skip).
    let mut rec = record_json("no-such-bucket", &up);
    rec["s3"]["bucket"]["name"] = "no-such-bucket".into();
    assert!(st.processor.handle(&event(vec![rec])).await.is_err());
    // The retry, once things are back, applies it exactly once.
    let ok = st
        .processor
        .handle(&event(vec![record_json(BUCKET, &up)]))
        .await
        .unwrap();
    assert_eq!(processed(&ok[0]).1, &Outcome::Applied);
    assert_eq!(st.store.history("cust-t").await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_large_zip64_archive_streamed_by_multipart_upload_reads_little() {
    let st = stack(true).await;
    let size = 64 << 20;
    let up = put_generated_multipart(
        &st.s3,
        BUCKET,
        "incoming/video.zip",
        Kind::VideoIdentification,
        ArchiveOptions {
            target_size: Some(size),
            // ZIP64 end records, read through S3 ranges.
            zip64: true,
            report_patch: Some(customer_patch("cust-video")),
            ..ArchiveOptions::default()
        },
    )
    .await;
    assert_eq!(up.size, size);
    let r = st
        .processor
        .handle(&event(vec![record_json(BUCKET, &up)]))
        .await
        .unwrap();
    let RecordResult::Processed {
        outcome,
        bytes_read,
        ..
    } = &r[0]
    else {
        panic!("{r:?}")
    };
    assert_eq!(outcome, &Outcome::Applied);
    // The end records, the central directory and report.json's entry only.
    assert!(
        *bytes_read < 512 * 1024,
        "read {bytes_read} bytes of {size}"
    );
}

#[tokio::test]
async fn numeric_identifiers_are_processed_and_link_the_customer() {
    let st = stack(true).await;
    let mut bytes = Vec::new();
    let opts = ArchiveOptions {
        numeric_ids: true,
        ..ArchiveOptions::default()
    };
    write_archive(Kind::Full, &opts, &mut bytes).unwrap();
    let up = put(&st.s3, BUCKET, "incoming/numeric.zip", bytes).await;
    let r = st
        .processor
        .handle(&event(vec![record_json(BUCKET, &up)]))
        .await
        .unwrap();
    let (event_id, outcome) = processed(&r[0]);
    assert_eq!(outcome, &Outcome::Applied);
    let customer = NUMERIC_EXTERNAL_ID.to_string();
    let history = st.store.history(&customer).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].event_id, event_id);
    let item = event_item(&st.config, event_id).await;
    assert_eq!(item["summary"]["subjectId"], json!(customer));
    assert_eq!(
        item["summary"]["analysis"]["summary"]["clientFileId"],
        json!("10002")
    );
}

/// Every item of the table, as one text (what a table export would show).
async fn table_dump(config: &kyc_aws::aws_config::SdkConfig) -> String {
    let mut text = String::new();
    let mut start = None;
    loop {
        let page = Ddb::new(config)
            .scan()
            .table_name(TABLE)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            text.push_str(
                &kyc_aws::attribute::from_attribute(AttributeValue::M(item.clone()))
                    .unwrap()
                    .to_string(),
            );
            text.push('\n');
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return text;
        }
    }
}

#[tokio::test]
async fn keys_naming_a_person_are_stored_nowhere_in_clear() {
    let st = stack(true).await;
    let good = put(
        &st.s3,
        BUCKET,
        "incoming/dossier jean_dupont.zip",
        archive(Kind::Full, Some(customer_patch("cust-privacy"))),
    )
    .await;
    let bad = put(
        &st.s3,
        BUCKET,
        "incoming/dossier marie_curie.zip",
        archive(Kind::NotZip, None),
    )
    .await;
    let r = st
        .processor
        .handle(&event(vec![
            record_json(BUCKET, &good),
            record_json(BUCKET, &bad),
        ]))
        .await
        .unwrap();
    let (event_id, _) = processed(&r[0]);
    assert!(matches!(r[1], RecordResult::Quarantined { .. }), "{r:?}");
    let dump = table_dump(&st.config).await;
    assert!(dump.contains(event_id), "the dump holds the events");
    for name in ["jean_dupont", "marie_curie", "jean%20dupont", "jean+dupont"] {
        assert!(!dump.contains(name), "{name} in the table: {dump}");
    }
    // An operator with the payload key finds the object again.
    let keys = trust_sign_keyring(&st.config).await;
    let states = st.store.provider_states("cust-privacy").await.unwrap();
    let stream = states[&Provider::TrustSign]
        .streams
        .values()
        .next()
        .unwrap();
    let mut detail = stream.detail.clone();
    kyc_trust_sign::plan::reveal_keys(&keys, &stream.event_id, Some("cust-privacy"), &mut detail)
        .unwrap();
    assert_eq!(detail["archive"]["key"], "incoming/dossier jean_dupont.zip");
    assert_eq!(detail["archive"]["versionId"], json!(good.version_id));
}

#[tokio::test]
async fn a_report_beyond_the_item_budget_is_quarantined_with_its_reason() {
    let st = stack(true).await;
    // 20,001 tiny documents: parsed and judged they would cost more memory than the function
    // has for a report; quarantined with a clear reason instead of an out-of-memory crash.
    let docs = vec!["{}"; kyc_trust_sign::report::lenient::MAX_ELEMENTS + 1].join(",");
    let report = format!(
        r#"{{"date":"2024-01-01T00:00:00Z","clientFile":{{"uuid":"cf","externalId":"cust-big"}},"documents":[{docs}]}}"#
    );
    let mut zip = trust_sign_gen::zip_writer::ZipWriter::new(Vec::new(), false);
    zip.add(
        "report.json",
        report.as_bytes(),
        &trust_sign_gen::zip_writer::EntryOptions::default(),
    )
    .unwrap();
    let (bytes, _) = zip.finish().unwrap();
    let up = put(&st.s3, BUCKET, "incoming/big.zip", bytes).await;
    let r = st
        .processor
        .handle(&event(vec![record_json(BUCKET, &up)]))
        .await
        .unwrap();
    let RecordResult::Quarantined {
        event_id,
        reason_code,
        ..
    } = &r[0]
    else {
        panic!("{r:?}")
    };
    assert_eq!(reason_code, "report_too_complex");
    let item = event_item(&st.config, event_id).await;
    assert!(
        item["summary"]["reason"]
            .as_str()
            .unwrap()
            .contains("more than 20000"),
        "{item}"
    );
}
