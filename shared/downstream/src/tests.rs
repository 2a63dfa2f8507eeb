use super::*;
use chrono::TimeZone;
use kyc_core::kyc_state::StreamValue;
#[path = "../../../tests/support/ddb_json.rs"]
mod ddb_json;
use ddb_json::to_ddb;

fn image(v: &Value) -> Value {
    to_ddb(v)["M"].clone()
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 9, minute, 0).unwrap()
}

/// A stream value as the store writes it, with a detail and a sealed secret that must never
/// reach an event.
fn value(status: &str, is_final: bool, minute: u32, event: &str) -> Value {
    let mut v = StreamValue::new(status, 3, is_final, at(minute), event);
    v.detail = json!({"lastName": "DUPONT-PERSONAL"});
    v.sealed.insert("iban".into(), "SEALED-SECRET-VALUE".into());
    serde_json::to_value(v).unwrap()
}

fn state_item(customer: &str, version: i64, streams: &[(&str, Value)], updated: u32) -> Value {
    let mut m = Map::new();
    m.insert(
        "PK".into(),
        json!(kyc_core::keys::customer_pk(Provider::Xpollens, customer)),
    );
    m.insert("SK".into(), json!("STATE"));
    m.insert("customerId".into(), json!(customer));
    m.insert("itemType".into(), json!("state"));
    m.insert("updatedAt".into(), json!(at(updated).to_rfc3339()));
    m.insert("version".into(), json!(version));
    for (name, v) in streams {
        m.insert(name.to_string(), v.clone());
    }
    Value::Object(m)
}

fn record(seq: u64, old: Option<&Value>, new: &Value) -> Value {
    let mut d = json!({
        "Keys": {"PK": {"S": new["PK"]}, "SK": {"S": new["SK"]}},
        "NewImage": image(new),
        "SequenceNumber": seq.to_string(),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(old) = old {
        d["OldImage"] = image(old);
    }
    json!({
        "eventID": format!("e{seq}"),
        "eventName": if old.is_some() { "MODIFY" } else { "INSERT" },
        "eventSource": "aws:dynamodb",
        "dynamodb": d,
    })
}

fn changes(r: &Value) -> Vec<KycStateChanged> {
    match diff_record(r).unwrap() {
        RecordChanges::Changes(c) => c,
        RecordChanges::Ignored => panic!("ignored"),
    }
}

fn schema_validates(event: &Value) -> Result<(), String> {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler
        .add_resource(
            "kyc-state-changed.v1.json",
            serde_json::from_str::<Value>(SCHEMA_V1).unwrap(),
        )
        .unwrap();
    let index = compiler
        .compile("kyc-state-changed.v1.json", &mut schemas)
        .unwrap();
    schemas.validate(event, index).map_err(|e| e.to_string())
}

#[test]
fn a_first_value_is_one_event_with_no_previous_status_and_no_detail_or_secret() {
    let new = state_item(
        "c-1",
        1,
        &[("kycDemand", value("Pending", false, 1, "ev-1"))],
        2,
    );
    let c = changes(&record(10, None, &new));
    assert_eq!(c.len(), 1);
    let e = &c[0];
    assert_eq!(e.customer_id, "c-1");
    assert_eq!(e.provider, Provider::Xpollens);
    assert_eq!(e.stream, "kycDemand");
    assert_eq!(e.previous_status, None);
    assert_eq!(e.status, "Pending");
    assert!(!e.is_final);
    assert_eq!(e.provider_time, at(1));
    assert_eq!(e.recorded_at, at(2));
    assert_eq!(e.cause_event_id, "ev-1");
    assert_eq!(e.state_version, Some(1));
    assert!(!e.replay);
    assert_eq!(
        e.id,
        event_id("c-1", Provider::Xpollens, "kycDemand", "ev-1")
    );
    let text = serde_json::to_string(e).unwrap();
    assert!(!text.contains("DUPONT"), "{text}");
    assert!(!text.contains("SEALED"), "{text}");
    assert!(!text.contains("iban"), "{text}");
}

/// Issue 23: a stream value's flags (Trust & Sign `fraudMarked`...) ride on its event and
/// validate against the schema; a value without flags leaves the event as before (no field).
#[test]
fn flags_of_a_stream_value_are_carried_by_its_event() {
    let mut v = StreamValue::new("ACCEPTED", 6, false, at(1), "s3:abc");
    v.flags = vec![
        "fraudMarked".into(),
        "fraudMarkedParticipant:65436df9-1490-44f7-af78-76f67b86e6d1".into(),
    ];
    let new = state_item(
        "c-9",
        1,
        &[("clientFile#cf", serde_json::to_value(&v).unwrap())],
        2,
    );
    let c = changes(&record(11, None, &new));
    assert_eq!(c[0].flags, v.flags);
    let event = serde_json::to_value(&c[0]).unwrap();
    assert_eq!(event["flags"][0], "fraudMarked");
    schema_validates(&event).unwrap();
    let plain = changes(&record(
        12,
        None,
        &state_item(
            "c-9",
            1,
            &[("kycDemand", value("Pending", false, 1, "ev-1"))],
            2,
        ),
    ));
    assert!(serde_json::to_value(&plain[0])
        .unwrap()
        .get("flags")
        .is_none());
}

#[test]
fn only_streams_whose_event_changed_are_published() {
    let old = state_item(
        "c-1",
        1,
        &[
            ("kycDemand", value("Pending", false, 1, "ev-1")),
            ("userRecord", value("Created", false, 1, "ev-u")),
        ],
        2,
    );
    let new = state_item(
        "c-1",
        2,
        &[
            ("kycDemand", value("Validated", true, 5, "ev-2")),
            ("userRecord", value("Created", false, 1, "ev-u")),
        ],
        6,
    );
    let c = changes(&record(11, Some(&old), &new));
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].stream, "kycDemand");
    assert_eq!(c[0].previous_status.as_deref(), Some("Pending"));
    assert_eq!(c[0].status, "Validated");
    assert!(c[0].is_final);
    assert_eq!(c[0].state_version, Some(2));
    // Nothing moved in any stream (e.g. a rewrite of the same values): no event.
    assert!(changes(&record(12, Some(&new), &new)).is_empty());
}

