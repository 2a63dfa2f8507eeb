use super::mapping::{self, Effect, StreamName};
use super::*;
use crate::store::{recompute, DecisionStore, MemoryDecisionStore, Recomputed};
use chrono::TimeZone;
use kyc_core::kyc_state::{Finality, StatePatch, Stream, StreamValue};
use serde_json::json;
use std::sync::Arc;

fn t(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, minute, 0).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap()
}

fn policy() -> Policy {
    Policy::default_policy()
}

fn value(status: &str, minute: u32, id: &str) -> StreamValue {
    StreamValue::with_finality(status, 1, false, Finality::Latest, t(minute), id)
}

fn state(streams: &[(&str, StreamValue)]) -> ProviderState {
    let mut s = ProviderState::default();
    for (name, v) in streams {
        s.apply(&StatePatch {
            stream: Stream::named(*name).unwrap(),
            value: v.clone(),
        })
        .unwrap();
    }
    s
}

/// A concrete stream name of a row.
fn stream_of(name: StreamName) -> String {
    match name {
        StreamName::Exact(s) => s.to_string(),
        StreamName::Prefix(p) => format!("{p}6f1c2a"),
    }
}

#[test]
fn every_status_row_decides_as_its_table_says() {
    for row in mapping::ROWS {
        let s = state(&[(&stream_of(row.stream), value(row.status, 1, "e1"))]);
        let d = provider_decision(row.provider, &s, &policy(), now());
        match row.effect {
            Effect::Decide {
                decision, reason, ..
            } => {
                assert_eq!(d.decision, decision, "{}", row.rule());
                assert_eq!(
                    d.reasons,
                    reason.map(|r| vec![r.to_string()]).unwrap_or_default(),
                    "{}",
                    row.rule()
                );
                assert_eq!(d.evidence, ["e1"], "{}", row.rule());
                assert_eq!(d.since, Some(t(1)));
                assert_eq!(d.rules[0].rule, row.rule());
            }
            Effect::Neutral => {
                assert_eq!(d.decision, Decision::NotStarted, "{}", row.rule());
                assert!(d.rules.is_empty());
            }
        }
    }
}

#[test]
fn every_flag_row_decides_over_a_verified_status() {
    for f in mapping::FLAG_ROWS {
        let provider = f.provider.unwrap_or(Provider::Xpollens);
        let (stream, status) = match provider {
            Provider::Xpollens => ("kycDemand", "Complete"),
            Provider::TrustSign => ("clientFile#a", "ACCEPTED"),
            Provider::Gopay => ("gopayIdentification", "IDENTIFIED"),
        };
        let mut v = value(status, 1, "e1");
        v.flags = vec![f.flag.to_string()];
        let d = provider_decision(provider, &state(&[(stream, v)]), &policy(), now());
        let Effect::Decide {
            decision, reason, ..
        } = f.effect
        else {
            panic!("flag rows decide")
        };
        assert_eq!(d.decision, decision, "{}", f.rule());
        assert_eq!(d.reasons, [reason.unwrap()], "{}", f.rule());
    }
}

#[test]
fn every_gopay_reason_row_refines_the_identification() {
    for r in mapping::REASON_ROWS {
        let mut v = value("PENDING", 1, "e1");
        v.detail = json!({"reasons": [r.reason], "clientProfileId": "42"});
        let d = provider_decision(
            Provider::Gopay,
            &state(&[("gopayIdentification", v)]),
            &policy(),
            now(),
        );
        let Effect::Decide {
            decision, reason, ..
        } = r.effect
        else {
            panic!("reason rows decide")
        };
        assert_eq!(d.decision, decision, "{}", r.rule());
        assert_eq!(d.reasons, [reason.unwrap()], "{}", r.rule());
    }
    // An expired document beats an identification GoPay still calls IDENTIFIED.
    let mut v = value("IDENTIFIED", 1, "e1");
    v.detail = json!({"reasons": ["EXPIRED_IDENT_DOCUMENT"]});
    let d = provider_decision(
        Provider::Gopay,
        &state(&[("gopayIdentification", v)]),
        &policy(),
        now(),
    );
    assert_eq!(
        (d.decision, d.reasons.as_slice()),
        (Decision::Expired, &["documentExpired".to_string()][..])
    );
}

