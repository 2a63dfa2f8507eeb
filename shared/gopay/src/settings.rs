//! The settings both GoPay functions (consent, sync) read the same way, on [`Env`].

use kyc_core::config::{secret_ttl, Env, SettingsError};
use std::time::Duration;

/// `GOPAY_AUTH_BASE_URL` and `GOPAY_CLIENT_BASE_URL`, each checked under its own name.
pub fn gopay_hosts(
    auth_base: &str,
    client_base: &str,
) -> Result<crate::consent::GoPayHosts, SettingsError> {
    use crate::consent::GoPayHosts;
    let expected = "an absolute https URL (plain http on loopback only)";
    for (name, url) in [
        ("GOPAY_AUTH_BASE_URL", auth_base),
        ("GOPAY_CLIENT_BASE_URL", client_base),
    ] {
        GoPayHosts::new(url, url).map_err(|_| SettingsError::invalid(name, expected))?;
    }
    GoPayHosts::new(auth_base, client_base)
        .map_err(|_| SettingsError::invalid("GOPAY_AUTH_BASE_URL", expected))
}

/// What both GoPay functions (consent, sync) read the same way, in this order: table, secrets,
/// hosts (checked), bucket, due shards, secret TTL. Each function adds its own variables.
#[derive(Debug, Clone)]
pub struct GoPaySettings {
    /// `TABLE_NAME`.
    pub table: String,
    /// `PAYLOAD_KEY_SECRET`: GoPay's payload keyring.
    pub payload_key_secret: String,
    /// Secrets Manager secret `{"clientId","clientSecret"}`.
    pub client_secret: String,
    /// `GOPAY_AUTH_BASE_URL`.
    pub auth_base_url: String,
    /// `GOPAY_CLIENT_BASE_URL`.
    pub client_base_url: String,
    /// Bucket of the token rescue objects (and of the sync's identification PDFs).
    pub bucket: String,
    /// `GOPAY_DUE_SHARDS`: partitions of the due index.
    pub due_shards: u32,
    /// `SECRET_CACHE_TTL_SECONDS`: how long a secret is cached.
    pub secret_ttl: Duration,
    /// Whether the table still holds items of the key layout before provider-scoped keys
    /// (`LEGACY_KEY_LAYOUT`).
    pub legacy_keys: kyc_core::legacy_keys::LegacyKeyLayout,
}

impl GoPaySettings {
    /// `TABLE_NAME`, `PAYLOAD_KEY_SECRET`, `GOPAY_CLIENT_SECRET`, `GOPAY_AUTH_BASE_URL`,
    /// `GOPAY_CLIENT_BASE_URL` (both checked), `GOPAY_BUCKET`, `GOPAY_DUE_SHARDS`,
    /// `SECRET_CACHE_TTL_SECONDS`.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let settings = Self {
            table: env.required("TABLE_NAME")?,
            payload_key_secret: env.required("PAYLOAD_KEY_SECRET")?,
            client_secret: env.required("GOPAY_CLIENT_SECRET")?,
            auth_base_url: env.required("GOPAY_AUTH_BASE_URL")?,
            client_base_url: env.required("GOPAY_CLIENT_BASE_URL")?,
            bucket: env.required("GOPAY_BUCKET")?,
            due_shards: env.number_in("GOPAY_DUE_SHARDS", 4, 1..=64)?,
            secret_ttl: secret_ttl(env)?,
            legacy_keys: kyc_core::legacy_keys::LegacyKeyLayout::from_env(env)?,
        };
        settings.hosts()?;
        Ok(settings)
    }

    /// GoPay's hosts, checked.
    pub fn hosts(&self) -> Result<crate::consent::GoPayHosts, SettingsError> {
        gopay_hosts(&self.auth_base_url, &self.client_base_url)
    }

    /// The client-credentials and payload-key caches over `source`.
    /// The names of [`Self::secret_caches`]' secrets, in its order (what an init prefetch
    /// reads in one call).
    pub fn secret_names(&self) -> [&str; 2] {
        [&self.client_secret, &self.payload_key_secret]
    }

    /// The client-credentials and payload-key caches over `source`.
    pub fn secret_caches(
        &self,
        source: std::sync::Arc<dyn kyc_core::secrets::SecretSource>,
    ) -> (
        kyc_core::secrets::Cached<crate::tokens::ClientCredentials>,
        kyc_core::secrets::Cached<kyc_core::crypto::Keyring>,
    ) {
        use kyc_core::secrets::Cached;
        (
            Cached::new(
                source.clone(),
                &self.client_secret,
                self.secret_ttl,
                |staged| crate::client::credentials_from_json(staged.current.expose()),
            ),
            kyc_core::crypto::Keyring::cached(source, &self.payload_key_secret, self.secret_ttl),
        )
    }
}