#[test]
fn the_event_id_is_stable_and_distinguishes_its_parts() {
    let a = event_id("c-1", Provider::Xpollens, "kycDemand", "ev-1");
    assert_eq!(a, event_id("c-1", Provider::Xpollens, "kycDemand", "ev-1"));
    assert_ne!(a, event_id("c-2", Provider::Xpollens, "kycDemand", "ev-1"));
    assert_ne!(a, event_id("c-1", Provider::Gopay, "kycDemand", "ev-1"));
    assert_ne!(a, event_id("c-1", Provider::Xpollens, "userRecord", "ev-1"));
    assert_ne!(a, event_id("c-1", Provider::Xpollens, "kycDemand", "ev-2"));
    // The same change seen twice (a redelivered stream record) has the same id.
    let new = state_item(
        "c-1",
        1,
        &[("kycDemand", value("Pending", false, 1, "ev-1"))],
        2,
    );
    assert_eq!(
        changes(&record(1, None, &new)),
        changes(&record(1, None, &new))
    );
}

#[test]
fn items_that_are_not_states_and_removals_are_ignored() {
    let mut event_item = state_item("c-1", 1, &[], 2);
    event_item["SK"] = json!("HIST#2026-11-27T09:00:00.000000Z#ev-1");
    assert_eq!(
        diff_record(&record(1, None, &event_item)),
        Ok(RecordChanges::Ignored)
    );
    let new = state_item(
        "c-1",
        1,
        &[("kycDemand", value("Pending", false, 1, "ev-1"))],
        2,
    );
    let mut removal = record(2, Some(&new), &new);
    removal["eventName"] = json!("REMOVE");
    assert_eq!(diff_record(&removal), Ok(RecordChanges::Ignored));
}

