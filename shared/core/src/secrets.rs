//! Secrets with rotation stages, cached with a TTL. The source is a small trait; the Secrets
//! Manager adapter is `kyc_aws::secrets_manager`.
//!
//! Cold start: a function reads the AWSCURRENT value of all its secrets in ONE call
//! ([`prefetch`], `BatchGetSecretValue` on AWS). AWSPREVIOUS is read only when it can matter:
//! a keyring still in the single-key form ([`Cached::previous_when`]), or a presented
//! credential that does not match while a grace period could apply ([`Cached::with_previous`]).

use crate::redact::Secret;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A secret's value at its current stage and, during a rotation, its previous one.
#[derive(Debug, Clone)]
pub struct StagedSecret {
    /// The AWSCURRENT value.
    pub current: Secret,
    /// The AWSPREVIOUS value, if any.
    pub previous: Option<Secret>,
    /// When the current version was created (Secrets Manager `CreatedDate`): the rotation
    /// time, from which the previous version's grace period runs. `None` if unknown.
    pub current_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error, Clone)]
pub enum SecretError {
    /// Transient: answer 5xx so the caller retries.
    #[error("secret store unavailable: {0}")]
    Unavailable(String),
    /// Configuration error: the secret is missing or malformed.
    #[error("secret {name} is unusable: {why}")]
    Invalid {
        /// The secret's name.
        name: String,
        /// What is wrong (never the value).
        why: String,
    },
}

/// A secret's AWSCURRENT value, as a batch read returns it.
#[derive(Debug, Clone)]
pub struct CurrentSecret {
    /// The AWSCURRENT value.
    pub value: Secret,
    /// Secrets Manager's `CreatedDate` of the entry (`None` if unknown). Not used for a grace
    /// period: the batch API documents it as the secret's creation, not the version's.
    pub created: Option<chrono::DateTime<chrono::Utc>>,
}

/// Where secrets are read (Secrets Manager, or an in-memory twin).
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The AWSCURRENT value of every secret named, in the order named, in ONE call. Fails
    /// closed: a secret that is missing, unreadable or not returned fails the whole call, so
    /// nothing is ever half-loaded.
    async fn current(&self, names: &[&str]) -> Result<Vec<CurrentSecret>, SecretError>;
    /// Both stages of one secret (two reads; AWSPREVIOUS `None` when there is none), with the
    /// current version's creation time: for a rotation's grace period, a legacy keyring and
    /// offline tools.
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
    /// The secret is not a JSON object.
    #[error("not a JSON object")]
    NotJson,
    /// The named field is missing or blank.
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
    /// Whether a current value needs AWSPREVIOUS too (a legacy single-key keyring).
    needs_previous: Option<fn(&str) -> bool>,
    slot: Mutex<Option<Slot<T>>>,
}

struct Slot<T> {
    at: Instant,
    value: Arc<T>,
    /// Parsed with AWSPREVIOUS read (see [`Cached::with_previous`]).
    with_previous: bool,
}

/// Which stages a load reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stages {
    /// AWSCURRENT (and AWSPREVIOUS only if `needs_previous` says so).
    Current,
    /// Both, always.
    Both,
}

