//! Secrets Manager as a [`SecretSource`]: AWSCURRENT and, during a rotation, AWSPREVIOUS.
//! Stages are always asked for by name (an unstaged read may return a stale version).

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use kyc_core::redact::Secret;
use kyc_core::secrets::{SecretError, SecretSource, StagedSecret};

pub struct SecretsManagerSource {
    client: Client,
}

impl SecretsManagerSource {
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

#[async_trait]
impl SecretSource for SecretsManagerSource {
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
