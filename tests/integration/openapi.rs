//! The OpenAPI document (openapi/kyc-hooks.json) against the real handlers' answers, through
//! their Lambda entry points on moto: every answer's status must be documented for its
//! operation, and its body must match the documented schema (or be empty when none is).

use kyc_aws::DynamoStore;
use kyc_core::intake::EventStore;
use kyc_integration_tests::gopay::GoPayEnv;
use kyc_integration_tests::{
    event_file, iam_signed, provision, settings, Delivery, Function, Moto, TABLE,
};
use lambda_http::{Body, Response};
use serde_json::Value;
use std::collections::BTreeSet;

const DOC: &str = include_str!("../../openapi/kyc-hooks.json");

struct OpenApi {
    doc: Value,
    schemas: boon::Schemas,
    compiler: boon::Compiler,
    /// (method, path, status) pairs the tests saw.
    seen: BTreeSet<(String, String, u16)>,
}

/// A JSON pointer as a URI fragment.
fn fragment(pointer: &[&str]) -> String {
    pointer
        .iter()
        .map(|p| {
            p.replace('~', "~0")
                .replace('/', "~1")
                .replace('{', "%7B")
                .replace('}', "%7D")
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl OpenApi {
    fn new() -> Self {
        let doc: Value = serde_json::from_str(DOC).expect("openapi/kyc-hooks.json is JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut compiler = boon::Compiler::new();
        compiler.enable_format_assertions();
        compiler
            .add_resource("http://kyc-hooks.invalid/openapi.json", doc.clone())
            .unwrap();
        Self {
            doc,
            schemas: boon::Schemas::new(),
            compiler,
            seen: BTreeSet::new(),
        }
    }

    /// Checks one answer of `method path` against the document.
    fn check(&mut self, method: &str, path: &str, resp: &Response<Body>) {
        let status = resp.status().as_u16();
        let body = resp.body().as_ref();
        let documented = &self.doc["paths"][path][method]["responses"][status.to_string()];
        assert!(
            documented.is_object(),
            "{method} {path}: status {status} is not documented (body {})",
            String::from_utf8_lossy(body)
        );
        if let Some(headers) = documented["headers"].as_object() {
            for (name, h) in headers {
                if h["required"] == true {
                    assert!(
                        resp.headers()
                            .contains_key(name.to_ascii_lowercase().as_str()),
                        "{method} {path} {status}: header {name} missing"
                    );
                }
            }
        }
        match documented["content"]["application/json"].as_object() {
            None => assert!(
                body.is_empty(),
                "{method} {path} {status}: documented without a body, got {}",
                String::from_utf8_lossy(body)
            ),
            Some(_) => {
                let ct = resp.headers()["content-type"].to_str().unwrap();
                assert!(ct.starts_with("application/json"), "{method} {path}: {ct}");
                let value: Value = serde_json::from_slice(body).unwrap();
                let location = format!(
                    "http://kyc-hooks.invalid/openapi.json#/{}",
                    fragment(&[
                        "paths",
                        path,
                        method,
                        "responses",
                        &status.to_string(),
                        "content",
                        "application/json",
                        "schema"
                    ])
                );
                let index = self
                    .compiler
                    .compile(&location, &mut self.schemas)
                    .unwrap_or_else(|e| panic!("{location}: {e}"));
                if let Err(e) = self.schemas.validate(&value, index) {
                    panic!("{method} {path} {status}: {value} does not match: {e}");
                }
            }
        }
        self.seen.insert((method.into(), path.into(), status));
    }
}

fn get(uri: &str) -> lambda_http::Request {
    lambda_http::http::Request::builder()
        .method("GET")
        .uri(format!("https://api.example{uri}"))
        .body(Body::Empty)
        .unwrap()
}

/// A GET through API Gateway's IAM authorizer (the read API's routes).
fn signed_get(uri: &str) -> lambda_http::Request {
    iam_signed(get(uri))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xpollens_callbacks_and_the_read_api_answer_as_documented() {
    let mut api = OpenApi::new();
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let callbacks = xpollens_callback::build_endpoint(
        &settings(TABLE),
        &moto.sdk_config_for(Function::XpollensCallback).await,
    )
    .unwrap();
    let cb = "/xpollens/callbacks";
    for (file, expected) in [
        ("xpollens-34-inprogress.json", 202),
        ("xpollens-04-v1-pending.json", 202),
        ("xpollens-04-v1-pending.json", 202), // duplicate
        ("xpollens-36-succeeded.json", 202),
        ("xpollens-04-v2-complete.json", 202),
        ("xpollens-16-sct-in.json", 204),
        ("xpollens-bad-missing-subject.json", 400),
    ] {
        let resp = xpollens_callback::handle(&callbacks, event_file(file))
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), expected, "{file}");
        api.check("post", cb, &resp);
    }
    let mut intruder = Delivery::new("w-x", "12/11/2026 09:00:00 +00:00", "{}");
    intruder.authorization = kyc_integration_tests::basic("xpollens", "wrong");
    let resp = xpollens_callback::handle(&callbacks, intruder.request())
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    api.check("post", cb, &resp);
    let mut typed = Delivery::new(
        "w-t",
        "12/11/2026 09:00:00 +00:00",
        r#"{"type":"4","status":"Pending","appUserId":"frank"}"#,
    );
    typed.path = "/xpollens/callbacks/4".into();
    let resp = xpollens_callback::handle(&callbacks, typed.request())
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    api.check("post", "/xpollens/callbacks/{type}", &resp);
    let resp = xpollens_callback::handle(&callbacks, get(cb))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    api.check("post", cb, &resp);

    let read = kyc_read_api::build(
        &kyc_read_api::Settings {
            table: TABLE.into(),
            legacy_keys: Default::default(),
        },
        &moto.sdk_config_for(Function::KycReadApi).await,
    );
    let state = "/customers/{id}/kyc";
    let history = "/customers/{id}/kyc/history";
    let resp = kyc_read_api::handle(&read, signed_get("/customers/demo-alice/kyc"))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    api.check("get", state, &resp);
    // Same content as `kyc status`.
    let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    let store = DynamoStore::new(&config, TABLE);
    assert_eq!(
        body,
        kyc_core::kyc_state::status_json(
            "demo-alice",
            store.provider_states("demo-alice").await.unwrap()
        )
    );
    // Reached without the IAM authorizer (a route deployed without AWS_IAM): 403, nothing read.
    for (uri, path) in [
        ("/customers/demo-alice/kyc", state),
        ("/customers/demo-alice/kyc/history", history),
    ] {
        let resp = kyc_read_api::handle(&read, get(uri)).await.unwrap();
        assert_eq!(resp.status().as_u16(), 403, "{uri}");
        api.check("get", path, &resp);
    }
    for (uri, expected, path) in [
        ("/customers/nobody/kyc", 404, state),
        ("/customers/a%23b/kyc", 404, state),
        ("/customers/%zz/kyc", 400, state),
        ("/customers/nobody/kyc/history", 404, history),
        ("/customers/demo-alice/kyc/history?limit=0", 400, history),
        (
            "/customers/demo-alice/kyc/history?cursor=bm9wZQ",
            400,
            history,
        ),
    ] {
        let resp = kyc_read_api::handle(&read, signed_get(uri)).await.unwrap();
        assert_eq!(resp.status().as_u16(), expected, "{uri}");
        api.check("get", path, &resp);
    }
    // Every page through the real DynamoDB pagination: the whole history, in order, once.
    let all: Vec<String> = store
        .history("demo-alice")
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.event_id)
        .collect();
    assert!(all.len() >= 4, "{all:?}");
    let mut paged = Vec::new();
    let mut uri = "/customers/demo-alice/kyc/history?limit=2".to_string();
    loop {
        let resp = kyc_read_api::handle(&read, signed_get(&uri)).await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        api.check("get", history, &resp);
        let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        let entries = body["entries"].as_array().unwrap();
        assert!(entries.len() <= 2);
        paged.extend(
            entries
                .iter()
                .map(|e| e["eventId"].as_str().unwrap().to_string()),
        );
        match body["nextCursor"].as_str() {
            Some(c) => uri = format!("/customers/demo-alice/kyc/history?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged, all);
    drop(moto);

    // Every route of the template is documented, and nothing else is.
    let template = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"),
    )
    .unwrap();
    // SAM events (`Path: /x`) and the callback API's explicit routes (`RouteKey: ANY /x`).
    let routes: BTreeSet<String> = template
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("Path: ").or_else(|| {
                l.strip_prefix("RouteKey: ")
                    .and_then(|k| k.split_once(' '))
                    .map(|(_, path)| path)
            })
        })
        .map(str::to_string)
        .collect();
    let documented: BTreeSet<String> = api.doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(routes, documented);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gopay_consent_and_redirect_answer_as_documented() {
    let mut api = OpenApi::new();
    let env = GoPayEnv::start(gopay_sim::SimConfig::default()).await;
    let endpoint = env.consent_endpoint();
    let consents = "/gopay/consents";
    let resp = env
        .call_signed(&endpoint, "POST", consents, r#"{"customerId":"cust-1"}"#)
        .await;
    assert_eq!(resp.status().as_u16(), 201);
    api.check("post", consents, &resp);
    let resp = env.call_signed(&endpoint, "POST", consents, "[]").await;
    assert_eq!(resp.status().as_u16(), 400);
    api.check("post", consents, &resp);
    // Reached without the IAM authorizer (a route deployed without AWS_IAM).
    let resp = env
        .call(&endpoint, "POST", consents, r#"{"customerId":"cust-1"}"#)
        .await;
    assert_eq!(resp.status().as_u16(), 403);
    api.check("post", consents, &resp);

    let callback = env.consent_redirect(&endpoint, "cust-2").await;
    let resp = env.call(&endpoint, "GET", &callback, "").await;
    assert_eq!(resp.status().as_u16(), 302);
    api.check("get", "/gopay/callback", &resp);
    // The state is single-use: the replay lands on the failure page too.
    let resp = env.call(&endpoint, "GET", &callback, "").await;
    assert_eq!(resp.status().as_u16(), 302);
    api.check("get", "/gopay/callback", &resp);

    // Completion in the bank's session, with a declared identity.
    let bank = env.bank_session_endpoint();
    let declared = serde_json::json!({"firstName": "Bohumila", "lastName": "Křížová", "birthDate": "1977-04-23"});
    let resp = env
        .bank_session_consent(&bank, "cust-3", "cust-3", Some(declared))
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    api.check("post", "/gopay/consents/complete", &resp);
    let resp = env
        .bank_session_consent(&bank, "cust-4", "cust-5", None)
        .await;
    assert_eq!(resp.status().as_u16(), 403);
    api.check("post", "/gopay/consents/complete", &resp);
    let complete = "/gopay/consents/complete";
    let unknown = serde_json::json!({"customerId": "cust-6", "code": "c", "state": "A".repeat(43)});
    let resp = env
        .call_signed(&bank, "POST", complete, &unknown.to_string())
        .await;
    assert_eq!(resp.status().as_u16(), 409);
    api.check("post", complete, &resp);
    let resp = env
        .call_signed(&bank, "POST", complete, r#"{"customerId":"cust-6"}"#)
        .await;
    assert_eq!(resp.status().as_u16(), 400);
    api.check("post", complete, &resp);
    // Reached without the IAM authorizer: 403 like the start.
    let resp = env
        .call(&bank, "POST", complete, &unknown.to_string())
        .await;
    assert_eq!(resp.status().as_u16(), 403);
    api.check("post", complete, &resp);
    let resp = env
        .call_signed(
            &bank,
            "POST",
            consents,
            r#"{"customerId":"c","declaredIdentity":{"birthDate":"soon"}}"#,
        )
        .await;
    assert_eq!(resp.status().as_u16(), 400);
    api.check("post", consents, &resp);
}
