//! Cold start of the xpollens-callback function next to a hello-world lambda_http binary, both
//! release builds, in the same run: each started `RUNS` times by the local Runtime API harness
//! (`testkit/lambda-harness`) against moto (table, body bucket and secrets provisioned), with
//! every AWS call counted at the harness's proxy.
//!
//! Per start: init (spawn → first `/next`), a cold invoke (first callback) and a warm invoke
//! (second callback, another customer: the same work). Medians are written to
//! `target/bench-results/coldstart.json`. Needs `cargo build --release -p xpollens-callback
//! -p lambda-harness --bins` first (`make bench` does it).

use kyc_integration_tests::{
    basic, provision, Moto, BODY_BUCKET, CREDENTIALS_SECRET, PASSWORD, TABLE, USERNAME,
    XPOLLENS_PAYLOAD_KEY_SECRET,
};
use lambda_harness::{count, Answer, Harness};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

const RUNS: usize = 5;
const TIMEOUT: Duration = Duration::from_secs(30);

struct Start {
    init_ms: f64,
    cold_ms: f64,
    warm_ms: f64,
    /// DynamoDB calls: init + first invoke, and the warm invoke alone.
    ddb_cold: usize,
    ddb_warm: usize,
    /// Secrets Manager calls during init, and during the first invoke.
    secrets_init: usize,
    secrets_first_invoke: usize,
    /// Mean DynamoDB call time (ms) at the proxy, this start.
    ddb_rtt_ms: f64,
    /// EMF lines the function printed with EventsRecorded.
    emf_events: usize,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// A callback 4 of a new customer, as API Gateway hands it over.
fn callback(n: usize) -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events/xpollens-04-v1-pending.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let body = json!({"type": "4", "status": "Pending", "appUserId": format!("coldstart-{n}")});
    event["body"] = Value::String(body.to_string());
    event["headers"]["content-length"] = Value::String(body.to_string().len().to_string());
    event["headers"]["webhook-id"] = Value::String(format!("coldstart-{n}"));
    event["headers"]["authorization"] = Value::String(basic(USERNAME, PASSWORD));
    event
}