impl<T: Send + Sync> Cached<T> {
    /// `parse` reads the staged value; its error (e.g. `crypto::KeyringError`) becomes
    /// [`SecretError::Invalid`]'s text, so it must never hold the secret itself. Only
    /// AWSCURRENT is read (its `previous` is `None`) unless [`Self::previous_when`] or
    /// [`Self::with_previous`] asks for AWSPREVIOUS.
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
            needs_previous: None,
            slot: Mutex::new(None),
        }
    }

    /// Reads AWSPREVIOUS as well whenever `needs_previous(current value)` (a keyring still in
    /// the single-key form: `crypto::Keyring::needs_previous`).
    pub fn previous_when(self, needs_previous: fn(&str) -> bool) -> Self {
        Self {
            needs_previous: Some(needs_previous),
            ..self
        }
    }

    /// A cache already holding `value` (tests, offline tools).
    pub fn preloaded(self, value: T) -> Self {
        Self {
            slot: Mutex::new(Some(Slot {
                at: Instant::now(),
                value: Arc::new(value),
                with_previous: true,
            })),
            ..self
        }
    }

    /// The secret's name (or ARN) as configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parsed current value, read again once the cache's time to live is over.
    pub async fn get(&self) -> Result<Arc<T>, SecretError> {
        self.load(self.ttl, Stages::Current).await
    }

    /// The value, refetched if older than `min_refresh`: used after a credential check failed,
    /// so a just-rotated credential works at once.
    pub async fn refreshed(&self) -> Result<Arc<T>, SecretError> {
        self.load(self.min_refresh, Stages::Current).await
    }

    /// The value parsed with AWSPREVIOUS too, refetched (both stages) unless the cached one
    /// already read it less than `min_refresh` ago: after a presented credential did not match
    /// while a grace period for the previous one could apply. Also picks up a rotation.
    pub async fn with_previous(&self) -> Result<Arc<T>, SecretError> {
        self.load(self.min_refresh, Stages::Both).await
    }

    async fn load(&self, max_age: Duration, stages: Stages) -> Result<Arc<T>, SecretError> {
        let mut slot = self.slot.lock().await;
        if let Some(s) = slot.as_ref() {
            if s.at.elapsed() < max_age && (stages == Stages::Current || s.with_previous) {
                return Ok(s.value.clone());
            }
        }
        let loaded = match stages {
            Stages::Both => self.parse_staged(self.source.staged(&self.name).await?)?,
            Stages::Current => {
                let current = self.source.current(&[self.name.as_str()]).await?;
                let current = current
                    .into_iter()
                    .next()
                    .ok_or_else(|| SecretError::Invalid {
                        name: self.name.clone(),
                        why: "not returned".into(),
                    })?;
                self.parse_current(current).await?
            }
        };
        let value = loaded.value.clone();
        *slot = Some(loaded);
        Ok(value)
    }

    /// Parses a batch-read AWSCURRENT value, reading both stages first if it needs AWSPREVIOUS.
    async fn parse_current(&self, current: CurrentSecret) -> Result<Slot<T>, SecretError> {
        if self
            .needs_previous
            .is_some_and(|needs| needs(current.value.expose()))
        {
            return self.parse_staged(self.source.staged(&self.name).await?);
        }
        let mut slot = self.parse_staged(StagedSecret {
            current: current.value,
            previous: None,
            current_since: None,
        })?;
        slot.with_previous = false;
        Ok(slot)
    }

    fn parse_staged(&self, staged: StagedSecret) -> Result<Slot<T>, SecretError> {
        let value = (self.parse)(&staged).map_err(|why| SecretError::Invalid {
            name: self.name.clone(),
            why: why.to_string(),
        })?;
        Ok(Slot {
            at: Instant::now(),
            value: Arc::new(value),
            with_previous: true,
        })
    }
}

/// A cache [`prefetch`] can fill from a batch read.
#[async_trait]
pub trait Prefetch: Send + Sync {
    /// The secret's name (or ARN).
    fn secret_name(&self) -> &str;
    /// Where the secret is read.
    fn source(&self) -> &Arc<dyn SecretSource>;
    /// Parses and keeps `current` (reading AWSPREVIOUS only if the value needs it).
    async fn install(&self, current: CurrentSecret) -> Result<(), SecretError>;
}

#[async_trait]
impl<T: Send + Sync> Prefetch for Cached<T> {
    fn secret_name(&self) -> &str {
        &self.name
    }

    fn source(&self) -> &Arc<dyn SecretSource> {
        &self.source
    }

    async fn install(&self, current: CurrentSecret) -> Result<(), SecretError> {
        let loaded = self.parse_current(current).await?;
        *self.slot.lock().await = Some(loaded);
        Ok(())
    }
}

