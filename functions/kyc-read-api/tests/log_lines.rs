//! Issue 28: one request can be followed through the logs. The real binary, started as Lambda
//! starts it (the Runtime API of `lambda-harness`, `AWS_LAMBDA_LOG_FORMAT=JSON` as the
//! template's `LoggingConfig` sets it), writes every line of an invocation with that
//! invocation's `requestId` and X-Ray `xrayTraceId`. The trace header differs per invocation,
//! so a line credited to the wrong invocation fails too.

use lambda_harness::{trace_id, Answer, Harness};
use std::io::BufRead;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_of_an_invocation_carries_its_request_id_and_trace_id() {
    // No AWS call is made: a request without IAM attestation is refused before any read.
    let harness = Harness::start("http://127.0.0.1:9").await;
    let mut child = harness
        .spawn(
            std::path::Path::new(env!("CARGO_BIN_EXE_kyc-read-api")),
            &[
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                ("AWS_REGION", "eu-west-3"),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
                ("TABLE_NAME", "kyc"),
            ],
        )
        .expect("start the function binary");
    let stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    harness
        .wait_ready(&mut child, Duration::from_secs(30))
        .await
        .expect("init");
    let event: serde_json::Value = serde_json::from_str(include_str!(
        "../../../events/read-api-customer-kyc-without-iam.json"
    ))
    .unwrap();
    for _ in 0..2 {
        let (answer, _) = harness
            .invoke(&event, Duration::from_secs(30))
            .await
            .expect("an answer");
        let Answer::Response(response) = answer else {
            panic!("{answer:?}")
        };
        assert_eq!(response["statusCode"], 403, "{response}");
    }
    child.kill().ok();
    child.wait().ok();
    let lines = reader.join().unwrap();

    let refusals: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("every line is JSON"))
        .filter(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("without IAM"))
        })
        .collect();
    assert_eq!(refusals.len(), 2, "{lines:#?}");
    for (n, line) in refusals.iter().enumerate() {
        let request_id = format!("req-{}", n + 1);
        assert_eq!(line["span"]["requestId"], request_id.as_str(), "{line}");
        assert_eq!(
            line["span"]["xrayTraceId"],
            trace_id(&request_id).as_str(),
            "{line}"
        );
    }
    // Whatever else an invocation logs sits in the same span, with both ids.
    for l in &lines {
        let line: serde_json::Value = serde_json::from_str(l).unwrap();
        if let Some(span) = line.get("span") {
            assert!(span["requestId"].is_string(), "{line}");
            assert!(span["xrayTraceId"].is_string(), "{line}");
        }
    }
}