#[test]
fn unknown_statuses_and_reasons_go_to_review_never_verified_and_are_not_copied() {
    for (p, stream) in [
        (Provider::Xpollens, "kycDemand"),
        (Provider::Xpollens, "userRecord"),
        (Provider::TrustSign, "clientFile#x"),
        (Provider::Gopay, "gopayIdentification"),
        (Provider::Gopay, "gopayConsent"),
    ] {
        let d = provider_decision(
            p,
            &state(&[(stream, value("Jana Novakova", 1, "e1"))]),
            &policy(),
            now(),
        );
        assert_eq!(d.decision, Decision::InReview);
        assert_eq!(d.reasons, ["unknownStatus"]);
        assert!(!serde_json::to_string(&d).unwrap().contains("Jana"));
    }
    let mut v = value("IDENTIFIED", 1, "e1");
    v.detail = json!({"reasons": ["Jana Novakova"]});
    let d = provider_decision(
        Provider::Gopay,
        &state(&[("gopayIdentification", v)]),
        &policy(),
        now(),
    );
    assert_eq!(
        (d.decision, d.reasons.as_slice()),
        (Decision::InReview, &["unknownReason".to_string()][..])
    );
    assert!(!serde_json::to_string(&d).unwrap().contains("Jana"));
}

#[test]
fn streams_without_rows_are_not_decisive() {
    let d = provider_decision(
        Provider::Xpollens,
        &state(&[
            ("scaResult", value("Failed", 1, "e1")),
            ("kycWebview", value("Issued", 2, "e2")),
        ]),
        &policy(),
        now(),
    );
    assert_eq!(d.decision, Decision::NotStarted);
    let d = provider_decision(
        Provider::Gopay,
        &state(&[("gopayPdf", value("COPIED", 1, "e1"))]),
        &policy(),
        now(),
    );
    assert_eq!(d.decision, Decision::NotStarted);
}

/// The test that fails when a status a provider's parser knows has no row.
#[test]
fn every_status_the_parsers_know_has_a_row() {
    use kyc_xpollens::status::{
        KycStatus, PepStatus, StatusRules, UserFreezeStatus, UserRecordStatus,
    };
    let has = |p: Provider, stream: &str, status: &str| {
        assert!(
            mapping::row(p, stream, status).is_some(),
            "no row for {} {stream} {status}",
            p.as_str()
        );
    };
    for s in KycStatus::ALL {
        has(Provider::Xpollens, "kycDemand", s.name());
    }
    for s in UserRecordStatus::ALL {
        has(Provider::Xpollens, "userRecord", s.name());
    }
    for s in UserFreezeStatus::ALL {
        has(Provider::Xpollens, "userFreeze", s.name());
    }
    for s in PepStatus::ALL {
        has(Provider::Xpollens, "pepScreening", s.name());
    }
    assert_eq!(Stream::PEP_SCREENING.attribute(), "pepScreening");
    assert!(!mapping::is_decisive(
        Provider::Xpollens,
        Stream::COMPLEMENTARY_DILIGENCE.attribute()
    ));
    assert_eq!(Stream::KYC_DEMAND.attribute(), "kycDemand");
    assert_eq!(Stream::USER_RECORD.attribute(), "userRecord");
    assert_eq!(Stream::USER_FREEZE.attribute(), "userFreeze");
    for s in kyc_trust_sign::report::ClientFileState::ALL {
        has(Provider::TrustSign, "clientFile#x", s);
    }
    // What the Trust & Sign plan stores for a report without a state.
    has(Provider::TrustSign, "clientFile#x", "UNKNOWN");
    use kyc_gopay::identification::{IdentificationState, Reason};
    use kyc_gopay::plan as gp;
    for s in IdentificationState::DOCUMENTED {
        has(Provider::Gopay, gp::IDENTIFICATION_STREAM, s);
    }
    has(
        Provider::Gopay,
        gp::IDENTIFICATION_STREAM,
        gp::IDENTITY_MISMATCH,
    );
    for r in Reason::DOCUMENTED {
        assert!(
            mapping::reason_row(r).is_some(),
            "no row for GoPay reason {r}"
        );
    }
    for s in gp::CONSENT_STATUSES {
        has(Provider::Gopay, gp::CONSENT_STREAM, s);
    }
    for s in gp::BINDING_STATUSES {
        has(Provider::Gopay, gp::BINDING_STREAM, s);
    }
    assert!(!mapping::is_decisive(Provider::Gopay, gp::PDF_STREAM));
    // And no row names a status no parser knows (a typo would never match).
    for row in mapping::ROWS {
        let known = match (row.provider, stream_of(row.stream).as_str()) {
            (Provider::Xpollens, "kycDemand") => {
                KycStatus::ALL.iter().any(|s| s.name() == row.status)
            }
            (Provider::Xpollens, "userRecord") => {
                UserRecordStatus::ALL.iter().any(|s| s.name() == row.status)
            }
            (Provider::Xpollens, "userFreeze") => {
                UserFreezeStatus::ALL.iter().any(|s| s.name() == row.status)
            }
            (Provider::Xpollens, "pepScreening") => {
                PepStatus::ALL.iter().any(|s| s.name() == row.status)
            }
            (Provider::TrustSign, _) => {
                kyc_trust_sign::report::ClientFileState::ALL.contains(&row.status)
                    || row.status == "UNKNOWN"
            }
            (Provider::Gopay, gp::IDENTIFICATION_STREAM) => {
                IdentificationState::DOCUMENTED.contains(&row.status)
                    || row.status == gp::IDENTITY_MISMATCH
            }
            (Provider::Gopay, gp::CONSENT_STREAM) => gp::CONSENT_STATUSES.contains(&row.status),
            (Provider::Gopay, gp::BINDING_STREAM) => gp::BINDING_STATUSES.contains(&row.status),
            _ => false,
        };
        assert!(known, "row {} names no known status", row.rule());
    }
}