#[test]
fn a_malformed_state_record_is_an_error() {
    let bad = state_item("c-1", 1, &[("kycDemand", json!({"ord": 3}))], 2);
    assert!(matches!(
        diff_record(&record(1, None, &bad)),
        Err(RecordError::BadStream(_))
    ));
    let mut unknown = state_item("c-1", 1, &[], 2);
    unknown["PK"] = json!("ZZ#C#c-1");
    assert_eq!(
        diff_record(&record(1, None, &unknown)),
        Err(RecordError::UnknownProvider)
    );
    let mut legacy_unknown = state_item("c-1", 1, &[], 2);
    legacy_unknown["PK"] = json!("CUSTOMER#c-1");
    legacy_unknown["SK"] = json!("STATE#nobody");
    assert_eq!(
        diff_record(&record(1, None, &legacy_unknown)),
        Err(RecordError::UnknownProvider)
    );
}

#[test]
fn the_customer_is_the_id_as_sent_whatever_its_key_form() {
    // Escaped in the key; a long id is only a digest there: the attribute names it.
    for customer in ["a#b c".to_string(), "z".repeat(600)] {
        let new = state_item(
            &customer,
            1,
            &[("kycDemand", value("Pending", false, 1, "ev-1"))],
            2,
        );
        assert_eq!(changes(&record(1, None, &new))[0].customer_id, customer);
    }
}

#[test]
fn records_of_the_layout_before_are_still_published() {
    // Written by a function of the previous release while the stack updates.
    let mut new = state_item(
        "c-1",
        4,
        &[("kycDemand", value("Complete", true, 3, "ev-3"))],
        3,
    );
    new["PK"] = json!("CUSTOMER#c-1");
    new["SK"] = json!("STATE#xpollens");
    new.as_object_mut().unwrap().remove("customerId");
    let c = changes(&record(1, None, &new));
    assert_eq!(
        (c[0].customer_id.as_str(), c[0].provider),
        ("c-1", Provider::Xpollens)
    );
}

#[test]
fn copies_written_by_the_layout_migration_are_not_state_changes() {
    let old = state_item(
        "c-1",
        4,
        &[("kycDemand", value("Pending", false, 1, "ev-1"))],
        2,
    );
    let mut copy = old.clone();
    copy["migratedAt"] = json!(at(5).to_rfc3339());
    copy["kycDemand"] = value("Complete", true, 3, "ev-3");
    // The first copy (an insert), and a merge into an item that already existed.
    assert_eq!(
        diff_record(&record(1, None, &copy)),
        Ok(RecordChanges::Ignored)
    );
    assert_eq!(
        diff_record(&record(2, Some(&old), &copy)),
        Ok(RecordChanges::Ignored)
    );
    // The intake's next write to the copy is a change again.
    let mut next = copy.clone();
    next["kycDemand"] = value("Rejected", true, 4, "ev-4");
    assert_eq!(changes(&record(3, Some(&copy), &next)).len(), 1);
}

/// Images are DynamoDB JSON read by `serde_dynamo`, as the store reads items
/// (`kyc_aws::attribute`): every type JSON can hold reads (only streams, `updatedAt` and `version`
/// are used); binary (which the store never writes and cannot read either) and what is not
/// DynamoDB JSON are the record's own error (reported for it alone), not a silent null.
#[test]
fn images_of_every_attribute_type_read_and_a_non_dynamodb_image_is_the_records_error() {
    let item = state_item(
        "c-1",
        7,
        &[("kycDemand", value("Validated", true, 1, "e1"))],
        2,
    );
    let mut r = record(1, None, &item);
    let new_image = &mut r["dynamodb"]["NewImage"];
    new_image["tags"] = json!({"SS": ["a", "b"]});
    new_image["counts"] = json!({"NS": ["1", "2.5"]});
    new_image["gone"] = json!({"NULL": true});
    new_image["eventPending"] = json!({"BOOL": false});
    let events = changes(&r);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].state_version, Some(7));

    let mut bad_new = record(1, None, &item);
    bad_new["dynamodb"]["NewImage"]["version"] = json!({"X": "7"});
    assert_eq!(
        diff_record(&bad_new),
        Err(RecordError::BadImage("NewImage"))
    );
    let mut binary = record(1, None, &item);
    binary["dynamodb"]["NewImage"]["digest"] = json!({"B": "AAEC"});
    assert_eq!(diff_record(&binary), Err(RecordError::BadImage("NewImage")));
    let mut bad_old = record(2, Some(&item), &item);
    bad_old["dynamodb"]["OldImage"]["updatedAt"] = json!("2026-11-27T09:02:00Z");
    assert_eq!(
        diff_record(&bad_old),
        Err(RecordError::BadImage("OldImage"))
    );
}

