//! A local Lambda Runtime API for measuring cold starts of the real function binaries.
//!
//! [`Harness::start`] serves the Runtime API (`/2018-06-01/runtime/invocation/next`,
//! `.../{id}/response`, `.../{id}/error`, `/2018-06-01/runtime/init/error`) and an AWS endpoint
//! proxy that forwards every request to a local AWS emulator (moto) and records each call
//! (service, operation, time taken), so a run can count DynamoDB round trips per phase.
//! [`Harness::spawn`] starts a function binary with `AWS_LAMBDA_RUNTIME_API` and
//! `AWS_ENDPOINT_URL` pointing at them; init is spawn → first `/next`, an invoke is event
//! handed → response received.

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Notify};

/// One AWS call the function made through the proxy.
#[derive(Debug, Clone)]
pub struct AwsCall {
    /// `dynamodb`, `secretsmanager`, `s3`...
    pub service: String,
    /// `TransactWriteItems`, `GetSecretValue`, or the HTTP method for REST services.
    pub operation: String,
    pub at: Instant,
    pub took: Duration,
}

/// What the function answered an invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Response(serde_json::Value),
    /// `/error`: the runtime's error document (`errorType`, `errorMessage`).
    Error(serde_json::Value),
}

struct Invocation {
    id: String,
    event: Bytes,
}

struct Shared {
    next_tx: mpsc::Sender<Invocation>,
    next_rx: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    first_next: Mutex<Option<Instant>>,
    ready: Notify,
    init_error: Mutex<Option<serde_json::Value>>,
    calls: Mutex<Vec<AwsCall>>,
    upstream: String,
    client: reqwest::Client,
    ids: AtomicU64,
}

pub struct Harness {
    shared: Arc<Shared>,
    pub runtime_api: String,
    pub aws_endpoint: String,
    spawned_at: Mutex<Option<Instant>>,
}

/// Why an invocation or an init did not complete.
#[derive(Debug)]
pub enum HarnessError {
    InitFailed(String),
    Timeout(&'static str),
    Exited(String),
}

impl std::fmt::Display for HarnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HarnessError::InitFailed(e) => write!(f, "init failed: {e}"),
            HarnessError::Timeout(what) => write!(f, "timed out waiting for {what}"),
            HarnessError::Exited(e) => write!(f, "function exited: {e}"),
        }
    }
}

impl std::error::Error for HarnessError {}

impl Harness {
    /// Serves the Runtime API and the AWS proxy (in front of `upstream`) on loopback ports.
    pub async fn start(upstream: &str) -> Self {
        let (next_tx, next_rx) = mpsc::channel(16);
        let shared = Arc::new(Shared {
            next_tx,
            next_rx: tokio::sync::Mutex::new(next_rx),
            pending: Mutex::default(),
            first_next: Mutex::default(),
            ready: Notify::new(),
            init_error: Mutex::default(),
            calls: Mutex::default(),
            upstream: upstream.trim_end_matches('/').to_string(),
            client: {
                // reqwest takes the process's TLS provider: the build's one (aws-lc-rs).
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                reqwest::Client::builder()
                    .no_proxy()
                    .build()
                    .expect("loopback HTTP client")
            },
            ids: AtomicU64::new(0),
        });
        let runtime = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let proxy = Router::new().fallback(forward).with_state(shared.clone());
        let runtime_api = serve(runtime).await;
        let aws_endpoint = format!("http://{}", serve(proxy).await);
        Self {
            shared,
            runtime_api,
            aws_endpoint,
            spawned_at: Mutex::default(),
        }
    }