#[test]
fn trust_sign_the_newest_file_decides_and_a_fraud_mark_anywhere_blocks() {
    let mut fraud = value("REJECTED", 1, "old");
    fraud.flags = vec!["fraudMarked".into()];
    let s = state(&[
        ("clientFile#a", fraud),
        ("clientFile#b", value("ACCEPTED", 5, "new")),
    ]);
    let d = provider_decision(Provider::TrustSign, &s, &policy(), now());
    assert_eq!(d.decision, Decision::Blocked);
    assert_eq!(d.reasons, ["fraudMarked"]);
    let s = state(&[
        ("clientFile#a", value("REJECTED", 1, "old")),
        ("clientFile#b", value("ACCEPTED", 5, "new")),
    ]);
    let d = provider_decision(Provider::TrustSign, &s, &policy(), now());
    assert_eq!(d.decision, Decision::Verified);
    assert_eq!(d.evidence, ["new"]);
}

fn inputs(states: &[(Provider, ProviderState)]) -> Inputs {
    Inputs {
        states: states.iter().cloned().collect(),
        ..Inputs::default()
    }
}

fn resolve(minute: u32, outcome: &str, approver: Option<&str>) -> BankAction {
    BankAction {
        at: Utc.with_ymd_and_hms(2026, 12, 2, 9, minute, 0).unwrap(),
        action: RESOLVE_ACTION.into(),
        operator: "arn:aws:sts::123456789012:assumed-role/kyc-operator/op1".into(),
        reason: "AML-CASE-7".into(),
        detail: json!({"outcome": outcome, "approver": approver}),
    }
}

