//! Secrets Manager as a [`SecretSource`]: the AWSCURRENT value of several secrets in one
//! `BatchGetSecretValue` (cold start), and both stages of one secret with `GetSecretValue`.
//! Stages are always asked for by name (an unstaged read may return a stale version).
//!
//! IAM: `secretsmanager:BatchGetSecretValue` has no resource-level permission (it is granted
//! on `*`); the batch call still needs `secretsmanager:GetSecretValue` on each secret, so what
//! a function can read stays its own secrets.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use kyc_core::redact::Secret;
use kyc_core::secrets::{CurrentSecret, SecretError, SecretSource, StagedSecret};

/// The Secrets Manager adapter of [`SecretSource`]: current and staged versions of a secret.
pub struct SecretsManagerSource {
    client: Client,
}

impl SecretsManagerSource {
    /// A source with a client of the given AWS configuration.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: Client::new(config),
        }
    }

    /// The SDK client (its configuration, e.g. timeouts, in tests).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The stage's value and its version's creation time.
    async fn stage(
        &self,
        name: &str,
        stage: &str,
    ) -> Result<Option<(Secret, Option<chrono::DateTime<chrono::Utc>>)>, SecretError> {
        match self
            .client
            .get_secret_value()
            .secret_id(name)
            .version_stage(stage)
            .send()
            .await
        {
            Ok(out) => {
                let created = out
                    .created_date()
                    .and_then(|d| chrono::DateTime::from_timestamp(d.secs(), d.subsec_nanos()));
                Ok(out
                    .secret_string()
                    .map(|s| (Secret::new(s.to_string()), created)))
            }
            Err(e) => {
                let service = e.as_service_error();
                if service.is_some_and(|s| s.is_resource_not_found_exception()) {
                    Ok(None)
                } else if service.is_some_and(|s| s.is_invalid_request_exception()) {
                    // Marked for deletion (restore it within its recovery window): fix, not retry.
                    Err(SecretError::Invalid {
                        name: name.to_string(),
                        why: format!(
                            "GetSecretValue {stage}: {}",
                            aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                        ),
                    })
                } else {
                    Err(SecretError::Unavailable(format!(
                        "GetSecretValue {stage}: {}",
                        aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                    )))
                }
            }
        }
    }
}

/// How many secrets one `BatchGetSecretValue` with a `SecretIdList` may name.
const BATCH_LIMIT: usize = 20;

/// A per-secret failure the batch call reported with HTTP 200 (its `Errors` list): a secret
/// that is gone or marked deleted is a configuration error (restore it), anything else
/// (access denied, KMS, throttling) fails as unavailable.
fn batch_error(name: &str, code: &str, message: &str) -> SecretError {
    let why = format!("BatchGetSecretValue: {code}: {message}");
    match code {
        "ResourceNotFoundException" | "InvalidRequestException" => SecretError::Invalid {
            name: name.to_string(),
            why,
        },
        _ => SecretError::Unavailable(format!("{name}: {why}")),
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn current(&self, names: &[&str]) -> Result<Vec<CurrentSecret>, SecretError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        if names.len() > BATCH_LIMIT {
            return Err(SecretError::Unavailable(format!(
                "{} secrets asked in one batch (at most {BATCH_LIMIT})",
                names.len()
            )));
        }
        let out = self
            .client
            .batch_get_secret_value()
            .set_secret_id_list(Some(names.iter().map(|n| n.to_string()).collect()))
            .send()
            .await
            .map_err(|e| {
                SecretError::Unavailable(format!(
                    "BatchGetSecretValue: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                ))
            })?;
        // Per-secret failures come back here with HTTP 200: any one fails the whole read.
        if let Some(e) = out.errors().first() {
            return Err(batch_error(
                e.secret_id().unwrap_or("(unnamed)"),
                e.error_code().unwrap_or("UnknownError"),
                e.message().unwrap_or(""),
            ));
        }
        names
            .iter()
            .map(|name| {
                // Asked by name (tests, tools) or by ARN (the template's `!Ref`).
                let entry = out
                    .secret_values()
                    .iter()
                    .find(|v| v.name() == Some(name) || v.arn() == Some(name))
                    .ok_or_else(|| SecretError::Invalid {
                        name: name.to_string(),
                        why: "not returned by BatchGetSecretValue".into(),
                    })?;
                let value = entry.secret_string().ok_or_else(|| SecretError::Invalid {
                    name: name.to_string(),
                    why: "no AWSCURRENT string value".into(),
                })?;
                Ok(CurrentSecret {
                    value: Secret::new(value.to_string()),
                    created: entry
                        .created_date()
                        .and_then(|d| chrono::DateTime::from_timestamp(d.secs(), d.subsec_nanos())),
                })
            })
            .collect()
    }

    async fn staged(&self, name: &str) -> Result<StagedSecret, SecretError> {
        // Both stages at once: one round trip of latency instead of two on a cold start.
        let (current, previous) = tokio::try_join!(
            self.stage(name, "AWSCURRENT"),
            self.stage(name, "AWSPREVIOUS")
        )?;
        let (current, current_since) = current.ok_or_else(|| SecretError::Invalid {
            name: name.into(),
            why: "no AWSCURRENT string value".into(),
        })?;
        let previous = previous.map(|(s, _)| s);
        Ok(StagedSecret {
            current,
            previous,
            current_since,
        })
    }
}
