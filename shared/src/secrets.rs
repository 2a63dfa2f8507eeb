//! Secrets with rotation stages, cached with a TTL. The source is a small trait; the Secrets
//! Manager adapter is `aws::secrets_manager`.

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

type Parser<T> = Box<dyn Fn(&StagedSecret) -> Result<T, String> + Send + Sync>;

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
    pub fn new<E: std::fmt::Display>(
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
            parse: Box::new(move |staged: &StagedSecret| parse(staged).map_err(|e| e.to_string())),
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
            why,
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
