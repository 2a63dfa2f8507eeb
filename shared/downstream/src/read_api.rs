//! The read API for the bank's systems, free of Lambda types (the `kyc-read-api` function
//! converts API Gateway requests):
//!
//! - `GET /customers/{id}/kyc`: the current state per provider, as `kyc status` prints it
//!   (sealed values stay sealed: only their names are listed).
//! - `GET /customers/{id}/kyc/history?limit=&cursor=`: the history, oldest first, at most
//!   [`MAX_PAGE`] entries a page; `nextCursor` (opaque) while more may follow.
//!
//! 403 for any request without the IAM authorizer's attestation (`kyc_core::iam_route`: a route
//! deployed without `AWS_IAM` serves nothing); 404 for a customer kyc-hooks knows nothing of;
//! 400 for a malformed id, limit or cursor; 405 for another method. Routes are matched from the `customers` segment on, so a stage
//! or local-runner prefix does not matter.

use async_trait::async_trait;
use base64::Engine;
use kyc_core::iam_route::{require_iam_caller, NoIamAttestation};
use kyc_core::intake::{EventStore, HistoryEntry, MemoryStore, StoreError};
use kyc_core::keys::{valid_customer_id, HistoryPosition};
use serde_json::{json, Value};
use std::sync::Arc;

/// History entries per page when the caller names no `limit`.
pub const DEFAULT_PAGE: usize = 50;
/// The largest `limit` a caller may ask for.
pub const MAX_PAGE: usize = 100;

/// One page of a customer's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    /// The entries, oldest first.
    pub entries: Vec<HistoryEntry>,
    /// The position of the last entry (`HistoryEntry::position`) when more may follow.
    pub next_after: Option<String>,
}

/// Reads a customer's history a page at a time (DynamoDB: a bounded Query).
#[async_trait]
pub trait HistoryPages: Send + Sync {
    /// Up to `limit` entries whose position (`HistoryEntry::position`) is after `after`, oldest
    /// first, across every provider.
    async fn history_page(
        &self,
        customer: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<HistoryPage, StoreError>;
}

#[async_trait]
impl HistoryPages for MemoryStore {
    async fn history_page(
        &self,
        customer: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<HistoryPage, StoreError> {
        let mut all: Vec<(String, HistoryEntry)> = self
            .history(customer)
            .await?
            .into_iter()
            .map(|h| (h.position(), h))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let mut rest: Vec<(String, HistoryEntry)> = all
            .into_iter()
            .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
            .collect();
        let more = rest.len() > limit;
        rest.truncate(limit);
        Ok(HistoryPage {
            next_after: if more {
                rest.last().map(|(k, _)| k.clone())
            } else {
                None
            },
            entries: rest.into_iter().map(|(_, h)| h).collect(),
        })
    }
}

pub use kyc_core::http::{HttpRequest as ApiRequest, HttpResponse as ApiResponse};

/// A customer's state is not for caches.
fn answer(status: u16, body: Value) -> ApiResponse {
    ApiResponse::json(status, body).with_header("cache-control", "no-store")
}

fn error(status: u16, code: &str, message: &str) -> ApiResponse {
    answer(status, json!({"error": code, "message": message}))
}

/// The read API's routes, free of Lambda types: a customer's state, history and decision.
pub struct ReadApi {
    /// Where states are read.
    pub store: Arc<dyn EventStore>,
    /// Where history pages are read.
    pub history: Arc<dyn HistoryPages>,
    /// The KYC decisions (`None`: the answer's `decision` is null).
    pub decisions: Option<Arc<dyn kyc_decision::store::DecisionStore>>,
}

#[derive(Debug, PartialEq)]
enum Route {
    State(String),
    History(String),
}

/// `Some(Err(()))`: this API's route with a malformed customer id.
fn route(path: &str) -> Option<Result<Route, ()>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let at = segments.iter().rposition(|s| *s == "customers")?;
    let (id, rest) = match &segments[at + 1..] {
        [id, "kyc"] => (id, false),
        [id, "kyc", "history"] => (id, true),
        _ => return None,
    };
    let Some(id) = kyc_core::http::percent_decode_segment(id).filter(|id| valid_customer_id(id))
    else {
        return Some(Err(()));
    };
    Some(Ok(if rest {
        Route::History(id)
    } else {
        Route::State(id)
    }))
}

fn encode_cursor(after: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(after)
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    String::from_utf8(bytes)
        .ok()
        .filter(|k| HistoryPosition::parse(k).is_some())
}

impl ReadApi {
    /// Answers one request (errors as JSON with a status, never a panic).
    pub async fn handle(&self, req: &ApiRequest) -> ApiResponse {
        // Every route of this API is IAM-authorised: without the authorizer's attestation
        // nothing is answered but 403, before any route or customer is looked at.
        if let Err(e) = require_iam_caller(&req.gateway) {
            tracing::error!(error = %e, "read API reached without IAM authentication: refused");
            return error(
                NoIamAttestation::STATUS,
                "forbidden",
                "this API requires IAM (SigV4) authentication",
            );
        }
        let route = match route(&req.path) {
            None => return error(404, "not_found", "no such route"),
            Some(Err(())) => {
                return error(
                    400,
                    "invalid_customer_id",
                    "a customer id is 1 to 1024 characters, percent-encoded in the path",
                )
            }
            Some(Ok(r)) => r,
        };
        if req.method != "GET" {
            let mut r = error(405, "method_not_allowed", "only GET");
            r.headers.push(("allow", "GET".into()));
            return r;
        }
        let result = match route {
            Route::State(id) => self.state(&id).await,
            Route::History(id) => self.history(&id, &req.query).await,
        };
        result.unwrap_or_else(|e| {
            tracing::error!(error = %e, "read API store error");
            error(503, "unavailable", "the store is unavailable; retry")
        })
    }