/// During init: the AWSCURRENT values of every cache (all over one source) in ONE call, each
/// parsed into its cache. Fails closed (nothing cached for a secret that did not come back or
/// does not parse); the request path then fetches again.
pub async fn prefetch(caches: &[&dyn Prefetch]) -> Result<(), SecretError> {
    let Some(first) = caches.first() else {
        return Ok(());
    };
    let names: Vec<&str> = caches.iter().map(|c| c.secret_name()).collect();
    let values = first.source().current(&names).await?;
    if values.len() != caches.len() {
        return Err(SecretError::Unavailable(format!(
            "{} values for {} secrets",
            values.len(),
            caches.len()
        )));
    }
    for (cache, value) in caches.iter().zip(values) {
        cache.install(value).await?;
    }
    Ok(())
}

/// How long the answer of an early read may wait for [`prefetch`]: past this it is dropped and
/// the secrets are read again (an early read is for the cold start, never a stale cache).
const EARLY_READ_FRESH: Duration = Duration::from_secs(30);

type EarlyAnswer = tokio::task::JoinHandle<Result<Vec<CurrentSecret>, SecretError>>;

/// A source whose cold-start batch read is already on its way: [`EarlyRead::start`] sends
/// the one batch read of the names a function prefetches *before* the function builds its
/// clients and adapters, so that work overlaps the round trip instead of preceding it. The
/// first [`SecretSource::current`] asking for exactly those names, in that order (what
/// [`prefetch`] asks), gets that answer; every other read goes to the source. The same call
/// and the same fail-closed checks as without it: only the moment it is sent changes.
pub struct EarlyRead {
    source: Arc<dyn SecretSource>,
    pending: std::sync::Mutex<Option<(Vec<String>, Instant, EarlyAnswer)>>,
}

impl EarlyRead {
    /// Sends the batch read of `names` now (a task of the current tokio runtime).
    pub fn start(source: Arc<dyn SecretSource>, names: &[&str]) -> Arc<Self> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let task = {
            let (source, names) = (source.clone(), names.clone());
            tokio::spawn(async move {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                source.current(&names).await
            })
        };
        Arc::new(Self {
            source,
            pending: std::sync::Mutex::new(Some((names, Instant::now(), task))),
        })
    }

    /// The early answer, if `names` are the ones sent and it is still fresh (taken: once).
    fn take(&self, names: &[&str]) -> Option<EarlyAnswer> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let (sent, at, _) = pending.as_ref()?;
        let same = sent.iter().map(String::as_str).eq(names.iter().copied());
        let fresh = at.elapsed() < EARLY_READ_FRESH;
        if !fresh {
            // Never served: whatever it read may be older than the caches allow.
            if let Some((_, _, task)) = pending.take() {
                task.abort();
            }
            return None;
        }
        if same {
            pending.take().map(|(_, _, task)| task)
        } else {
            None
        }
    }
}

#[async_trait]
impl SecretSource for EarlyRead {
    async fn current(&self, names: &[&str]) -> Result<Vec<CurrentSecret>, SecretError> {
        match self.take(names) {
            Some(task) => task
                .await
                .map_err(|e| SecretError::Unavailable(format!("early secrets read: {e}")))?,
            None => self.source.current(names).await,
        }
    }

    async fn staged(&self, name: &str) -> Result<StagedSecret, SecretError> {
        self.source.staged(name).await
    }
}

/// A fixed in-memory source, for unit tests and offline tools.
pub struct StaticSecrets(pub std::collections::HashMap<String, StagedSecret>);

