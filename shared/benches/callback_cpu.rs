//! CPU per callback (authenticate + parse + plan of writes, sealing included) next to the
//! floor: `serde_json::from_slice::<Value>` of the same bytes. Run: `make bench`.

use base64::Engine;
use criterion::{criterion_group, Criterion, Throughput};
use kyc_shared::auth::{Credential, CredentialSet};
use kyc_shared::crypto::{Keyring, PayloadKey};
use kyc_shared::intake::EventId;
use kyc_shared::xpollens::dates::parse_process_date;
use kyc_shared::xpollens::delivery::Channel;
use kyc_shared::xpollens::parse_callback;
use kyc_shared::xpollens::plan::{plan, Delivery};
use std::hint::black_box;

#[path = "support/bench_results.rs"]
mod bench_results;

const BODIES: [(&str, &str); 3] = [
    (
        "kyc_demand_v2",
        r#"{"type":4,"status":"Incomplete","appUserId":"559d7e85J","kycLevel":"High","workflowCode":"Identity","expectedDiligences":[{"type":"Complementary","expectedCount":1,"possibleDiligenceSubTypes":["PAYSLIP","TAX_NOTICE"]}],"receivedDiligences":[{"diligenceType":"ID_CARD","status":"Validated","attachments":[{"fileName":"id.jpeg","attachmentKey":"d0cc97e1-443b-46b9-a75a-8394d387b3ea"}]},{"diligenceType":"SELFIE","status":"Refused","reason":"Too dark selfie","attachments":[{"FileName":"s.jpeg","attachmentKey":"a1"}]}]}"#,
    ),
    (
        "user_record",
        r#"{"type":"34","appUserId":"70rot07ay","publicUserCode":"363O2TWZ3787","userRecordStatus":"InProgress","identificationLevel":"Intermediate"}"#,
    ),
    (
        "sca_result",
        r#"{"Header":{"AuthenticationId":"1240b556-604e-4b5d-9bc1-73b649fc992e","Type":36,"AppUserId":"49807005J","AuthenticationResultDate":"2021-05-18T12:47:25+00:00","RequestProcessedDate":"2021-05-18T12:47:14.4008694+00:00","RequestResponseCode":201,"Status":"Succeeded","Reason":null},"Payload":""}"#,
    ),
];

fn bench(c: &mut Criterion) {
    let creds = CredentialSet::new(vec![
        Credential::from_secret_json(
            r#"{"scheme":"basic","username":"xpollens","password":"current-password"}"#,
        )
        .unwrap(),
        Credential::from_secret_json(
            r#"{"scheme":"basic","username":"xpollens","password":"previous-password"}"#,
        )
        .unwrap(),
    ]);
    let header = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("xpollens:previous-password")
    );
    let keys = Keyring::new(PayloadKey::new("bench", [7; 32]).unwrap(), vec![]);
    let received_at = chrono::Utc::now();
    for (name, body) in BODIES {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function("serde_json_value", |b| {
            b.iter(|| {
                black_box(
                    serde_json::from_slice::<serde_json::Value>(black_box(body.as_bytes()))
                        .unwrap(),
                )
            })
        });
        g.bench_function("auth_parse_plan", |b| {
            b.iter(|| {
                creds.authorize(Some(black_box(&header))).unwrap();
                let cb = parse_callback(black_box(body.as_bytes()), None).unwrap();
                let id = EventId::from_provider("3a0a2870-f188-46e5-a6f0-f55b38565d7b").unwrap();
                let d = Delivery {
                    event_id: &id,
                    received_at,
                    process_date: parse_process_date("12/12/2023 17:51:40 +00:00"),
                    body: body.as_bytes(),
                    channel: &Channel::Live,
                    notes: &[],
                };
                black_box(plan(&cb, &d, &keys))
            })
        });
        // The stages alone, to see where the time goes.
        g.bench_function("stage_auth", |b| {
            b.iter(|| creds.authorize(Some(black_box(&header))).unwrap())
        });
        g.bench_function("stage_parse", |b| {
            b.iter(|| black_box(parse_callback(black_box(body.as_bytes()), None).unwrap()))
        });
        let cb = parse_callback(body.as_bytes(), None).unwrap();
        let id = EventId::from_provider("3a0a2870-f188-46e5-a6f0-f55b38565d7b").unwrap();
        g.bench_function("stage_plan", |b| {
            b.iter(|| {
                let d = Delivery {
                    event_id: &id,
                    received_at,
                    process_date: None,
                    body: body.as_bytes(),
                    channel: &Channel::Live,
                    notes: &[],
                };
                black_box(plan(black_box(&cb), &d, &keys))
            })
        });
        let body_aad = kyc_shared::crypto::Aad::new("xpollens", "x", "body", Some("c"));
        g.bench_function("stage_seal_body", |b| {
            b.iter(|| black_box(keys.seal(&body_aad, black_box(body.as_bytes()))))
        });
        g.bench_function("stage_process_date", |b| {
            b.iter(|| black_box(parse_process_date(black_box("12/12/2023 17:51:40 +00:00"))))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);

/// Criterion's mean estimate of `group/function`, in ns (None when filtered out).
fn mean_ns(group: &str, function: &str) -> Option<f64> {
    let path = bench_results::target_dir()
        .join("criterion")
        .join(group)
        .join(function)
        .join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Goal (issue 13): a callback's CPU (authenticate + parse + plan, sealing included) within
    // 3x a bare `serde_json::Value` parse of the same bytes.
    let mut figures = Vec::new();
    for (name, _) in BODIES {
        let (Some(floor), Some(ours)) = (
            mean_ns(name, "serde_json_value"),
            mean_ns(name, "auth_parse_plan"),
        ) else {
            continue;
        };
        let ratio = ours / floor;
        figures.push(bench_results::figure(
            &format!("CPU per callback ({name}): auth + parse + plan vs serde_json::Value parse ({:.1} us vs {:.1} us)", ours / 1000.0, floor / 1000.0),
            "<= 3x",
            (ratio * 100.0).round() / 100.0,
            "x",
            Some(ratio <= 3.0),
        ));
    }
    if !figures.is_empty() {
        bench_results::write("callback-cpu", figures);
    }
}