#[test]
fn a_fraud_suspicion_stays_blocked_after_a_new_demand_completes_until_the_bank_resolves() {
    let fraud = inputs(&[(
        Provider::Xpollens,
        state(&[("kycDemand", value("FraudSuspicion", 1, "f"))]),
    )]);
    let first = decide("c", &fraud, &policy(), now());
    assert_eq!(first.decision, Decision::Blocked);
    assert_eq!(first.reasons, ["fraudSuspicion"]);
    // A new demand completes: the stream forgets the suspicion, the decision does not.
    let mut later = inputs(&[(
        Provider::Xpollens,
        state(&[("kycDemand", value("Complete", 30, "ok"))]),
    )]);
    later.stored = Some(first.clone());
    let second = decide("c", &later, &policy(), now());
    assert_eq!(second.decision, Decision::Blocked);
    assert_eq!(second.blockers.len(), 1);
    assert_eq!(second.decision_version, 2);
    // The bank resolves (verified needs a second approver under the default policy).
    later.stored = Some(second.clone());
    later.bank = vec![resolve(0, "verified", None)];
    assert_eq!(
        decide("c", &later, &policy(), now()).decision,
        Decision::Blocked,
        "no approver: ignored"
    );
    later.bank = vec![resolve(
        0,
        "verified",
        Some("arn:aws:sts::123456789012:assumed-role/kyc-operator/op2"),
    )];
    let third = decide("c", &later, &policy(), now());
    assert_eq!(third.decision, Decision::Verified);
    assert!(third.blockers.is_empty());
    assert_eq!(third.flags, ["bankAdjudicated"]);
    assert_eq!(third.adjudication.as_ref().unwrap().reason, "AML-CASE-7");
    assert!(
        !serde_json::to_string(&third).unwrap().contains("op1"),
        "no operator identity"
    );
}

#[test]
fn an_adjudication_covers_what_it_saw_not_what_came_after() {
    let review = inputs(&[(
        Provider::Xpollens,
        state(&[("kycDemand", value("AwaitingExpertise", 1, "a"))]),
    )]);
    let mut i = review.clone();
    i.bank = vec![resolve(0, "rejected", None)];
    let d = decide("c", &i, &policy(), now());
    assert_eq!(d.decision, Decision::Rejected);
    // A newer provider fact (after the adjudication) is decided normally.
    let mut s = review.states[&Provider::Xpollens].clone();
    s.apply(&StatePatch {
        stream: Stream::KYC_DEMAND,
        value: StreamValue::with_finality(
            "Complete",
            8,
            true,
            Finality::Latest,
            Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap(),
            "b",
        ),
    })
    .unwrap();
    i.states.insert(Provider::Xpollens, s);
    assert_eq!(
        decide("c", &i, &policy(), now()).decision,
        Decision::Verified
    );
    // A bank block is sticky like a provider's.
    let mut b = review.clone();
    b.bank = vec![resolve(0, "blocked", None)];
    let blocked = decide("c", &b, &policy(), now());
    assert_eq!(blocked.decision, Decision::Blocked);
    assert_eq!(blocked.blockers[0].source, "bank");
}

#[test]
fn adjudications_are_checked() {
    let p = policy();
    assert_eq!(
        adjudication(&resolve(0, "pending", None), &p),
        Err(AdjudicationError::Outcome)
    );
    assert_eq!(
        adjudication(&resolve(0, "verified", None), &p),
        Err(AdjudicationError::ApproverRequired)
    );
    let same = resolve(
        0,
        "verified",
        Some("arn:aws:sts::123456789012:assumed-role/kyc-operator/op1"),
    );
    assert_eq!(
        adjudication(&same, &p),
        Err(AdjudicationError::SameApprover)
    );
    let mut bad = resolve(0, "rejected", None);
    bad.reason = "free text reason".into();
    assert_eq!(adjudication(&bad, &p), Err(AdjudicationError::Reason));
    assert!(adjudication(&resolve(0, "rejected", None), &p).is_ok());
}