    /// Starts `binary` as Lambda would (`env` added to the Lambda variables; nothing inherited).
    pub fn spawn(
        &self,
        binary: &std::path::Path,
        env: &[(&str, &str)],
    ) -> std::io::Result<std::process::Child> {
        let mut cmd = std::process::Command::new(binary);
        cmd.env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", &self.runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", "coldstart")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/coldstart")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_ENDPOINT_URL", &self.aws_endpoint)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        *self.spawned_at.lock().unwrap() = Some(Instant::now());
        cmd.spawn()
    }

    /// Waits for the first `/next`: the init time since [`Harness::spawn`].
    pub async fn wait_ready(
        &self,
        child: &mut std::process::Child,
        timeout: Duration,
    ) -> Result<Duration, HarnessError> {
        let spawned = self.spawned_at.lock().unwrap().expect("spawned first");
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(at) = *self.shared.first_next.lock().unwrap() {
                return Ok(at - spawned);
            }
            if let Some(e) = self.shared.init_error.lock().unwrap().clone() {
                return Err(HarnessError::InitFailed(e.to_string()));
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(HarnessError::Exited(status.to_string()));
            }
            tokio::select! {
                _ = self.shared.ready.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                _ = tokio::time::sleep_until(deadline) => return Err(HarnessError::Timeout("the first /next")),
            }
        }
    }

    /// Hands `event` to the function and waits for its answer: (answer, event → answer time).
    pub async fn invoke(
        &self,
        event: &serde_json::Value,
        timeout: Duration,
    ) -> Result<(Answer, Duration), HarnessError> {
        let id = format!(
            "req-{}",
            self.shared.ids.fetch_add(1, Ordering::Relaxed) + 1
        );
        let (tx, rx) = oneshot::channel();
        self.shared.pending.lock().unwrap().insert(id.clone(), tx);
        let started = Instant::now();
        let invocation = Invocation {
            id,
            event: Bytes::from(serde_json::to_vec(event).expect("JSON event")),
        };
        if self.shared.next_tx.send(invocation).await.is_err() {
            return Err(HarnessError::Exited("runtime API closed".into()));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => Ok((answer, started.elapsed())),
            Ok(Err(_)) => Err(HarnessError::Exited("answer channel dropped".into())),
            Err(_) => Err(HarnessError::Timeout("the invocation's answer")),
        }
    }

    /// A point in time to count calls from.
    pub fn mark(&self) -> Instant {
        Instant::now()
    }

    /// The AWS calls made in `[from, to)`.
    pub fn calls_between(&self, from: Instant, to: Instant) -> Vec<AwsCall> {
        self.shared
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.at >= from && c.at < to)
            .cloned()
            .collect()
    }

    /// Every AWS call so far.
    pub fn calls(&self) -> Vec<AwsCall> {
        self.shared.calls.lock().unwrap().clone()
    }
}

/// Counts `service` calls in `calls`.
pub fn count(calls: &[AwsCall], service: &str) -> usize {
    calls.iter().filter(|c| c.service == service).count()
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr.to_string()
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    {
        let mut first = s.first_next.lock().unwrap();
        if first.is_none() {
            *first = Some(Instant::now());
            s.ready.notify_waiters();
        }
    }
    let Some(inv) = s.next_rx.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 30_000)
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    let mut put = |k: &'static str, v: String| {
        headers.insert(k, HeaderValue::from_str(&v).expect("ASCII header"));
    };
    put("lambda-runtime-trace-id", trace_id(&inv.id));
    put("lambda-runtime-aws-request-id", inv.id);
    put("lambda-runtime-deadline-ms", deadline_ms.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:eu-west-3:123456789012:function:coldstart".into(),
    );
    put("content-type", "application/json".into());
    (headers, inv.event).into_response()
}

/// The X-Ray trace header the harness hands with invocation `request_id` (`req-N`): one trace
/// per invocation, so a test can tell which invocation a log line belongs to.
pub fn trace_id(request_id: &str) -> String {
    let n: u64 = request_id.trim_start_matches("req-").parse().unwrap_or(0);
    format!("Root=1-00000000-{n:024x};Sampled=1")
}

fn answer(s: &Shared, id: &str, answer: Answer) -> StatusCode {
    match s.pending.lock().unwrap().remove(id) {
        Some(tx) => {
            let _ = tx.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

fn json_or_text(body: &Bytes) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into()))
}

async fn response(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&s, &id, Answer::Response(json_or_text(&body)))
}

async fn error(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&s, &id, Answer::Error(json_or_text(&body)))
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *s.init_error.lock().unwrap() = Some(json_or_text(&body));
    StatusCode::ACCEPTED
}

