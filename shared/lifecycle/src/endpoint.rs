//! Core banking tells kyc-hooks that a relationship ended: the IAM-authorised route
//! `POST /customers/{id}/relationship-end` and the EventBridge event `customer relationship
//! ended` (both `{"endedOn": "YYYY-MM-DD", "outcome": "customer" | "refusedApplicant"}`,
//! the event's detail with `customerId` too). Both record the end through [`record_end`],
//! with the caller as operator: the IAM principal that signed the request, or the event's
//! source and account.

use crate::retention::{Outcome, Retention};
use crate::store::{record_end, LifecycleError, LifecycleStore};
use crate::{EndError, RelationshipEnd};
use chrono::{DateTime, NaiveDate, Utc};
use kyc_core::http::{percent_decode_segment, HttpRequest, HttpResponse};
use kyc_core::iam_route::{require_iam_caller, NoIamAttestation};
use kyc_core::keys::valid_customer_id;
use serde::Deserialize;
use serde_json::{json, Value};

/// EventBridge `detail-type` of core banking's message.
pub const DETAIL_TYPE: &str = "customer relationship ended";

/// The message's body (the route) or detail (the event).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EndMessage {
    #[serde(default)]
    customer_id: Option<String>,
    ended_on: String,
    outcome: String,
}

/// Why a message is refused (the same for the route and the event).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Not a JSON object of that shape.
    #[error("body must be a JSON object {{\"endedOn\": \"YYYY-MM-DD\", \"outcome\": \"customer\"|\"refusedApplicant\"}}")]
    Shape,
    /// `endedOn` is not a date.
    #[error("endedOn must be a date YYYY-MM-DD")]
    Date,
    /// `outcome` is neither `customer` nor `refusedApplicant`.
    #[error("outcome must be customer or refusedApplicant")]
    Outcome,
    /// The customer id is missing or not an id.
    #[error("customerId must be 1 to 1,024 characters")]
    CustomerId,
    /// The route's body names the customer; the path does.
    #[error("customerId is not part of the body: the path names the customer")]
    CustomerIdInBody,
}

fn parse(message: &Value, customer: Option<&str>) -> Result<RelationshipEnd, MessageError> {
    if customer.is_some() && message.get("customerId").is_some() {
        return Err(MessageError::CustomerIdInBody);
    }
    let m: EndMessage = serde_json::from_value(message.clone()).map_err(|_| MessageError::Shape)?;
    let customer = match (customer, m.customer_id.as_deref()) {
        (Some(c), _) | (None, Some(c)) => c.to_string(),
        (None, None) => return Err(MessageError::CustomerId),
    };
    if !valid_customer_id(&customer) {
        return Err(MessageError::CustomerId);
    }
    Ok(RelationshipEnd {
        customer,
        on: NaiveDate::parse_from_str(&m.ended_on, "%Y-%m-%d").map_err(|_| MessageError::Date)?,
        outcome: Outcome::parse(&m.outcome).ok_or(MessageError::Outcome)?,
    })
}

/// The lifecycle's entry points.
pub struct LifecycleApi<'a> {
    /// Lifecycle items and holds.
    pub store: &'a dyn LifecycleStore,
    /// The retention periods.
    pub retention: Retention,
    /// The request's time.
    pub now: DateTime<Utc>,
}

fn error(status: u16, code: &'static str, message: impl Into<String>) -> HttpResponse {
    let mut r = HttpResponse::json(status, json!({"error": code, "message": message.into()}));
    r.refusal = Some(code);
    r
}

const ROUTE_PREFIX: &str = "/customers/";
const ROUTE_SUFFIX: &str = "/relationship-end";

/// What an event invocation did; `Err` fails the invocation (Lambda retries, then the
/// on-failure destination keeps the event and the message).
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The message is malformed.
    #[error("relationship-end event refused: {0}")]
    Message(#[from] MessageError),
    /// The end cannot be recorded.
    #[error("relationship-end event refused: {0}")]
    End(EndError),
    /// The store failed or the item moved.
    #[error(transparent)]
    Lifecycle(LifecycleError),
}

impl LifecycleApi<'_> {
    /// `POST /customers/{id}/relationship-end`.
    pub async fn handle(&self, req: &HttpRequest) -> HttpResponse {
        let caller = match require_iam_caller(&req.gateway) {
            Ok(c) => c.user_arn.clone(),
            Err(e) => {
                tracing::error!(error = %e, "lifecycle route reached without IAM authentication: refused");
                return error(
                    NoIamAttestation::STATUS,
                    "forbidden",
                    "this API requires IAM (SigV4) authentication",
                );
            }
        };
        let Some(segment) = req
            .path
            .strip_prefix(ROUTE_PREFIX)
            .and_then(|p| p.strip_suffix(ROUTE_SUFFIX))
        else {
            return error(404, "not_found", "no such route");
        };
        if req.method != "POST" {
            let mut r = error(405, "method_not_allowed", "only POST");
            r.headers.push(("allow", "POST".into()));
            return r;
        }
        let Some(customer) = percent_decode_segment(segment).filter(|c| valid_customer_id(c))
        else {
            return error(
                400,
                "invalid_customer_id",
                "a customer id is 1 to 1024 characters, percent-encoded in the path",
            );
        };
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return error(400, "malformed_json", "body is not valid JSON");
        };
        let end = match parse(&body, Some(&customer)) {
            Ok(e) => e,
            Err(e) => return error(400, "invalid_message", e.to_string()),
        };
        match record_end(self.store, &self.retention, &end, &caller, self.now).await {
            Ok(l) => HttpResponse::json(
                200,
                json!({"customerId": l.customer_id, "endedOn": l.ended_on, "outcome": l.outcome,
                       "deleteAfter": l.delete_after, "rule": l.rule}),
            ),
            Err(LifecycleError::End(e)) => error(422, "invalid_end", e.to_string()),
            Err(LifecycleError::Raced) => error(
                409,
                "conflict",
                "the customer's lifecycle changed meanwhile; retry",
            ),
            Err(e) => {
                tracing::error!(error = %e, "lifecycle store error");
                error(503, "unavailable", "the store is unavailable; retry")
            }
        }
    }

    /// The EventBridge event `customer relationship ended` (`source`, `account` name the
    /// operator in the customer's history).
    pub async fn event(&self, event: &Value) -> Result<(), EventError> {
        let detail = event.get("detail").ok_or(MessageError::Shape)?;
        let end = parse(detail, None)?;
        let operator = format!(
            "events:{}:{}",
            event.get("account").and_then(Value::as_str).unwrap_or("-"),
            event.get("source").and_then(Value::as_str).unwrap_or("-")
        );
        match record_end(self.store, &self.retention, &end, &operator, self.now).await {
            Ok(_) => Ok(()),
            Err(LifecycleError::End(e)) => Err(EventError::End(e)),
            Err(e) => Err(EventError::Lifecycle(e)),
        }
    }
}
