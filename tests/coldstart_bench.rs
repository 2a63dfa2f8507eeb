//! Cold start of every function that reads secrets (issue 21) next to a hello-world
//! lambda_http binary, all release builds, in the same run: each started `RUNS` times by the
//! local Runtime API harness (`testkit/lambda-harness`) against moto (table, buckets and
//! secrets provisioned as after a deployment's setup: keyrings in the keyring form) and the
//! provider simulators, with every AWS call counted and timed at the harness's proxy.
//!
//! Per start: init (spawn → first `/next`), a cold invoke (the first callback, archive or run)
//! and a warm invoke (the same work again: another customer, archive or run). Medians go to
//! `target/bench-results/coldstart.json`. Goals (issue 21), per function:
//! - init ≤ hello-world init + one round trip (the one Secrets Manager call);
//! - xpollens-callback: init + first callback ≤ hello init + two round trips (the secrets
//!   read, then the callback's one TransactWriteItems);
//! - the others, whose invocation is not one round trip: init + first invocation ≤ hello
//!   init + one round trip + their warm invocation (the first invocation costs nothing the
//!   warm one does not).
//!
//! A round trip is the median time moto takes for that call at the proxy (Secrets Manager's
//! BatchGetSecretValue; DynamoDB's calls). Needs the release binaries first (`make bench`).

use kyc_integration_tests::cold_start::{
    function_env, provision_every_function, Upstreams, SECRET_READERS,
};
use kyc_integration_tests::trust_sign::{enable_versioning, put, record_json, s3, BUCKET};
use kyc_integration_tests::{
    basic, Moto, CREDENTIALS_SECRET, PASSWORD, USERNAME, XPOLLENS_PAYLOAD_KEY_SECRET,
};
use lambda_harness::{count, Answer, AwsCall, Harness};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

const RUNS: usize = 5;
const TIMEOUT: Duration = Duration::from_secs(30);