/// The service and operation of an AWS request: JSON-protocol services name both in
/// `X-Amz-Target` (`DynamoDB_20120810.TransactWriteItems`, `secretsmanager.GetSecretValue`);
/// anything else here is S3 (REST), named by its method.
pub fn classify(target: Option<&str>, method: &str) -> (String, String) {
    match target.and_then(|t| t.split_once('.')) {
        Some((service, op)) => {
            let service = if service.starts_with("DynamoDB") {
                "dynamodb".to_string()
            } else {
                service.to_ascii_lowercase()
            };
            (service, op.to_string())
        }
        None => ("s3".into(), method.to_string()),
    }
}

async fn forward(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let (service, operation) = classify(
        parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok()),
        parts.method.as_str(),
    );
    let Ok(body) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut request = s
        .client
        .request(parts.method.clone(), format!("{}{path}", s.upstream));
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection") {
            request = request.header(name, value);
        }
    }
    let started = Instant::now();
    let result = request.body(body).send().await;
    let upstream = match result {
        Ok(r) => {
            let status = r.status();
            let headers = r.headers().clone();
            match r.bytes().await {
                Ok(bytes) => Ok((status, headers, bytes)),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    s.calls.lock().unwrap().push(AwsCall {
        service,
        operation,
        at: started,
        took: started.elapsed(),
    });
    match upstream {
        Ok((status, headers, bytes)) => {
            let mut out = Response::new(axum::body::Body::from(bytes));
            *out.status_mut() = status;
            for (name, value) in &headers {
                if !matches!(
                    name.as_str(),
                    "content-length" | "transfer-encoding" | "connection"
                ) {
                    out.headers_mut().append(name, value.clone());
                }
            }
            out
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// The hello-world baselines' invocation loop: answers every request 200 "hello", holding the
/// DynamoDB client built in init as a function would (never calling it).
pub async fn serve_hello(ddb: kyc_aws::aws_sdk_dynamodb::Client) -> Result<(), lambda_http::Error> {
    use lambda_http::{service_fn, Body, Error, Request as LambdaRequest, Response as Answer};
    lambda_http::run(service_fn(|_request: LambdaRequest| {
        let _client = &ddb;
        async move {
            Ok::<_, Error>(
                Answer::builder()
                    .status(200)
                    .body(Body::Text("hello".into()))?,
            )
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified_by_their_target() {
        assert_eq!(
            classify(Some("DynamoDB_20120810.TransactWriteItems"), "POST"),
            ("dynamodb".into(), "TransactWriteItems".into())
        );
        assert_eq!(
            classify(Some("secretsmanager.GetSecretValue"), "POST"),
            ("secretsmanager".into(), "GetSecretValue".into())
        );
        assert_eq!(classify(None, "PUT"), ("s3".into(), "PUT".into()));
    }

    /// The Runtime API as a function sees it: `/next` hands the event with its request id,
    /// `/response` answers it; the first `/next` marks the end of init.
    #[tokio::test]
    async fn an_event_goes_out_on_next_and_its_response_comes_back() {
        let h = Arc::new(Harness::start("http://127.0.0.1:9").await);
        *h.spawned_at.lock().unwrap() = Some(Instant::now());
        let base = format!("http://{}/2018-06-01/runtime", h.runtime_api);
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let function = {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let next = client
                    .get(format!("{base}/invocation/next"))
                    .send()
                    .await
                    .unwrap();
                let id = next.headers()["lambda-runtime-aws-request-id"]
                    .to_str()
                    .unwrap()
                    .to_string();
                let event: serde_json::Value = next.json().await.unwrap();
                client
                    .post(format!("{base}/invocation/{id}/response"))
                    .json(&serde_json::json!({"echo": event}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        };
        let (answer, _) = h
            .invoke(&serde_json::json!({"n": 1}), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(
            answer,
            Answer::Response(serde_json::json!({"echo": {"n": 1}}))
        );
        assert_eq!(function.await.unwrap(), StatusCode::ACCEPTED);
        assert!(h.shared.first_next.lock().unwrap().is_some());
    }
}