    async fn state(&self, customer: &str) -> Result<ApiResponse, StoreError> {
        // The decision is read beside the states (its own item), not after them.
        let decision = async {
            match &self.decisions {
                Some(d) => d.get(customer).await,
                None => Ok(None),
            }
        };
        let (states, decision) = tokio::join!(self.store.provider_states(customer), decision);
        let (states, decision) = (states?, decision?);
        if states.is_empty()
            && decision.is_none()
            && self
                .history
                .history_page(customer, None, 1)
                .await?
                .entries
                .is_empty()
        {
            return Ok(unknown_customer());
        }
        Ok(answer(
            200,
            status_with_decision(customer, states, decision.as_ref()),
        ))
    }

    async fn history(&self, customer: &str, query: &str) -> Result<ApiResponse, StoreError> {
        let mut limit = DEFAULT_PAGE;
        let mut after = None;
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "limit" => match v.parse::<usize>() {
                    Ok(n) if (1..=MAX_PAGE).contains(&n) => limit = n,
                    _ => {
                        return Ok(error(
                            400,
                            "invalid_limit",
                            &format!("limit is an integer from 1 to {MAX_PAGE}"),
                        ))
                    }
                },
                "cursor" => match decode_cursor(&v) {
                    Some(a) => after = Some(a),
                    None => return Ok(error(400, "invalid_cursor", "cursor is not one we gave")),
                },
                _ => {}
            }
        }
        let page = self
            .history
            .history_page(customer, after.as_deref(), limit)
            .await?;
        if after.is_none() && page.entries.is_empty() {
            return Ok(unknown_customer());
        }
        Ok(answer(
            200,
            json!({
                "customer": customer,
                "entries": page.entries,
                "nextCursor": page.next_after.as_deref().map(encode_cursor),
            }),
        ))
    }
}

/// A customer's states with the KYC decision first (`null` before the first one).
pub fn status_with_decision(
    customer: &str,
    states: std::collections::BTreeMap<
        kyc_core::intake::Provider,
        kyc_core::kyc_state::ProviderState,
    >,
    decision: Option<&kyc_decision::CustomerDecision>,
) -> Value {
    let mut v = kyc_core::kyc_state::status_json(customer, states);
    v["decision"] = decision.map_or(Value::Null, kyc_decision::event::view);
    v
}