struct Start {
    init_ms: f64,
    cold_ms: f64,
    warm_ms: f64,
    /// Secrets Manager calls during init, and during the first invoke.
    secrets_init: usize,
    secrets_first_invoke: usize,
    /// Time of each Secrets Manager and DynamoDB call at the proxy, this start (ms).
    secrets_rtt: Vec<f64>,
    ddb_rtt: Vec<f64>,
    /// DynamoDB calls of the first and of the warm invocation.
    ddb_first: usize,
    ddb_warm: usize,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A callback 4 of a new customer, as API Gateway hands it over.
fn callback(n: usize) -> Value {
    let path = root().join("events/xpollens-04-v1-pending.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let body = json!({"type": "4", "status": "Pending", "appUserId": format!("coldstart-{n}")});
    event["body"] = Value::String(body.to_string());
    event["headers"]["content-length"] = Value::String(body.to_string().len().to_string());
    event["headers"]["webhook-id"] = Value::String(format!("coldstart-{n}"));
    event["headers"]["authorization"] = Value::String(basic(USERNAME, PASSWORD));
    event
}

/// `POST /gopay/consents` for a new customer.
fn consent_start(n: usize) -> Value {
    let path = root().join("events/gopay-consent-start.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let body = json!({"customerId": format!("coldstart-{n}")}).to_string();
    event["headers"]["content-length"] = Value::String(body.len().to_string());
    event["body"] = Value::String(body);
    event
}

/// A scheduler's event (the drain and the sync ignore its payload).
fn scheduled(name: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(root().join(format!("events/{name}-scheduled.json"))).unwrap(),
    )
    .unwrap()
}

/// What the benchmark hands each function, and the archives the Trust & Sign one reads.
struct Events {
    archives: Vec<Value>,
}

impl Events {
    fn get(&self, function: &str, n: usize) -> Value {
        match function {
            "hello-lambda" | "hello-secrets" | "xpollens-callback" => callback(n),
            "gopay-consent" => consent_start(n),
            "gopay-sync" => scheduled("gopay-sync"),
            "xpollens-queue-drain" => scheduled("xpollens-queue-drain"),
            "trust-sign-archive" => json!({"Records": [self.archives[n].clone()]}),
            other => panic!("{other}"),
        }
    }
}

fn calls_ms(calls: &[AwsCall], service: &str) -> Vec<f64> {
    calls
        .iter()
        .filter(|c| c.service == service)
        .map(|c| ms(c.took))
        .collect()
}

async fn one_start(
    binary: &Path,
    env: &[(&str, String)],
    upstream: &str,
    first: Value,
    warm: Value,
) -> Start {
    let h = Harness::start(upstream).await;
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut child = h.spawn(binary, &env).expect("spawn the function");
    let init = h
        .wait_ready(&mut child, TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let ready = h.mark();
    let (first_answer, cold) = h.invoke(&first, TIMEOUT).await.expect("cold invoke");
    let after_cold = h.mark();
    let (warm_answer, warm) = h.invoke(&warm, TIMEOUT).await.expect("warm invoke");
    let after_warm = h.mark();
    for answer in [&first_answer, &warm_answer] {
        let Answer::Response(r) = answer else {
            panic!("{}: {answer:?}", binary.display())
        };
        if let Some(status) = r.get("statusCode").and_then(Value::as_u64) {
            assert!((200..400).contains(&status), "{}: {r}", binary.display());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let init_calls = h.calls_between(ready - init - Duration::from_secs(1), ready);
    let cold_calls = h.calls_between(ready, after_cold);
    let warm_calls = h.calls_between(after_cold, after_warm);
    let all = h.calls();
    Start {
        init_ms: ms(init),
        cold_ms: ms(cold),
        warm_ms: ms(warm),
        secrets_init: count(&init_calls, "secretsmanager"),
        secrets_first_invoke: count(&cold_calls, "secretsmanager"),
        secrets_rtt: calls_ms(&all, "secretsmanager"),
        ddb_rtt: calls_ms(&all, "dynamodb"),
        ddb_first: count(&cold_calls, "dynamodb"),
        ddb_warm: count(&warm_calls, "dynamodb"),
    }
}

fn figure(name: &str, goal: &str, value: f64, unit: &str, pass: bool) -> Value {
    json!({"figure": name, "goal": goal, "value": value, "unit": unit, "pass": pass})
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[tokio::main]
async fn main() {
    // The function binaries are the release ones of this target directory (this harness may be
    // built with another profile: `make bench` uses `bench-tools`).
    let release = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|target| target.join("release")))
        .unwrap_or_else(|| root().join("target/release"));
    let binaries: Vec<(&str, PathBuf)> = ["hello-lambda", "hello-secrets"]
        .into_iter()
        .chain(SECRET_READERS)
        .map(|name| (name, release.join(name)))
        .collect();
    for (_, b) in &binaries {
        assert!(
            b.exists(),
            "{} missing: cargo build --release -p lambda-harness -p <functions> --bins (make bench)",
            b.display()
        );
    }
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let gopay = gopay_sim::GoPaySim::start(gopay_sim::SimConfig::default())
        .await
        .expect("GoPay simulator");
    let xpollens = xpollens_sim::XpollensSim::start(xpollens_sim::SimConfig::default())
        .await
        .expect("Xpollens simulator");
    let sim = gopay_sim::SimConfig::default();
    provision_every_function(
        &config,
        &json!({"clientId": sim.client_id, "clientSecret": sim.client_secret}).to_string(),
        &xpollens.credentials_json(),
    )
    .await;
    // Two archives per start, each its own customer.
    let s3 = s3(&config);
    // provision_every_function created the archive bucket; as deployed, it keeps versions.
    enable_versioning(&s3, BUCKET).await;
    let mut archives = Vec::new();
    for n in 0..2 * RUNS {
        let mut bytes = Vec::new();
        let opts = trust_sign_gen::ArchiveOptions {
            report_patch: Some(json!({"clientFile": {"externalId": format!("coldstart-ts-{n}")}})),
            ..trust_sign_gen::ArchiveOptions::default()
        };
        trust_sign_gen::write_archive(trust_sign_gen::Kind::Full, &opts, &mut bytes).unwrap();
        let up = put(&s3, BUCKET, &format!("incoming/coldstart {n}.zip"), bytes).await;
        archives.push(record_json(BUCKET, &up));
    }
    let events = Events { archives };
    let upstreams = Upstreams {
        gopay_auth: gopay.auth_base_url(),
        gopay_client: gopay.client_base_url(),
        xpollens: xpollens.base_url(),
    };
    let aws = [
        ("AWS_REGION", "eu-west-3".to_string()),
        ("AWS_DEFAULT_REGION", "eu-west-3".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ];
    let mut starts: Vec<(&str, Vec<Start>)> = binaries
        .iter()
        .map(|(name, _)| (*name, Vec::new()))
        .collect();
    // Round-robin over the binaries so machine load affects all alike.
    for run in 0..RUNS {
        for (i, (name, binary)) in binaries.iter().enumerate() {
            let mut env = aws.to_vec();
            match *name {
                "hello-lambda" => {}
                // The callback's two secrets.
                "hello-secrets" => env.push((
                    "HELLO_SECRET_IDS",
                    format!("{CREDENTIALS_SECRET},{XPOLLENS_PAYLOAD_KEY_SECRET}"),
                )),
                _ => env.extend(function_env(name, &upstreams)),
            }
            let start = one_start(
                binary,
                &env,
                &moto.endpoint,
                events.get(name, 2 * run),
                events.get(name, 2 * run + 1),
            )
            .await;
            starts[i].1.push(start);
        }
    }
    let med = |v: &[Start], f: fn(&Start) -> f64| median(v.iter().map(f).collect());
    let hello = &starts[0].1;
    let hello_init = med(hello, |s| s.init_ms);
    let mut results = vec![
        figure(
            &format!("hello-world lambda_http init (spawn → first /next), median of {RUNS}"),
            "baseline",
            hello_init,
            "ms",
            true,
        ),
        figure(
            &format!("hello-world first invoke, median of {RUNS}"),
            "baseline",
            med(hello, |s| s.cold_ms),
            "ms",
            true,
        ),
    ];
    // The reference: hello with the same one Secrets Manager call in init. Its init minus
    // hello's is what one SDK call costs a cold process in all (the round trip the proxy sees,
    // plus the client, the first request's preparation, a new connection, the answer parsed):
    // the part of a function's init that is not its own code.
    let one_call = &starts[1].1;
    let one_call_init = med(one_call, |s| s.init_ms);
    let one_call_rtt = median(
        one_call
            .iter()
            .flat_map(|s| s.secrets_rtt.clone())
            .collect(),
    );
    results.push(figure(
        &format!(
            "hello-world + the one Secrets Manager call in init, median of {RUNS} (its round trip at the proxy {one_call_rtt} ms)"
        ),
        &format!(
            "reference: one SDK call costs a cold process {} ms beyond hello",
            round(one_call_init - hello_init)
        ),
        one_call_init,
        "ms",
        true,
    ));
    for (name, runs) in &starts[2..] {
        let init = med(runs, |s| s.init_ms);
        let cold = med(runs, |s| s.cold_ms);
        let warm = med(runs, |s| s.warm_ms);
        let sm_rtt = median(runs.iter().flat_map(|s| s.secrets_rtt.clone()).collect());
        let ddb_rtt = median(runs.iter().flat_map(|s| s.ddb_rtt.clone()).collect());
        let secrets_init = runs.iter().map(|s| s.secrets_init).max().unwrap();
        let secrets_first = runs.iter().map(|s| s.secrets_first_invoke).max().unwrap();
        let init_goal = round(hello_init + sm_rtt);
        results.push(figure(
            &format!(
                "{name} init, median of {RUNS} (hello + the same call: {one_call_init} ms; our own code: {} ms)",
                round(init - one_call_init)
            ),
            &format!("≤ hello init + 1 round trip = {hello_init} + {sm_rtt} = {init_goal} ms"),
            init,
            "ms",
            init <= init_goal,
        ));
        let total = round(init + cold);
        if *name == "xpollens-callback" {
            let goal = round(hello_init + sm_rtt + ddb_rtt);
            results.push(figure(
                &format!("{name} init + first callback, medians of {RUNS}"),
                &format!(
                    "≤ hello init + 2 round trips = {hello_init} + {sm_rtt} + {ddb_rtt} = {goal} ms"
                ),
                total,
                "ms",
                total <= goal,
            ));
        } else {
            let goal = round(hello_init + sm_rtt + warm);
            results.push(figure(
                &format!("{name} init + first invocation, medians of {RUNS}"),
                &format!(
                    "≤ hello init + 1 round trip + warm invocation = {hello_init} + {sm_rtt} + {warm} = {goal} ms"
                ),
                total,
                "ms",
                total <= goal,
            ));
        }
        results.push(figure(
            &format!("{name} first invocation, median of {RUNS}"),
            "reference",
            cold,
            "ms",
            true,
        ));
        results.push(figure(
            &format!("{name} warm invocation, median of {RUNS}"),
            "reference",
            warm,
            "ms",
            true,
        ));
        results.push(figure(
            &format!("{name} Secrets Manager calls during init, max of {RUNS}"),
            "1 (BatchGetSecretValue)",
            secrets_init as f64,
            "calls",
            secrets_init == 1,
        ));
        results.push(figure(
            &format!("{name} Secrets Manager calls during the first invocation, max of {RUNS}"),
            "0 (read during init)",
            secrets_first as f64,
            "calls",
            secrets_first == 0,
        ));
        results.push(figure(
            &format!("{name} DynamoDB calls, first / warm invocation (max / min of {RUNS})"),
            &format!(
                "reference (warm: {})",
                runs.iter().map(|s| s.ddb_warm).min().unwrap()
            ),
            runs.iter().map(|s| s.ddb_first).max().unwrap() as f64,
            "calls",
            true,
        ));
        results.push(figure(
            &format!("{name} round trips at the proxy (moto), medians: Secrets Manager / DynamoDB"),
            &format!("reference (DynamoDB {ddb_rtt} ms)"),
            sm_rtt,
            "ms",
            true,
        ));
    }
    let dir = root().join("target/bench-results");
    std::fs::create_dir_all(&dir).unwrap();
    let text = serde_json::to_string_pretty(&results).unwrap();
    std::fs::write(dir.join("coldstart.json"), &text).unwrap();
    println!("{text}");
    println!("written to {}", dir.join("coldstart.json").display());
    drop(gopay);
    drop(xpollens);
}