#[test]
fn the_overall_precedence_and_requirements() {
    let p =
        Policy::parse(r#"{"policyVersion":"t1","requirements":{"allOf":["xpollens","gopay"]}}"#)
            .unwrap();
    let xp = |s: &str| {
        (
            Provider::Xpollens,
            state(&[("kycDemand", value(s, 1, "x"))]),
        )
    };
    let gp = |s: &str| {
        (
            Provider::Gopay,
            state(&[("gopayIdentification", value(s, 2, "g"))]),
        )
    };
    let ts = |s: &str| {
        (
            Provider::TrustSign,
            state(&[("clientFile#a", value(s, 3, "t"))]),
        )
    };
    let cases: Vec<(Vec<(Provider, ProviderState)>, Decision)> = vec![
        (vec![], Decision::NotStarted),
        (vec![xp("Complete")], Decision::NotStarted),
        (vec![xp("Complete"), gp("PENDING")], Decision::Pending),
        (
            vec![xp("Incomplete"), gp("PENDING")],
            Decision::ActionRequired,
        ),
        (vec![xp("Complete"), gp("IDENTIFIED")], Decision::Verified),
        // Not required, but a review or a rejection anywhere holds the customer.
        (
            vec![xp("Complete"), gp("IDENTIFIED"), ts("WAITING")],
            Decision::InReview,
        ),
        (
            vec![xp("Complete"), gp("IDENTIFIED"), ts("REJECTED")],
            Decision::Rejected,
        ),
        (
            vec![xp("Rejected"), gp("IDENTITY_MISMATCH")],
            Decision::Rejected,
        ),
        (
            vec![xp("FraudSuspicion"), gp("IDENTIFIED"), ts("REJECTED")],
            Decision::Blocked,
        ),
        // A step of a provider that is not required does not hold a verified customer.
        (
            vec![xp("Complete"), gp("IDENTIFIED"), ts("PENDING")],
            Decision::Verified,
        ),
    ];
    for (states, want) in cases {
        let d = decide("c", &inputs(&states), &p, now());
        assert_eq!(d.decision, want, "{states:?}");
        assert_eq!(d.policy_version, "t1");
    }
}

#[test]
fn a_verification_expires_by_policy_and_the_decision_says_until_when() {
    let p = Policy::parse(
        r#"{"policyVersion":"t2","requirements":{"anyOf":["gopay"]},"verifiedValidForDays":{"gopay":30}}"#,
    )
    .unwrap();
    let i = inputs(&[(
        Provider::Gopay,
        state(&[("gopayIdentification", value("IDENTIFIED", 1, "g"))]),
    )]);
    let d = decide("c", &i, &p, t(2));
    assert_eq!(d.decision, Decision::Verified);
    assert_eq!(d.valid_until, Some(t(1) + chrono::Duration::days(30)));
    let later = decide("c", &i, &p, t(1) + chrono::Duration::days(30));
    assert_eq!(later.decision, Decision::Expired);
    assert_eq!(later.reasons, ["validityEnded"]);
    assert_eq!(later.valid_until, None, "out of the expiry index");
}

#[tokio::test]
async fn the_expiry_sweep_expires_due_decisions_only() {
    let p = Policy::parse(
        r#"{"policyVersion":"t3","requirements":{"anyOf":["gopay"]},"verifiedValidForDays":{"gopay":30}}"#,
    )
    .unwrap();
    let store = MemoryDecisionStore::default();
    let patch = |m| StatePatch {
        stream: Stream::named("gopayIdentification").unwrap(),
        value: value("IDENTIFIED", m, "g"),
    };
    store.apply("early", Provider::Gopay, &patch(1)).unwrap();
    store.apply("late", Provider::Gopay, &patch(50)).unwrap();
    for c in ["early", "late"] {
        recompute(&store, &p, c, t(55)).await.unwrap();
    }
    let at = t(10) + chrono::Duration::days(30);
    assert_eq!(store::sweep_expiries(&store, &p, at, 100).await.unwrap(), 1);
    assert_eq!(
        store.get("early").await.unwrap().unwrap().decision,
        Decision::Expired
    );
    assert_eq!(
        store.get("late").await.unwrap().unwrap().decision,
        Decision::Verified
    );
    assert_eq!(
        store::sweep_expiries(&store, &p, at, 100).await.unwrap(),
        0,
        "out of the index once expired"
    );
}

#[tokio::test]
async fn recompute_writes_changes_only() {
    let store = MemoryDecisionStore::default();
    store
        .apply(
            "c",
            Provider::Xpollens,
            &StatePatch {
                stream: Stream::KYC_DEMAND,
                value: value("Pending", 1, "a"),
            },
        )
        .unwrap();
    let (first, cost) = recompute(&store, &policy(), "c", now()).await.unwrap();
    assert!(
        matches!(first, Recomputed::Written(d) if d.decision == Decision::Pending && d.decision_version == 1)
    );
    assert_eq!((cost.reads, cost.writes), (1, 1));
    let (again, cost) = recompute(&store, &policy(), "c", now()).await.unwrap();
    assert_eq!(again, Recomputed::Unchanged);
    assert_eq!((cost.reads, cost.writes), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_recomputes_never_leave_a_stale_decision_on_the_twin() {
    let store = Arc::new(MemoryDecisionStore::default());
    let change = twin_change(store.clone());
    store::testing::racing_recomputes(store, change, "race", &policy(), now(), Decision::Verified)
        .await;
}

#[test]
fn decision_events_match_their_schema_and_carry_no_operator() {
    let mut i = inputs(&[(
        Provider::Xpollens,
        state(&[("kycDemand", value("AwaitingExpertise", 1, "a"))]),
    )]);
    i.bank = vec![resolve(0, "rejected", None)];
    let d = decide("c-1", &i, &policy(), now());
    let e = event::KycDecisionChanged::new(&d, None);
    let v = serde_json::to_value(&e).unwrap();
    let schema: serde_json::Value = serde_json::from_str(event::SCHEMA_V1).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.add_resource("schema.json", schema).unwrap();
    let idx = compiler.compile("schema.json", &mut schemas).unwrap();
    schemas.validate(&v, idx).unwrap();
    assert_eq!(e.id, event::event_id("c-1", 1));
    assert!(!v.to_string().contains("arn:aws"));
}

#[test]
fn the_sample_event_matches_the_schema() {
    let sample: serde_json::Value =
        serde_json::from_str(include_str!("../../../events/kyc-decision-changed.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(event::SCHEMA_V1).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler.add_resource("schema.json", schema).unwrap();
    let idx = compiler.compile("schema.json", &mut schemas).unwrap();
    schemas.validate(&sample["detail"], idx).unwrap();
    let detail: event::KycDecisionChanged =
        serde_json::from_value(sample["detail"].clone()).unwrap();
    assert_eq!(sample["detail-type"], event::DETAIL_TYPE);
    assert_eq!(detail.decision, Decision::Blocked);
}

#[test]
fn every_row_is_in_the_decision_page() {
    let doc = include_str!("../../../docs/decision.md");
    for row in mapping::ROWS {
        let stream = match row.stream {
            StreamName::Exact(s) => s.to_string(),
            StreamName::Prefix(p) => format!("{p}<uuid>"),
        };
        let decision = match row.effect {
            Effect::Decide { decision, .. } => decision.as_str(),
            Effect::Neutral => "(no effect)",
        };
        let line = format!("| `{stream}` | `{}` | {decision} |", row.status);
        assert!(doc.contains(&line), "docs/decision.md lacks {line}");
    }
    for r in mapping::REASON_ROWS {
        assert!(doc.contains(&format!("| `{}` |", r.reason)), "{}", r.reason);
    }
    for f in mapping::FLAG_ROWS {
        assert!(doc.contains(&format!("`{}`", f.flag)), "{}", f.flag);
    }
}

/// Issue 24's PEP screening (issue 25's rows): an accepted PEP passes with the
/// `enhancedDueDiligence` flag on the provider's and the overall decision; a refusal blocks,
/// and stays blocked after a later acceptance until the bank resolves it.
#[test]
fn a_pep_acceptance_passes_with_enhanced_due_diligence_and_a_refusal_stays_blocked() {
    let mut accepted = value("AcceptedWithEnhancedDueDiligence", 2, "pep-ok");
    accepted.flags = vec!["enhancedDueDiligence".into()];
    let pep_ok = inputs(&[(
        Provider::Xpollens,
        state(&[
            ("kycDemand", value("Complete", 1, "k")),
            ("pepScreening", accepted.clone()),
        ]),
    )]);
    let d = decide("c", &pep_ok, &policy(), now());
    assert_eq!(d.decision, Decision::Verified);
    assert_eq!(d.flags, ["enhancedDueDiligence"]);
    assert_eq!(
        d.providers[&Provider::Xpollens].flags,
        ["enhancedDueDiligence"]
    );

    let refused = inputs(&[(
        Provider::Xpollens,
        state(&[
            ("kycDemand", value("Complete", 1, "k")),
            ("pepScreening", value("Blocked", 3, "pep-no")),
        ]),
    )]);
    let first = decide("c", &refused, &policy(), now());
    assert_eq!(first.decision, Decision::Blocked);
    assert_eq!(first.reasons, ["pepRefused"]);
    let mut later = pep_ok.clone();
    later.stored = Some(first);
    let second = decide("c", &later, &policy(), now());
    assert_eq!(second.decision, Decision::Blocked, "sticky until the bank");
    assert_eq!(second.reasons, ["pepRefused"]);
}

#[tokio::test]
async fn the_alias_map_moves_a_provider_state_to_the_bank_customer_on_the_twin() {
    let store = Arc::new(MemoryDecisionStore::default());
    let change = twin_change(store.clone());
    store::testing::alias_map(
        store.clone(),
        store.as_ref(),
        change,
        "alias",
        &policy(),
        now(),
        Decision::Verified,
    )
    .await;
}

#[test]
fn alias_rules_refuse_bad_ids_and_codes_and_one_sided_items() {
    use crate::alias::{plan, AliasError, AliasPlan, AliasRequest, ProviderSide};
    let req = |customer: &str, id: &str, reason: &str, remove: bool| AliasRequest {
        customer: customer.into(),
        provider: Provider::Gopay,
        provider_id: id.into(),
        remove,
        operator: "arn:aws:iam::1:user/op".into(),
        reason: reason.into(),
        at: now(),
    };
    assert!(matches!(
        plan(&req("", "g-1", "R", false), None, None),
        Err(AliasError::BadId("CUSTOMER"))
    ));
    assert!(matches!(
        plan(&req("c", &"x".repeat(1025), "R", false), None, None),
        Err(AliasError::BadId("PROVIDER_ID"))
    ));
    assert!(matches!(
        plan(&req("c", "g-1", "free text with spaces", false), None, None),
        Err(AliasError::BadReason)
    ));
    // A provider id whose alias was removed can be aliased again: conditional on its count.
    let removed = ProviderSide {
        customer: None,
        changes: 2,
    };
    assert_eq!(
        plan(&req("c", "g-1", "R", false), Some(&removed), None).unwrap(),
        AliasPlan::Write {
            outcome: crate::alias::AliasOutcome::Linked,
            changes_before: 2
        }
    );
    // One side without the other is corruption, never silently "fixed".
    let ours = ProviderSide {
        customer: Some("c".into()),
        changes: 1,
    };
    assert!(plan(&req("c", "g-1", "R", false), Some(&ours), None).is_err());
    assert!(plan(&req("c", "g-1", "R", true), Some(&ours), None).is_err());
    assert!(plan(&req("c", "g-1", "R", true), None, Some("g-1")).is_err());
}

#[test]
fn an_older_alias_generation_is_older_whatever_the_versions() {
    let newer_map = BasedOn {
        aliases: 2,
        xpollens: 1,
        ..BasedOn::default()
    };
    let older_map = BasedOn {
        aliases: 1,
        xpollens: 9,
        ..BasedOn::default()
    };
    assert!(older_map.any_older_than(newer_map));
    assert!(!newer_map.any_older_than(older_map));
    let same_map = BasedOn {
        aliases: 2,
        xpollens: 0,
        ..BasedOn::default()
    };
    assert!(same_map.any_older_than(newer_map));
}

/// The two changes of the scenarios on the twin: a pending demand, then a complete one.
fn twin_change(s: Arc<MemoryDecisionStore>) -> store::testing::Change {
    Arc::new(move |customer: String, n: usize| {
        let s = s.clone();
        Box::pin(async move {
            let (status, minute) = [("Pending", 1), ("Complete", 2)][n];
            s.apply(
                &customer,
                Provider::Xpollens,
                &StatePatch {
                    stream: Stream::KYC_DEMAND,
                    value: value(status, minute, &format!("{customer}-{n}")),
                },
            )
            .unwrap();
        })
    })
}