fn unknown_customer() -> ApiResponse {
    error(
        404,
        "unknown_customer",
        "kyc-hooks has no KYC record of this customer",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use kyc_core::callback_auth::GatewayAttestation;
    use kyc_core::iam_route::IamCaller;
    use kyc_core::intake::{EventRecord, Provider, WritePlan};
    use kyc_core::kyc_state::{StatePatch, Stream, StreamValue};

    pub(crate) async fn store_with(customer: &str, events: usize) -> Arc<MemoryStore> {
        let store = Arc::new(MemoryStore::default());
        for i in 0..events {
            let at = Utc.with_ymd_and_hms(2026, 11, 27, 9, i as u32, 0).unwrap();
            let mut value = StreamValue::new("Pending", 2, false, at, &format!("ev-{i}"));
            value.sealed.insert("iban".into(), "SEALED-TEXT".into());
            store
                .record(&WritePlan {
                    event: EventRecord {
                        provider: Provider::Xpollens,
                        event_id: format!("ev-{i}"),
                        event_type: "04".into(),
                        subject: Some(customer.into()),
                        received_at: at,
                        provider_time: Some(at),
                        body_sha256: "0".repeat(64),
                        sealed_body: "x".into(),
                        summary: json!({}),
                    },
                    patch: Some(StatePatch {
                        stream: Stream::KYC_DEMAND,
                        value,
                    }),
                    no_patch_reason: None,
                    erasure_guard: None,
                })
                .await
                .unwrap();
        }
        store
    }

    fn api(store: Arc<MemoryStore>) -> ReadApi {
        ReadApi {
            store: store.clone(),
            history: store,
            decisions: None,
        }
    }

    /// What API Gateway's IAM authorizer attests after checking the SigV4 signature.
    fn signed() -> GatewayAttestation {
        GatewayAttestation {
            iam: Some(IamCaller {
                user_arn: "arn:aws:sts::123456789012:assumed-role/bank-core/s".into(),
                account_id: "123456789012".into(),
                access_key: "ASIAEXAMPLE".into(),
                caller_id: "AROAEXAMPLE:s".into(),
            }),
            ..Default::default()
        }
    }

    async fn get(api: &ReadApi, path: &str, query: &str) -> (u16, Value) {
        let r = api
            .handle(&ApiRequest {
                method: "GET".into(),
                path: path.into(),
                query: query.into(),
                gateway: signed(),
                ..Default::default()
            })
            .await;
        (r.status, serde_json::from_str(&r.body).unwrap())
    }

    /// A store any read of which fails the test.
    struct Untouchable;

    #[async_trait]
    impl EventStore for Untouchable {
        async fn record(&self, _: &WritePlan) -> Result<kyc_core::intake::Outcome, StoreError> {
            panic!("the read API wrote")
        }
        async fn record_rejection(
            &self,
            _: &kyc_core::intake::Rejection,
        ) -> Result<(), StoreError> {
            panic!("the read API wrote")
        }
        async fn provider_states(
            &self,
            _: &str,
        ) -> Result<
            std::collections::BTreeMap<Provider, kyc_core::kyc_state::ProviderState>,
            StoreError,
        > {
            panic!("state read without an IAM attestation")
        }
        async fn history(&self, _: &str) -> Result<Vec<HistoryEntry>, StoreError> {
            panic!("history read without an IAM attestation")
        }
        async fn erased(
            &self,
            _: &str,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Result<bool, StoreError> {
            panic!("tombstone read without an IAM attestation")
        }
    }

    #[async_trait]
    impl HistoryPages for Untouchable {
        async fn history_page(
            &self,
            _: &str,
            _: Option<&str>,
            _: usize,
        ) -> Result<HistoryPage, StoreError> {
            panic!("history read without an IAM attestation")
        }
    }

    /// A route deployed without AWS_IAM (or any request API Gateway's IAM authorizer did not
    /// sign off): 403 for every path and method, and nothing is read.
    #[tokio::test]
    async fn without_the_iam_attestation_every_request_is_refused_before_any_read() {
        let api = ReadApi {
            store: Arc::new(Untouchable),
            history: Arc::new(Untouchable),
            decisions: None,
        };
        let mut incomplete = signed();
        incomplete.iam.as_mut().unwrap().user_arn.clear();
        for gateway in [GatewayAttestation::default(), incomplete] {
            for (method, path) in [
                ("GET", "/customers/c-1/kyc"),
                ("GET", "/customers/c-1/kyc/history"),
                ("GET", "/customers/a%23b/kyc"),
                ("POST", "/customers/c-1/kyc"),
                ("GET", "/elsewhere"),
            ] {
                let r = api
                    .handle(&ApiRequest {
                        method: method.into(),
                        path: path.into(),
                        gateway: gateway.clone(),
                        ..Default::default()
                    })
                    .await;
                assert_eq!(r.status, 403, "{method} {path}");
                let body: Value = serde_json::from_str(&r.body).unwrap();
                assert_eq!(body["error"], "forbidden");
                assert!(r.headers.contains(&("cache-control", "no-store".into())));
            }
        }
    }

    #[tokio::test]
    async fn state_is_kyc_status_and_secrets_stay_sealed() {
        let store = store_with("c-1", 2).await;
        let api = api(store.clone());
        let (status, body) = get(&api, "/prod/customers/c-1/kyc", "").await;
        assert_eq!(status, 200);
        let expected =
            status_with_decision("c-1", store.provider_states("c-1").await.unwrap(), None);
        assert_eq!(body, expected);
        assert_eq!(body["decision"], Value::Null, "none computed yet");
        assert_eq!(
            body["providers"]["xpollens"]["kycDemand"]["sealedSecrets"],
            json!(["iban"])
        );
        assert!(!body.to_string().contains("SEALED-TEXT"));
    }

    #[tokio::test]
    async fn a_malformed_escape_is_a_malformed_id_not_a_customer_named_with_a_percent() {
        let api = api(store_with("c-1", 1).await);
        assert_eq!(get(&api, "/customers/%zz/kyc", "").await.0, 400);
        assert_eq!(get(&api, "/customers/ab%2/kyc", "").await.0, 400);
        assert_eq!(get(&api, "/customers/c%2D1/kyc", "").await.0, 200);
    }

    #[tokio::test]
    async fn a_customer_named_with_separators_is_read_as_stored() {
        let api = api(store_with("h5#STATE#gopay 2", 2).await);
        let (status, body) = get(&api, "/customers/h5%23STATE%23gopay%202/kyc", "").await;
        assert_eq!(status, 200);
        assert_eq!(body["customer"], "h5#STATE#gopay 2");
        let (status, body) = get(&api, "/customers/h5%23STATE%23gopay%202/kyc/history", "").await;
        assert_eq!(
            (status, body["entries"].as_array().unwrap().len()),
            (200, 2)
        );
        // Not another customer's prefix.
        assert_eq!(get(&api, "/customers/h5/kyc", "").await.0, 404);
    }

    #[tokio::test]
    async fn unknown_customers_bad_ids_and_methods_are_refused() {
        let api = api(store_with("c-1", 1).await);
        assert_eq!(get(&api, "/customers/nobody/kyc", "").await.0, 404);
        assert_eq!(get(&api, "/customers/nobody/kyc/history", "").await.0, 404);
        // Any id a provider can send is an id: unknown here, not malformed.
        assert_eq!(get(&api, "/customers/a%23b/kyc", "").await.0, 404);
        assert_eq!(get(&api, "/customers//kyc", "").await.0, 404);
        let too_long = "x".repeat(kyc_core::keys::MAX_CUSTOMER_ID_CHARS + 1);
        assert_eq!(
            get(&api, &format!("/customers/{too_long}/kyc"), "").await.0,
            400
        );
        assert_eq!(get(&api, "/customers/c-1/other", "").await.0, 404);
        let r = api
            .handle(&ApiRequest {
                method: "POST".into(),
                path: "/customers/c-1/kyc".into(),
                gateway: signed(),
                ..Default::default()
            })
            .await;
        assert_eq!(r.status, 405);
        assert!(r.headers.contains(&("allow", "GET".into())));
    }

    #[tokio::test]
    async fn history_pages_follow_the_cursor_to_the_end_without_gaps_or_repeats() {
        let api = api(store_with("c-1", 7).await);
        let mut ids = Vec::new();
        let mut query = "limit=3".to_string();
        let mut pages = 0;
        loop {
            let (status, body) = get(&api, "/customers/c-1/kyc/history", &query).await;
            assert_eq!(status, 200);
            pages += 1;
            let entries = body["entries"].as_array().unwrap();
            assert!(entries.len() <= 3);
            ids.extend(
                entries
                    .iter()
                    .map(|e| e["eventId"].as_str().unwrap().to_string()),
            );
            match body["nextCursor"].as_str() {
                Some(c) => query = format!("limit=3&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        let expected: Vec<String> = (0..7).map(|i| format!("ev-{i}")).collect();
        assert_eq!(ids, expected);
        for bad in [
            "limit=0",
            "limit=101",
            "limit=x",
            "cursor=%%%",
            "cursor=bm9wZQ",
        ] {
            assert_eq!(
                get(&api, "/customers/c-1/kyc/history", bad).await.0,
                400,
                "{bad}"
            );
        }
        let (_, body) = get(&api, "/customers/c-1/kyc/history", "").await;
        assert_eq!(body["entries"].as_array().unwrap().len(), 7);
        assert_eq!(body["nextCursor"], Value::Null);
    }
}