#[async_trait]
impl SecretSource for StaticSecrets {
    async fn current(&self, names: &[&str]) -> Result<Vec<CurrentSecret>, SecretError> {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let staged = self.staged(name).await?;
            out.push(CurrentSecret {
                value: staged.current,
                created: staged.current_since,
            });
        }
        Ok(out)
    }

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

    /// Counts batch reads (`current`) and two-stage reads (`staged`); every read returns a new
    /// value `v<n>` (n = reads so far), AWSPREVIOUS `p<n>`.
    #[derive(Default)]
    struct Counting {
        reads: AtomicUsize,
        batches: AtomicUsize,
        staged: AtomicUsize,
        /// The current value, when fixed.
        value: Option<&'static str>,
    }

    impl Counting {
        fn next(&self) -> usize {
            self.reads.fetch_add(1, Ordering::SeqCst)
        }
        fn value(&self, n: usize) -> String {
            self.value.map_or_else(|| format!("v{n}"), str::to_string)
        }
        fn calls(&self) -> (usize, usize) {
            (
                self.batches.load(Ordering::SeqCst),
                self.staged.load(Ordering::SeqCst),
            )
        }
    }

    #[async_trait]
    impl SecretSource for Counting {
        async fn current(&self, names: &[&str]) -> Result<Vec<CurrentSecret>, SecretError> {
            self.batches.fetch_add(1, Ordering::SeqCst);
            let n = self.next();
            Ok(names
                .iter()
                .map(|_| CurrentSecret {
                    value: Secret::new(self.value(n)),
                    created: None,
                })
                .collect())
        }

        async fn staged(&self, _: &str) -> Result<StagedSecret, SecretError> {
            self.staged.fetch_add(1, Ordering::SeqCst);
            let n = self.next();
            Ok(StagedSecret {
                current_since: None,
                current: Secret::new(self.value(n)),
                previous: Some(Secret::new(format!("p{n}"))),
            })
        }
    }

    /// The current value and, when read, the previous one.
    fn both(s: &StagedSecret) -> Result<String, String> {
        Ok(match &s.previous {
            Some(p) => format!("{}+{}", s.current.expose(), p.expose()),
            None => s.current.expose().clone(),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn caches_for_the_ttl_and_refreshes_on_demand_at_most_every_min_refresh() {
        let src = Arc::new(Counting::default());
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
        assert_eq!(src.calls(), (3, 0), "AWSCURRENT only, never AWSPREVIOUS");
    }

    /// Issue 21: a function's secrets are read in one call during init; AWSPREVIOUS is not
    /// read for them.
    #[tokio::test]
    async fn prefetch_reads_every_cache_in_one_call_and_no_previous_stage() {
        let src = Arc::new(Counting::default());
        let a = Cached::new(src.clone(), "a", Duration::from_secs(300), both);
        let b = Cached::new(src.clone(), "b", Duration::from_secs(300), both);
        prefetch(&[&a, &b]).await.unwrap();
        assert_eq!(src.calls(), (1, 0));
        assert_eq!(*a.get().await.unwrap(), "v0");
        assert_eq!(*b.get().await.unwrap(), "v0");
        assert_eq!(src.calls(), (1, 0), "served from the caches");
    }

    /// An early read is the one call of the cold start: prefetch takes its answer, and every
    /// later read (other names, a refresh) goes to the source again.
    #[tokio::test]
    async fn an_early_read_is_the_prefetch_call_and_serves_once() {
        let src = Arc::new(Counting::default());
        let early = EarlyRead::start(src.clone(), &["a", "b"]);
        let a = Cached::new(early.clone(), "a", Duration::from_secs(300), both);
        let b = Cached::new(early.clone(), "b", Duration::from_secs(300), both);
        prefetch(&[&a, &b]).await.unwrap();
        assert_eq!(src.calls(), (1, 0), "one batch read in all");
        assert_eq!(*a.get().await.unwrap(), "v0");
        assert_eq!(*b.get().await.unwrap(), "v0");
        // Served once: the same names again read the source.
        prefetch(&[&a, &b]).await.unwrap();
        assert_eq!(src.calls(), (2, 0));
        assert_eq!(*a.get().await.unwrap(), "v1");
    }

    /// Other names (or another order) than the ones sent early are read from the source.
    #[tokio::test]
    async fn an_early_read_of_other_names_is_not_served() {
        let src = Arc::new(Counting::default());
        let early = EarlyRead::start(src.clone(), &["a", "b"]);
        let a = Cached::new(early.clone(), "a", Duration::from_secs(300), both);
        let b = Cached::new(early.clone(), "b", Duration::from_secs(300), both);
        prefetch(&[&b, &a]).await.unwrap();
        tokio::task::yield_now().await;
        assert_eq!(src.calls().0, 2, "the early read and the prefetch's own");
    }

    /// An early answer that waited past its freshness is dropped, never served.
    #[tokio::test(start_paused = true)]
    async fn a_stale_early_read_is_dropped() {
        let src = Arc::new(Counting::default());
        let early = EarlyRead::start(src.clone(), &["a"]);
        tokio::task::yield_now().await;
        tokio::time::advance(EARLY_READ_FRESH + Duration::from_secs(1)).await;
        let a = Cached::new(early.clone(), "a", Duration::from_secs(300), both);
        prefetch(&[&a]).await.unwrap();
        assert_eq!(*a.get().await.unwrap(), "v1", "read again");
    }

    /// A failed early read fails the prefetch (nothing cached), as a failed batch does.
    #[tokio::test]
    async fn a_failed_early_read_fills_no_cache() {
        let early = EarlyRead::start(Arc::new(StaticSecrets(Default::default())), &["a"]);
        let a = Cached::new(early.clone(), "a", Duration::from_secs(300), both);
        assert!(prefetch(&[&a]).await.is_err());
        assert!(a.slot.lock().await.is_none());
    }

    /// AWSPREVIOUS only for a value that needs it (a legacy single-key keyring), and on demand
    /// (a credential that did not match), at most every min_refresh.
    #[tokio::test(start_paused = true)]
    async fn awsprevious_is_read_only_when_needed_and_at_most_every_min_refresh() {
        let legacy = Arc::new(Counting {
            value: Some("legacy"),
            ..Counting::default()
        });
        let ring = Cached::new(legacy.clone(), "k", Duration::from_secs(300), both)
            .previous_when(|v| v == "legacy");
        prefetch(&[&ring]).await.unwrap();
        assert_eq!(*ring.get().await.unwrap(), "legacy+p1");
        assert_eq!(legacy.calls(), (1, 1));

        let src = Arc::new(Counting::default());
        let creds = Cached::new(src.clone(), "c", Duration::from_secs(300), both)
            .previous_when(|v| v == "legacy");
        prefetch(&[&creds]).await.unwrap();
        assert_eq!(*creds.get().await.unwrap(), "v0");
        assert_eq!(src.calls(), (1, 0));
        // A credential did not match: both stages once, then cached.
        assert_eq!(*creds.with_previous().await.unwrap(), "v1+p1");
        assert_eq!(*creds.with_previous().await.unwrap(), "v1+p1");
        assert_eq!(*creds.get().await.unwrap(), "v1+p1");
        assert_eq!(src.calls(), (1, 1));
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(*creds.with_previous().await.unwrap(), "v2+p2");
        assert_eq!(src.calls(), (1, 2));
    }

    /// A batch that fails (an entry in `Errors`, a secret not returned) leaves every cache
    /// empty: the request path reads again and fails closed while it still fails.
    #[tokio::test]
    async fn a_failed_batch_fills_no_cache() {
        let secrets = StaticSecrets(
            [(
                "a".to_string(),
                StagedSecret {
                    current: Secret::new("A".into()),
                    previous: None,
                    current_since: None,
                },
            )]
            .into(),
        );
        let src: Arc<dyn SecretSource> = Arc::new(secrets);
        let a = Cached::new(src.clone(), "a", Duration::from_secs(300), both);
        let missing = Cached::new(src, "missing", Duration::from_secs(300), both);
        let e = prefetch(&[&a, &missing]).await.unwrap_err();
        assert!(
            matches!(e, SecretError::Invalid { ref name, .. } if name == "missing"),
            "{e}"
        );
        assert!(a.slot.lock().await.is_none());
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
        let src = Arc::new(Counting::default());
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
        let src = Arc::new(Counting::default());
        let c: Cached<()> = Cached::new(src, "xpollens/creds", Duration::from_secs(1), |_| {
            Err::<(), String>("bad shape".into())
        });
        let e = c.get().await.unwrap_err().to_string();
        assert!(e.contains("xpollens/creds") && !e.contains("v0"), "{e}");
    }
}