#[test]
fn built_events_validate_against_the_checked_in_schema_and_the_schema_can_fail() {
    let old = state_item(
        "c-1",
        1,
        &[("kycDemand", value("Pending", false, 1, "ev-1"))],
        2,
    );
    let new = state_item(
        "c-1",
        2,
        &[("kycDemand", value("Validated", true, 5, "ev-2"))],
        6,
    );
    let mut events = changes(&record(1, None, &old));
    events.extend(changes(&record(2, Some(&old), &new)));
    let states = BTreeMap::from([(Provider::Xpollens, {
        let mut s = ProviderState::default();
        s.streams.insert(
            kyc_core::kyc_state::Stream::KYC_DEMAND,
            StreamValue::new("Validated", 3, true, at(5), "ev-2"),
        );
        s
    })]);
    events.extend(replay_events("c-1", &states, &[]));
    assert_eq!(events.len(), 3);
    for e in &events {
        let v = serde_json::to_value(e).unwrap();
        schema_validates(&v).unwrap_or_else(|err| panic!("{v}: {err}"));
    }
    let mut leaked = serde_json::to_value(&events[0]).unwrap();
    leaked["detail"] = json!({"lastName": "x"});
    assert!(schema_validates(&leaked).is_err());
    let mut bad_time = serde_json::to_value(&events[0]).unwrap();
    bad_time["providerTime"] = json!("yesterday");
    assert!(schema_validates(&bad_time).is_err());
    let mut no_id = serde_json::to_value(&events[0]).unwrap();
    no_id.as_object_mut().unwrap().remove("id");
    assert!(schema_validates(&no_id).is_err());
}

#[test]
fn a_replay_carries_the_live_events_id_and_the_recorded_time_from_history() {
    let states = BTreeMap::from([(Provider::Xpollens, {
        let mut s = ProviderState::default();
        s.streams.insert(
            kyc_core::kyc_state::Stream::KYC_DEMAND,
            StreamValue::new("Validated", 3, true, at(5), "ev-2"),
        );
        s
    })]);
    let history = vec![HistoryEntry {
        provider: Provider::Xpollens,
        event_id: "ev-2".into(),
        event_type: "04".into(),
        received_at: at(7),
        provider_time: Some(at(5)),
        outcome: "applied".into(),
        summary: json!({}),
    }];
    let r = replay_events("c-1", &states, &history);
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].id,
        event_id("c-1", Provider::Xpollens, "kycDemand", "ev-2")
    );
    assert_eq!(r[0].recorded_at, at(7));
    assert!(r[0].replay);
    assert_eq!(r[0].previous_status, None);
}

fn stream_event(records: Vec<Value>) -> Value {
    json!({ "Records": records })
}

#[tokio::test]
async fn a_poison_record_alone_is_reported_and_holds_back_only_its_customer() {
    let a = state_item(
        "a",
        1,
        &[("kycDemand", value("Pending", false, 1, "ev-a"))],
        2,
    );
    let poison = state_item("b", 1, &[("kycDemand", json!({"ord": 1, "status": 3}))], 2);
    let b_later = state_item(
        "b",
        2,
        &[("kycDemand", value("Validated", true, 3, "ev-b2"))],
        4,
    );
    let c = state_item(
        "c",
        1,
        &[("kycDemand", value("Pending", false, 1, "ev-c"))],
        2,
    );
    let mut ignored = state_item("a", 1, &[], 2);
    ignored["SK"] = json!("EVENT");
    let publisher = Arc::new(MemoryPublisher::default());
    let handler = StatePublisher {
        publisher: publisher.clone(),
    };
    let batch = stream_event(vec![
        record(100, None, &a),
        record(101, None, &poison),
        record(102, None, &ignored),
        record(103, Some(&poison), &b_later),
        record(104, None, &c),
    ]);
    let report = handler.handle(&batch).await.unwrap();
    assert_eq!(report.failed, vec!["101".to_string()]);
    assert_eq!(report.held_back, 1);
    assert_eq!(
        report.response(),
        json!({"batchItemFailures": [{"itemIdentifier": "101"}]})
    );
    let customers: Vec<String> = publisher
        .published()
        .iter()
        .map(|e| e.customer_id.clone())
        .collect();
    assert_eq!(customers, vec!["a", "c"]);
}