async fn one_start(binary: &Path, env: &[(&str, &str)], upstream: &str, n: usize) -> Start {
    let h = Harness::start(upstream).await;
    let mut child = h.spawn(binary, env).expect("spawn the function");
    let init = h
        .wait_ready(&mut child, TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let ready = h.mark();
    let (first, cold) = h
        .invoke(&callback(2 * n), TIMEOUT)
        .await
        .expect("cold invoke");
    let after_cold = h.mark();
    let (second, warm) = h
        .invoke(&callback(2 * n + 1), TIMEOUT)
        .await
        .expect("warm invoke");
    let after_warm = h.mark();
    for answer in [&first, &second] {
        let Answer::Response(r) = answer else {
            panic!("{}: {answer:?}", binary.display())
        };
        let status = r["statusCode"].as_u64().unwrap_or(0);
        assert!((200..300).contains(&status), "{}: {r}", binary.display());
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("function output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let emf_events = stdout
        .lines()
        .filter(|l| l.contains("\"_aws\"") && l.contains("\"EventsRecorded\":1"))
        .count();
    let init_calls = h.calls_between(ready - init - Duration::from_secs(1), ready);
    let cold_calls = h.calls_between(ready, after_cold);
    let warm_calls = h.calls_between(after_cold, after_warm);
    let ddb: Vec<_> = h
        .calls()
        .into_iter()
        .filter(|c| c.service == "dynamodb")
        .collect();
    Start {
        init_ms: ms(init),
        cold_ms: ms(cold),
        warm_ms: ms(warm),
        ddb_cold: count(&init_calls, "dynamodb") + count(&cold_calls, "dynamodb"),
        ddb_warm: count(&warm_calls, "dynamodb"),
        secrets_init: count(&init_calls, "secretsmanager"),
        secrets_first_invoke: count(&cold_calls, "secretsmanager"),
        ddb_rtt_ms: if ddb.is_empty() {
            0.0
        } else {
            ddb.iter().map(|c| ms(c.took)).sum::<f64>() / ddb.len() as f64
        },
        emf_events,
    }
}

fn figure(name: &str, goal: &str, value: f64, unit: &str, pass: bool) -> Value {
    json!({"figure": name, "goal": goal, "value": value, "unit": unit, "pass": pass})
}

#[tokio::main]
async fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    // The function binaries are the release ones of this target directory (this harness may be
    // built with another profile: `make bench` uses `bench-tools`).
    let release = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|target| target.join("release")))
        .unwrap_or_else(|| root.join("target/release"));
    let callback_bin = release.join("xpollens-callback");
    let hello_bin = release.join("hello-lambda");
    for b in [&callback_bin, &hello_bin] {
        assert!(
            b.exists(),
            "{} missing: cargo build --release -p xpollens-callback -p lambda-harness --bins",
            b.display()
        );
    }
    let moto = Moto::start();
    provision(&moto.sdk_config().await, TABLE).await;
    let common = [
        ("AWS_REGION", "eu-west-3"),
        ("AWS_DEFAULT_REGION", "eu-west-3"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let mut callback_env = common.to_vec();
    callback_env.extend([
        ("TABLE_NAME", TABLE),
        ("XPOLLENS_CREDENTIALS_SECRET", CREDENTIALS_SECRET),
        ("PAYLOAD_KEY_SECRET", XPOLLENS_PAYLOAD_KEY_SECRET),
        ("XPOLLENS_BODY_BUCKET", BODY_BUCKET),
    ]);
    // Alternate the two binaries so machine load affects both alike.
    let (mut hello, mut cb) = (Vec::new(), Vec::new());
    for n in 0..RUNS {
        hello.push(one_start(&hello_bin, &common, &moto.endpoint, 100 + n).await);
        cb.push(one_start(&callback_bin, &callback_env, &moto.endpoint, n).await);
    }
    let med = |v: &[Start], f: fn(&Start) -> f64| median(v.iter().map(f).collect());
    let (hello_init, hello_cold, hello_warm) = (
        med(&hello, |s| s.init_ms),
        med(&hello, |s| s.cold_ms),
        med(&hello, |s| s.warm_ms),
    );
    let (cb_init, cb_cold, cb_warm) = (
        med(&cb, |s| s.init_ms),
        med(&cb, |s| s.cold_ms),
        med(&cb, |s| s.warm_ms),
    );
    let ddb_cold = cb.iter().map(|s| s.ddb_cold).max().unwrap();
    let ddb_warm = cb.iter().map(|s| s.ddb_warm).min().unwrap();
    let secrets_first = cb.iter().map(|s| s.secrets_first_invoke).max().unwrap();
    let secrets_init = med(&cb, |s| s.secrets_init as f64);
    let rtt = med(&cb, |s| s.ddb_rtt_ms);
    let emf_ok = cb.iter().all(|s| s.emf_events == 2);
    let results = vec![
        figure("hello-world lambda_http init (spawn → first /next), median of 5", "baseline", hello_init, "ms", true),
        figure("hello-world first invoke, median of 5", "baseline", hello_cold, "ms", true),
        figure("hello-world warm invoke, median of 5", "baseline", hello_warm, "ms", true),
        figure(
            "xpollens-callback init (secrets fetched concurrently), median of 5",
            &format!("reported beside hello world ({hello_init} ms); includes {secrets_init} Secrets Manager calls"),
            cb_init,
            "ms",
            true,
        ),
        figure("xpollens-callback cold invoke (first callback), median of 5", &format!("≤ warm ({cb_warm} ms) + 1 DynamoDB round trip ({rtt} ms)"), cb_cold, "ms", cb_cold <= cb_warm + rtt),
        figure("xpollens-callback warm invoke, median of 5", "reference", cb_warm, "ms", true),
        figure("xpollens-callback DynamoDB round trip at the proxy (moto), median", "reference", rtt, "ms", true),
        figure("xpollens-callback DynamoDB calls, cold (init + first callback), max of 5", &format!("≤ warm ({ddb_warm}) + 1"), ddb_cold as f64, "calls", ddb_cold <= ddb_warm + 1),
        figure("xpollens-callback DynamoDB calls, warm callback, min of 5", "1 (one TransactWriteItems)", ddb_warm as f64, "calls", ddb_warm == 1),
        figure("xpollens-callback Secrets Manager calls during the first callback, max of 5", "0 (fetched during init)", secrets_first as f64, "calls", secrets_first == 0),
        figure("xpollens-callback EMF lines with EventsRecorded per start (2 callbacks)", "2", med(&cb, |s| s.emf_events as f64), "lines", emf_ok),
    ];
    let dir = root.join("target/bench-results");
    std::fs::create_dir_all(&dir).unwrap();
    let text = serde_json::to_string_pretty(&results).unwrap();
    std::fs::write(dir.join("coldstart.json"), &text).unwrap();
    println!("{text}");
    println!("written to {}", dir.join("coldstart.json").display());
}
