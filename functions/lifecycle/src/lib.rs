//! Wiring of the lifecycle Lambda (`kyc_lifecycle` holds the rules): core banking's
//! `POST /customers/{id}/relationship-end` (API Gateway, IAM-authorised), its EventBridge event
//! `customer relationship ended`, and the scheduled deletion sweep, told apart by their shape.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

use chrono::{DateTime, Utc};
use kyc_core::config::{Env, SettingsError};
use kyc_core::http::HttpResponse;
use kyc_core::invocation::InvocationError;
use kyc_lifecycle::aws::{Buckets, DynamoLifecycleStore, S3ObjectVersions};
use kyc_lifecycle::endpoint::{EventError, LifecycleApi, DETAIL_TYPE};
use kyc_lifecycle::retention::Retention;
use kyc_lifecycle::store::{start_inactivity_clocks, sweep, LifecycleError, LifecycleStore};
use serde_json::{json, Map, Value};

/// The schedule's `detail-type` of the deletion sweep.
pub const SWEEP: &str = "lifecycle-sweep";

/// Settings read once per cold start (out-of-bounds retention fails it).
#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    pub retention: Retention,
    /// Due customers checked per sweep at most (within the function's timeout).
    pub sweep_limit: usize,
    /// Days without provider activity after which an applicant who never onboarded has its
    /// retention clock started (0: never).
    pub applicant_inactivity_days: u32,
    /// Who the sweep's deletion records name as operator.
    pub operator: String,
    /// The GoPay and Trust & Sign archive buckets, whose objects of a deleted customer go too
    /// (the Xpollens body bucket is named by each event).
    pub buckets: Buckets,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let customer_days = env.number_in(
            "RETENTION_CUSTOMER_DAYS",
            Retention::DEFAULT_CUSTOMER_DAYS,
            Retention::CUSTOMER_DAYS,
        )?;
        let refused_days = env.number_in(
            "RETENTION_REFUSED_APPLICANT_DAYS",
            Retention::DEFAULT_REFUSED_APPLICANT_DAYS,
            Retention::REFUSED_APPLICANT_DAYS,
        )?;
        Ok(Self {
            table: env.required("TABLE_NAME")?,
            retention: Retention::new(customer_days, refused_days)
                .map_err(|e| SettingsError::invalid("RETENTION_*", e))?,
            sweep_limit: env.number_in("LIFECYCLE_SWEEP_LIMIT", 200, 1..=1000)?,
            applicant_inactivity_days: env.number_in("APPLICANT_INACTIVITY_DAYS", 0, 0..=3653)?,
            operator: format!(
                "lambda:{}",
                env.optional("AWS_LAMBDA_FUNCTION_NAME")
                    .unwrap_or_else(|| "lifecycle".into())
            ),
            buckets: Buckets {
                gopay: env.optional("GOPAY_BUCKET"),
                archive: env
                    .optional("ARCHIVE_BUCKET")
                    .map(|b| env.checked("ARCHIVE_BUCKET", &b, bucket_name))
                    .transpose()?,
            },
        })
    }
}

/// An S3 bucket name as the template's ArchiveBucketName allows it (3 to 63 of [a-z0-9.-],
/// starting and ending with a letter or digit).
fn bucket_name(b: &str) -> Result<String, &'static str> {
    let ok_char = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let bytes = b.as_bytes();
    if (3..=63).contains(&bytes.len())
        && ok_char(bytes[0])
        && ok_char(bytes[bytes.len() - 1])
        && bytes
            .iter()
            .all(|c| ok_char(*c) || *c == b'.' || *c == b'-')
    {
        Ok(b.to_string())
    } else {
        Err("a bucket name: 3 to 63 of a-z 0-9 . -, starting and ending with a letter or digit")
    }
}

pub fn build(settings: &Settings, config: &kyc_aws::aws_config::SdkConfig) -> DynamoLifecycleStore {
    DynamoLifecycleStore::new(
        kyc_aws::aws_sdk_dynamodb::Client::new(config),
        &settings.table,
    )
    .with_objects(
        std::sync::Arc::new(S3ObjectVersions {
            client: kyc_aws::s3_client(config),
        }),
        settings.buckets.clone(),
    )
}

fn gateway_response(r: HttpResponse) -> Value {
    let headers: Map<String, Value> = r
        .headers
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
    json!({"statusCode": r.status, "headers": headers, "body": r.body, "isBase64Encoded": false})
}

/// One invocation: an API Gateway request (answered, never failed), core banking's event, or
/// the scheduled sweep (failed when the store is unavailable: retried, then dead-lettered).
pub async fn handle(
    store: &dyn LifecycleStore,
    settings: &Settings,
    event: Value,
    now: DateTime<Utc>,
) -> Result<Value, InvocationError> {
    let api = LifecycleApi {
        store,
        retention: settings.retention,
        now,
    };
    if event.pointer("/requestContext/http").is_some() {
        let request = lambda_http::request::from_str(&event.to_string())
            .map_err(|_| InvocationError::Permanent("unreadable API Gateway event".into()))?;
        let answer = api.handle(&kyc_core::http::lambda::request(&request)).await;
        return Ok(gateway_response(answer));
    }
    match event.get("detail-type").and_then(Value::as_str) {
        Some(DETAIL_TYPE) => match api.event(&event).await {
            Ok(()) => Ok(json!({"recorded": true})),
            Err(EventError::Lifecycle(LifecycleError::Store(e))) => {
                Err(InvocationError::Retryable(e.to_string()))
            }
            Err(EventError::Lifecycle(LifecycleError::Raced)) => Err(InvocationError::Retryable(
                "lifecycle changed meanwhile".into(),
            )),
            Err(e) => Err(InvocationError::Permanent(e.to_string())),
        },
        Some(SWEEP) => {
            let started = start_inactivity_clocks(
                store,
                &settings.retention,
                settings.applicant_inactivity_days,
                &settings.operator,
                now,
                settings.sweep_limit,
            )
            .await
            .map_err(|e| InvocationError::Retryable(e.to_string()))?;
            let report = sweep(store, &settings.operator, now, settings.sweep_limit)
                .await
                .map_err(|e| InvocationError::Retryable(e.to_string()))?;
            let mut report = serde_json::to_value(report).expect("serialises");
            report["inactivityClocksStarted"] = started.into();
            Ok(report)
        }
        _ => Err(InvocationError::Permanent(
            "not an API Gateway request, a relationship-end event or the sweep's schedule".into(),
        )),
    }
}

#[cfg(test)]
mod tests;