#[tokio::test]
async fn a_refused_event_fails_its_record_and_the_retry_publishes_the_same_id() {
    let a1 = state_item(
        "a",
        1,
        &[("kycDemand", value("Pending", false, 1, "ev-a1"))],
        2,
    );
    let a2 = state_item(
        "a",
        2,
        &[("kycDemand", value("Validated", true, 3, "ev-a2"))],
        4,
    );
    let c = state_item(
        "c",
        1,
        &[("kycDemand", value("Pending", false, 1, "ev-c"))],
        2,
    );
    let publisher = Arc::new(MemoryPublisher::default());
    let handler = StatePublisher {
        publisher: publisher.clone(),
    };
    let refused = event_id("a", Provider::Xpollens, "kycDemand", "ev-a1");
    publisher.refuse(&refused);
    let batch = stream_event(vec![
        record(1, None, &a1),
        record(2, Some(&a1), &a2),
        record(3, None, &c),
    ]);
    let report = handler.handle(&batch).await.unwrap();
    assert_eq!(report.failed, vec!["1".to_string()]);
    // a's second change waits behind its first: never published before it.
    let ids: Vec<String> = publisher.published().iter().map(|e| e.id.clone()).collect();
    assert_eq!(
        ids,
        vec![event_id("c", Provider::Xpollens, "kycDemand", "ev-c")]
    );
    // Lambda re-delivers from the failed record on.
    publisher.accept_all();
    let retry = stream_event(vec![record(1, None, &a1), record(2, Some(&a1), &a2)]);
    let report = handler.handle(&retry).await.unwrap();
    assert!(report.failed.is_empty());
    let published = publisher.published();
    let statuses: Vec<(&str, Option<&str>, &str)> = published[1..]
        .iter()
        .map(|e| {
            (
                e.id.as_str(),
                e.previous_status.as_deref(),
                e.status.as_str(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            (refused.as_str(), None, "Pending"),
            (
                event_id("a", Provider::Xpollens, "kycDemand", "ev-a2").as_str(),
                Some("Pending"),
                "Validated"
            ),
        ]
    );
}

#[tokio::test]
async fn more_than_ten_events_are_sent_in_chunks_and_a_batch_without_records_is_refused() {
    let publisher = Arc::new(MemoryPublisher::default());
    let handler = StatePublisher {
        publisher: publisher.clone(),
    };
    let records: Vec<Value> = (0..25)
        .map(|i| {
            let item = state_item(
                &format!("c{i}"),
                1,
                &[("kycDemand", value("Pending", false, 1, &format!("ev{i}")))],
                2,
            );
            record(i, None, &item)
        })
        .collect();
    let report = handler.handle(&stream_event(records)).await.unwrap();
    assert_eq!(report.published, 25);
    assert_eq!(publisher.published().len(), 25);
    assert!(handler.handle(&json!({"nope": 1})).await.is_err());
    let mut no_seq = record(1, None, &state_item("x", 1, &[], 1));
    no_seq["dynamodb"]
        .as_object_mut()
        .unwrap()
        .remove("SequenceNumber");
    assert!(handler.handle(&stream_event(vec![no_seq])).await.is_err());
}

#[test]
fn the_kind_shows_in_the_message_and_the_error_type() {
    use kyc_core::invocation::InvocationError;
    let r = InvocationError::Retryable("store unavailable: timeout".into());
    assert_eq!(r.to_string(), "retryable: store unavailable: timeout");
    assert_eq!(r.error_type(), "KycHooks.Retryable");
    assert!(r.is_retryable());
    let p: InvocationError = BatchError::Malformed("no Records array").into();
    assert_eq!(
        p.to_string(),
        "permanent: stream event is malformed: no Records array"
    );
    assert_eq!(p.error_type(), "KycHooks.Permanent");
    assert!(!p.is_retryable());
}
