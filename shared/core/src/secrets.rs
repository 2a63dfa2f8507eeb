//! Secrets with rotation stages, cached with a TTL. The source is a small trait; the Secrets
//! Manager adapter is `kyc_aws::secrets_manager`.

use crate::redact::Secret;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A secret's value at its current stage and, during a rotation, its previous one.
#[derive(Debug, Clone)]
pub struct StagedSecret {
    pub current: Secret,
    pub previous: Option<Secret>,
    /// When the current version was created (Secrets Manager `CreatedDate`): the rotation
    /// time, from which the previous version's grace period runs. `None` if unknown.
    pub current_since: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, thiserror::Error, Clone)]
pub enum SecretError {
    /// Transient: answer 5xx so the caller retries.
    #[error("secret store unavailable: {0}")]
    Unavailable(String),
    /// Configuration error: the secret is missing or malformed.
    #[error("secret {name} is unusable: {why}")]
    Invalid { name: String, why: String },
}

#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn staged(&self, name: &str) -> Result<StagedSecret, SecretError>;
}

/// Why a staged secret does not parse: the parser's own typed error, boxed (each secret has its
/// own, e.g. `crypto::KeyringError`). Its text must never hold the secret.
pub type SecretParseError = Box<dyn std::error::Error + Send + Sync + 'static>;

type Parser<T> = Box<dyn Fn(&StagedSecret) -> Result<T, SecretParseError> + Send + Sync>;

/// A client-credentials secret (`{"clientId":"...","clientSecret":"..."}`) that does not
/// parse. Names the missing field, never a value. A configuration error: fix the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientSecretError {
    #[error("not a JSON object")]
    NotJson,
    #[error("missing {0}")]
    Missing(&'static str),
}

/// The client id and secret of a client-credentials secret (both trimmed, neither blank):
/// the shape GoPay's and Xpollens' OAuth2 client secrets share.
pub fn client_id_and_secret(json: &str) -> Result<(String, Secret), ClientSecretError> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|_| ClientSecretError::NotJson)?;
    let field = |k: &'static str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or(ClientSecretError::Missing(k))
    };
    Ok((field("clientId")?, Secret::new(field("clientSecret")?)))
}

/// A parsed secret, fetched at most once per TTL (and on demand after a failed check, but not
/// more often than `min_refresh`, so a flood of bad requests cannot hammer Secrets Manager).
pub struct Cached<T> {
    source: Arc<dyn SecretSource>,
    name: String,
    ttl: Duration,
    min_refresh: Duration,
    parse: Parser<T>,
    slot: Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T: Send + Sync> Cached<T> {
    /// `parse` reads the staged value; its error (e.g. `crypto::KeyringError`) becomes
    /// [`SecretError::Invalid`]'s text, so it must never hold the secret itself.
    pub fn new<E: Into<SecretParseError>>(
        source: Arc<dyn SecretSource>,
        name: impl Into<String>,
        ttl: Duration,
        parse: impl Fn(&StagedSecret) -> Result<T, E> + Send + Sync + 'static,
    ) -> Self {
        Self {
            source,
            name: name.into(),
            ttl,
            min_refresh: Duration::from_secs(30),
            parse: Box::new(move |staged: &StagedSecret| parse(staged).map_err(Into::into)),
            slot: Mutex::new(None),
        }
    }

    /// A cache already holding `value` (tests, offline tools).
    pub fn preloaded(self, value: T) -> Self {
        Self {
            slot: Mutex::new(Some((Instant::now(), Arc::new(value)))),
            ..self
        }
    }

    pub async fn get(&self) -> Result<Arc<T>, SecretError> {
        self.load(self.ttl).await
    }

    /// The value, refetched if older than `min_refresh`: used after a credential check failed,
    /// so a just-rotated credential works at once.
    pub async fn refreshed(&self) -> Result<Arc<T>, SecretError> {
        self.load(self.min_refresh).await
    }

    async fn load(&self, max_age: Duration) -> Result<Arc<T>, SecretError> {
        let mut slot = self.slot.lock().await;
        if let Some((at, v)) = slot.as_ref() {
            if at.elapsed() < max_age {
                return Ok(v.clone());
            }
        }
        let staged = self.source.staged(&self.name).await?;
        let value = Arc::new((self.parse)(&staged).map_err(|why| SecretError::Invalid {
            name: self.name.clone(),
            why: why.to_string(),
        })?);
        *slot = Some((Instant::now(), value.clone()));
        Ok(value)
    }
}

/// A fixed in-memory source, for unit tests and offline tools.
pub struct StaticSecrets(pub std::collections::HashMap<String, StagedSecret>);

#[async_trait]
impl SecretSource for StaticSecrets {
    async fn staged(&self, name: &str) -> Result<StagedSecret, SecretError> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| SecretError::Invalid {
                name: name.into(),
                why: "not found".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(AtomicUsize);

    #[async_trait]
    impl SecretSource for Counting {
        async fn staged(&self, _: &str) -> Result<StagedSecret, SecretError> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            Ok(StagedSecret {
                current_since: None,
                current: Secret::new(format!("v{n}")),
                previous: None,
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn caches_for_the_ttl_and_refreshes_on_demand_at_most_every_min_refresh() {
        let src = Arc::new(Counting(AtomicUsize::new(0)));
        let c = Cached::new(src.clone(), "s", Duration::from_secs(300), |s| {
            Ok::<_, String>(s.current.expose().clone())
        });
        assert_eq!(*c.get().await.unwrap(), "v0");
        assert_eq!(
            *c.refreshed().await.unwrap(),
            "v0",
            "younger than min_refresh"
        );
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(*c.refreshed().await.unwrap(), "v1");
        assert_eq!(*c.get().await.unwrap(), "v1");
        tokio::time::advance(Duration::from_secs(301)).await;
        assert_eq!(*c.get().await.unwrap(), "v2");
        assert_eq!(src.0.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn client_secrets_name_the_missing_field_never_a_value() {
        let (id, secret) =
            client_id_and_secret(r#"{"clientId":" partner ","clientSecret":"s3cr3t"}"#).unwrap();
        assert_eq!(
            (id.as_str(), secret.expose().as_str()),
            ("partner", "s3cr3t")
        );
        assert_eq!(
            client_id_and_secret(r#"{"clientId":"partner","clientSecret":"  "}"#).unwrap_err(),
            ClientSecretError::Missing("clientSecret")
        );
        assert_eq!(
            client_id_and_secret("s3cr3t").unwrap_err(),
            ClientSecretError::NotJson
        );
    }

    /// A secret that does not parse is a configuration error (fix the secret), not an
    /// unavailable store (retry): the typed parse error becomes `Invalid`, with its text.
    #[tokio::test]
    async fn a_typed_parse_error_makes_the_secret_invalid_not_unavailable() {
        let src = Arc::new(Counting(AtomicUsize::new(0)));
        let c = Cached::new(src, "gopay/client", Duration::from_secs(1), |s| {
            client_id_and_secret(s.current.expose())
        });
        match c.get().await.unwrap_err() {
            SecretError::Invalid { name, why } => {
                assert_eq!(
                    (name.as_str(), why.as_str()),
                    ("gopay/client", "not a JSON object")
                )
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn parse_errors_name_the_secret_not_its_value() {
        let src = Arc::new(Counting(AtomicUsize::new(0)));
        let c: Cached<()> = Cached::new(src, "xpollens/creds", Duration::from_secs(1), |_| {
            Err::<(), String>("bad shape".into())
        });
        let e = c.get().await.unwrap_err().to_string();
        assert!(e.contains("xpollens/creds") && !e.contains("v0"), "{e}");
    }
}
