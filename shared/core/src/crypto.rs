//! Application-level encryption of secrets and raw provider payloads before they reach
//! DynamoDB. AES-256-GCM-SIV (RFC 8452, aws-lc-rs; checked byte for byte against RustCrypto's
//! aes-gcm-siv, which wrote the values of earlier releases): nonce-misuse resistant, so a repeated
//! random 96-bit nonce can at worst reveal that two identical plaintexts were sealed, never the
//! key stream; and it runs on AES-NI (measured here: 0.9 µs per callback-sized message against
//! 3.4 µs for XChaCha20-Poly1305).
//!
//! Text forms:
//! - `v2.<keyId>.<base64url nonce>.<base64url ciphertext>`: what [`Keyring::seal`] writes. Its
//!   associated data ([`Aad`]) binds the value to its provider, its item, its field AND its
//!   customer, length-prefixed so no two bindings encode alike: a value copied to another
//!   customer's item, or to another field of the same item, does not open.
//! - `v1.` (before issue 10): associated data was the item's legacy text (`xpollens/<event>/body`
//!   ...), without the customer. Still opened, with that legacy text, until `kyc reseal` has
//!   re-sealed it as `v2`.
//!
//! Keys: each provider (Xpollens, Trust & Sign, GoPay) has its own keyring secret, so a
//! function can open only its provider's values. A keyring holds one current key (seals and
//! opens) and every retired key still in use (open only), each by key id; a key id is never
//! reused for other key material (refused at load), so a sealed value always names the one key
//! that opens it.
//!
//! Names: a keyring secret may also hold a `namingKey` (`{"keyId","key"}`), the key of the
//! keyed names ([`NamingKey::name`], HMAC-SHA256) given to things whose plain name may be
//! personal (a quarantined Trust & Sign archive: its S3 key often names the customer). An
//! unsalted digest of such a name is reversible with a list of likely names; a keyed one is
//! not without the key. The naming key has its own id, written into each name, and is not a
//! payload key: rotating payload keys renames nothing.

use crate::redact::Secret;
use aws_lc_rs::aead::{Aad as AeadAad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM_SIV};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::Deserialize;
use std::sync::Arc;

/// Why a key could not be built or a value not opened. Never holds key material or plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The payload key secret is malformed (says how, never what).
    #[error("payload key secret is malformed: {0}")]
    BadKey(&'static str),
    /// The sealed text is not a sealed value's format.
    #[error("sealed value is malformed")]
    Malformed,
    /// The keyring has no key of that id: it was removed (a compromised key stops opening
    /// anything at once) or never added. Key ids are not secret.
    #[error("sealed under key id {key_id:?}, which is not in the keyring (removed, or never added): restore that key to open it")]
    UnknownKey {
        /// The key id the value names.
        key_id: String,
    },
    /// The value does not open: wrong key or associated data, or tampered.
    #[error("sealed value does not open (wrong key or associated data, or tampered)")]
    Open,
}

/// Why a keyring secret cannot be loaded. Never carries key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyringError {
    /// A stage of the keyring secret is malformed.
    #[error("payload keyring {stage} is malformed: {why}")]
    Malformed {
        /// The secret's stage (`AWSCURRENT` or `AWSPREVIOUS`).
        stage: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A key id names one key forever: two different keys under one id would leave every
    /// value sealed under the other one unopenable, so the whole keyring is refused.
    #[error("payload keyring: key id {key_id:?} appears twice with different key material")]
    ConflictingKeyId {
        /// The key id used twice.
        key_id: String,
    },
    /// The keyring's current key id names none of its keys.
    #[error("payload keyring: current key id {0:?} is not among its keys")]
    CurrentKeyMissing(String),
}

/// Where a sealed value lives, which its associated data binds it to.
///
/// `item` is the logical item the value belongs to (an event, a GoPay profile, a rejection),
/// not the DynamoDB key: a Trust & Sign archive key sealed for an event is kept in that
/// event's summary, its history entry and the state stream, and opens in all three.
#[derive(Clone)]
pub struct Aad {
    provider: &'static str,
    item: String,
    field: String,
    /// `None` only for values attributable to no customer (rejected deliveries, events naming
    /// no subject).
    customer: Option<String>,
    /// The `v1` associated data of the same value when it was not `<provider>/<item>/<field>`
    /// (built only when a `v1` value is opened: sealing never needs it).
    legacy: Option<String>,
}

impl PartialEq for Aad {
    fn eq(&self, other: &Self) -> bool {
        (self.provider, &self.item, &self.field, &self.customer)
            == (other.provider, &other.item, &other.field, &other.customer)
            && self.legacy_text() == other.legacy_text()
    }
}

impl Eq for Aad {}

impl std::fmt::Debug for Aad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The customer id stays out of debug output.
        f.debug_struct("Aad")
            .field("provider", &self.provider)
            .field("item", &self.item)
            .field("field", &self.field)
            .finish_non_exhaustive()
    }
}

impl Aad {
    /// Binding with the legacy text `<provider>/<item>/<field>` (the form most `v1` values used).
    pub fn new(
        provider: &'static str,
        item: impl Into<String>,
        field: impl Into<String>,
        customer: Option<&str>,
    ) -> Self {
        Self {
            legacy: None,
            provider,
            item: item.into(),
            field: field.into(),
            customer: customer.map(str::to_string),
        }
    }

    /// Overrides the `v1` associated data where it did not follow `<provider>/<item>/<field>`.
    pub fn with_legacy(mut self, legacy: impl Into<String>) -> Self {
        self.legacy = Some(legacy.into());
        self
    }

    /// The `v1` associated data.
    fn legacy_text(&self) -> std::borrow::Cow<'_, str> {
        match &self.legacy {
            Some(text) => text.as_str().into(),
            None => format!("{}/{}/{}", self.provider, self.item, self.field).into(),
        }
    }

    /// The provider the value belongs to.
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// The `v2` associated data: a domain tag, then provider, item, field and customer, each
    /// length-prefixed (no separator inside an id can make two bindings collide).
    fn v2_bytes(&self) -> Vec<u8> {
        const TAG: &[u8] = b"kyc-hooks/aad/v2";
        let customer = self.customer.as_deref();
        let parts_len = self.item.len() + self.field.len() + customer.map_or(0, str::len);
        let mut out = Vec::with_capacity(TAG.len() + 4 * 5 + self.provider.len() + parts_len);
        out.extend_from_slice(TAG);
        for part in [
            Some(self.provider),
            Some(self.item.as_str()),
            Some(self.field.as_str()),
            customer,
        ] {
            match part {
                Some(text) => {
                    out.push(1);
                    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
                    out.extend_from_slice(text.as_bytes());
                }
                None => out.push(0),
            }
        }
        out
    }
}

/// One 256-bit key and its id.
#[derive(Clone)]
pub struct PayloadKey {
    id: String,
    key: Secret<[u8; 32]>,
    /// The key's AES schedule, expanded once rather than per value (shared by clones).
    cipher: Arc<LessSafeKey>,
}

impl std::fmt::Debug for PayloadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadKey")
            .field("id", &self.id)
            .field("key", &self.key)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyJson {
    key_id: String,
    key: String,
}

/// The keyring secret: `{"currentKeyId": "...", "keys": [{"keyId", "key"}, ...]}`, and
/// optionally `"namingKey": {"keyId", "key"}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeyringJson {
    current_key_id: String,
    keys: Vec<KeyJson>,
    naming_key: Option<KeyJson>,
}

impl KeyJson {
    fn bytes(&self) -> Result<[u8; 32], CryptoError> {
        let bytes = STANDARD
            .decode(self.key.trim())
            .map_err(|_| CryptoError::BadKey("key is not base64"))?;
        bytes
            .try_into()
            .map_err(|_| CryptoError::BadKey("key must be 32 bytes"))
    }

    fn into_key(self) -> Result<PayloadKey, CryptoError> {
        PayloadKey::new(&self.key_id, self.bytes()?)
    }

    fn into_naming_key(self) -> Result<NamingKey, CryptoError> {
        NamingKey::new(&self.key_id, self.bytes()?)
    }
}

fn check_key_id(id: &str) -> Result<(), CryptoError> {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(CryptoError::BadKey("keyId must be non-empty [A-Za-z0-9_-]"));
    }
    Ok(())
}

/// The key of keyed names (see the module docs), with its id.
#[derive(Clone)]
pub struct NamingKey {
    id: String,
    key: Secret<[u8; 32]>,
}

impl std::fmt::Debug for NamingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamingKey")
            .field("id", &self.id)
            .field("key", &self.key)
            .finish()
    }
}

impl NamingKey {
    /// A naming key of id `id` (checked: a valid key id).
    pub fn new(id: &str, key: [u8; 32]) -> Result<Self, CryptoError> {
        check_key_id(id)?;
        Ok(Self {
            id: id.to_string(),
            key: Secret::new(key),
        })
    }

    /// The key's id, the prefix of every name it makes.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `<keyId>.<hex of HMAC-SHA256(key, purpose NUL text)>`: the same text always gets the same
    /// name under this key (a retried copy lands on the same object), no name reveals its text
    /// to anyone without the key, and the purpose keeps names of different things apart.
    pub fn name(&self, purpose: &str, text: &str) -> String {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(self.key.expose())
            .expect("HMAC takes a key of any length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(text.as_bytes());
        format!("{}.{}", self.id, hex::encode(mac.finalize().into_bytes()))
    }

    fn same_material(&self, other: &[u8; 32]) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.key.expose()[..].ct_eq(&other[..]))
    }
}

impl PayloadKey {
    /// A payload key of id `id` (checked: a valid key id).
    pub fn new(id: &str, key: [u8; 32]) -> Result<Self, CryptoError> {
        check_key_id(id)?;
        Ok(Self {
            id: id.to_string(),
            cipher: Arc::new(LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM_SIV, &key)
                    .expect("a 32-byte key is an AES-256-GCM-SIV key"),
            )),
            key: Secret::new(key),
        })
    }

    /// Parses the single-key Secrets Manager value `{"keyId": "...", "key": "<base64 of 32 bytes>"}`.
    pub fn from_secret_json(json: &str) -> Result<Self, CryptoError> {
        let parsed: KeyJson =
            serde_json::from_str(json).map_err(|_| CryptoError::BadKey("not {keyId, key} JSON"))?;
        parsed.into_key()
    }

    /// The key's id, written in every value it seals.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// AES-256-GCM-SIV of `plaintext` under this key: ciphertext then the 16-byte tag.
    fn encrypt(&self, nonce: [u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plaintext.len() + AES_256_GCM_SIV.tag_len());
        out.extend_from_slice(plaintext);
        self.cipher
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                AeadAad::from(aad),
                &mut out,
            )
            .expect("AES-GCM-SIV encryption cannot fail for in-memory buffers");
        out
    }

    /// The plaintext of `ciphertext` (with its tag), or `Open` if it was not sealed by this
    /// key with this associated data.
    fn decrypt(
        &self,
        nonce: [u8; 12],
        aad: &[u8],
        mut ciphertext: Vec<u8>,
    ) -> Result<Vec<u8>, CryptoError> {
        let len = self
            .cipher
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                AeadAad::from(aad),
                &mut ciphertext,
            )
            .map_err(|_| CryptoError::Open)?
            .len();
        ciphertext.truncate(len);
        Ok(ciphertext)
    }

    fn same_material(&self, other: &PayloadKey) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.key.expose()[..].ct_eq(&other.key.expose()[..]))
    }
}

/// A sealed text's version and key id, read without opening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedHeader<'a> {
    /// The format version.
    pub version: SealVersion,
    /// The id of the key it is sealed under.
    pub key_id: &'a str,
}

/// The format of a sealed text (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SealVersion {
    /// Associated data was the item's legacy text (before issue 10).
    V1,
    /// Associated data binds provider, item, field and customer: what is written today.
    V2,
}

impl SealVersion {
    /// `v1` or `v2`, as the sealed text begins.
    pub fn as_str(self) -> &'static str {
        match self {
            SealVersion::V1 => "v1",
            SealVersion::V2 => "v2",
        }
    }
}

struct Parsed<'a> {
    header: SealedHeader<'a>,
    nonce: &'a str,
    ciphertext: &'a str,
}

fn parse(sealed: &str) -> Result<Parsed<'_>, CryptoError> {
    let mut parts = sealed.split('.');
    let (Some(version), Some(key_id), Some(nonce), Some(ciphertext), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(CryptoError::Malformed);
    };
    let version = match version {
        "v1" => SealVersion::V1,
        "v2" => SealVersion::V2,
        _ => return Err(CryptoError::Malformed),
    };
    Ok(Parsed {
        header: SealedHeader { version, key_id },
        nonce,
        ciphertext,
    })
}

/// The version and key id of a sealed text (`None` if it is not one).
pub fn sealed_header(sealed: &str) -> Option<SealedHeader<'_>> {
    parse(sealed).ok().map(|p| p.header)
}

/// The current key (seals and opens) and every retired key still in use (open only).
#[derive(Debug, Clone)]
pub struct Keyring {
    current: PayloadKey,
    retired: Vec<PayloadKey>,
    /// The secret's `namingKey`, if it has one.
    naming: Option<NamingKey>,
}

/// Adds `key` to `keys` unless the same id and material are there; refuses an id reused with
/// other material.
fn add_key(keys: &mut Vec<PayloadKey>, key: PayloadKey) -> Result<(), KeyringError> {
    match keys.iter().find(|k| k.id == key.id) {
        Some(known) if known.same_material(&key) => Ok(()),
        Some(_) => Err(KeyringError::ConflictingKeyId { key_id: key.id }),
        None => {
            keys.push(key);
            Ok(())
        }
    }
}

/// The keys a stage of the secret holds, its current key id and its naming key.
type StageKeys = (String, Vec<PayloadKey>, Option<NamingKey>);

fn stage_keys(stage: &'static str, json: &str) -> Result<StageKeys, KeyringError> {
    let malformed = |why| KeyringError::Malformed { stage, why };
    let value: serde_json::Value = serde_json::from_str(json).map_err(|_| malformed("not JSON"))?;
    let bad_key = |e: CryptoError| match e {
        CryptoError::BadKey(why) => malformed(why),
        _ => malformed("unreadable key"),
    };
    if value.get("keys").is_some() {
        let ring: KeyringJson = serde_json::from_value(value)
            .map_err(|_| malformed("not {currentKeyId, keys: [{keyId, key}]} JSON"))?;
        let mut keys = Vec::new();
        for k in ring.keys {
            add_key(&mut keys, k.into_key().map_err(bad_key)?)?;
        }
        if !keys.iter().any(|k| k.id == ring.current_key_id) {
            return Err(KeyringError::CurrentKeyMissing(ring.current_key_id));
        }
        let naming = match ring.naming_key {
            Some(n) => {
                // A naming key is nobody's payload key: one key, one use.
                let naming = n.into_naming_key().map_err(bad_key)?;
                if keys.iter().any(|k| naming.same_material(k.key.expose())) {
                    return Err(malformed("namingKey must not be one of the payload keys"));
                }
                Some(naming)
            }
            None => None,
        };
        Ok((ring.current_key_id, keys, naming))
    } else {
        let key: KeyJson = serde_json::from_value(value)
            .map_err(|_| malformed("neither a keyring nor {keyId, key} JSON"))?;
        let key = key.into_key().map_err(bad_key)?;
        Ok((key.id.clone(), vec![key], None))
    }
}

impl Keyring {
    /// A keyring of known keys (tests, throw-away keys). Panics on a key id reused with other
    /// material: use [`Keyring::try_new`] for keys from outside.
    pub fn new(current: PayloadKey, retired: Vec<PayloadKey>) -> Self {
        Self::try_new(current, retired).expect("key ids are unique")
    }

    /// A keyring of the current and retired keys; refuses a key id reused with other material.
    pub fn try_new(current: PayloadKey, retired: Vec<PayloadKey>) -> Result<Self, KeyringError> {
        let mut keys = vec![current];
        for k in retired {
            add_key(&mut keys, k)?;
        }
        let current = keys.remove(0);
        Ok(Self {
            current,
            retired: keys,
            naming: None,
        })
    }

    /// The same keyring with `naming` as its naming key.
    pub fn with_naming_key(self, naming: NamingKey) -> Self {
        Self {
            naming: Some(naming),
            ..self
        }
    }

    /// The secret's `namingKey` (`None`: the secret has none).
    pub fn naming_key(&self) -> Option<&NamingKey> {
        self.naming.as_ref()
    }

    /// The cache of a provider's keyring secret: AWSCURRENT only, and AWSPREVIOUS too while
    /// AWSCURRENT is in the single-key form (see [`Keyring::from_staged`]).
    pub fn cached(
        source: std::sync::Arc<dyn crate::secrets::SecretSource>,
        name: impl Into<String>,
        ttl: std::time::Duration,
    ) -> crate::secrets::Cached<Keyring> {
        crate::secrets::Cached::new(source, name, ttl, Keyring::from_staged)
            .previous_when(Keyring::needs_previous)
    }

    /// True when AWSCURRENT's value is the single-key form `{"keyId","key"}` of earlier
    /// releases: the only form whose keyring also needs AWSPREVIOUS (so only then is
    /// AWSPREVIOUS fetched at all). An unreadable value is parsed (and refused) without it.
    pub fn needs_previous(current_json: &str) -> bool {
        serde_json::from_str::<serde_json::Value>(current_json)
            .is_ok_and(|v| v.is_object() && v.get("keys").is_none())
    }

    /// The keyring from the payload-key secret's stages.
    ///
    /// AWSCURRENT is either the keyring form `{"currentKeyId", "keys": [{"keyId", "key"}...]}`
    /// or the single-key form `{"keyId", "key"}` of earlier releases.
    /// - Keyring form: its `keys` are the whole keyring; AWSPREVIOUS is ignored. So a key
    ///   removed with one `put-secret-value` (a compromised one) opens nothing from the next
    ///   cache refresh, although AWSPREVIOUS still holds it (issue 21).
    /// - Single-key form: AWSPREVIOUS (either form) adds its keys as retired, so a single-key
    ///   rotation keeps working; an unreadable AWSPREVIOUS is skipped (after the first
    ///   `put-secret-value` it is the stack's placeholder).
    ///
    /// A key id present twice with different material (in one stage, or across both in the
    /// single-key form) refuses the whole keyring: better a cold start that fails loudly than
    /// values sealed under a key that can no longer be told apart.
    pub fn from_staged(staged: &crate::secrets::StagedSecret) -> Result<Self, KeyringError> {
        let (current_id, mut keys, naming) = stage_keys("AWSCURRENT", staged.current.expose())?;
        let previous = staged
            .previous
            .as_ref()
            .filter(|_| Self::needs_previous(staged.current.expose()));
        if let Some(previous) = previous {
            match stage_keys("AWSPREVIOUS", previous.expose()) {
                Ok((_, previous, _)) => {
                    for k in previous {
                        add_key(&mut keys, k)?;
                    }
                }
                Err(conflict @ KeyringError::ConflictingKeyId { .. }) => return Err(conflict),
                Err(_) => {}
            }
        }
        let at = keys
            .iter()
            .position(|k| k.id == current_id)
            .expect("stage_keys returns its current key");
        let current = keys.remove(at);
        Ok(Self {
            current,
            retired: keys,
            naming,
        })
    }

    /// The id of the key new values are sealed under.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Every key id this keyring opens, current first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(&self.current)
            .chain(&self.retired)
            .map(|k| k.id.as_str())
    }

    /// Seals under the current key, as `v2`.
    pub fn seal(&self, aad: &Aad, plaintext: &[u8]) -> String {
        self.seal_as("v2", &aad.v2_bytes(), plaintext)
    }

    /// `<version>.<key id>.<nonce>.<ciphertext>` under the current key with `aad_bytes`.
    fn seal_as(&self, version: &str, aad_bytes: &[u8], plaintext: &[u8]) -> String {
        // ThreadRng is a CSPRNG seeded from the OS: random nonces without a syscall per message.
        let mut nonce = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
        let ciphertext = self.current.encrypt(nonce, aad_bytes, plaintext);
        let id = &self.current.id;
        let mut out = String::with_capacity(
            version.len() + id.len() + 3 + 16 + ciphertext.len().div_ceil(3) * 4,
        );
        for part in [version, ".", id, "."] {
            out.push_str(part);
        }
        URL_SAFE_NO_PAD.encode_string(nonce, &mut out);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&ciphertext, &mut out);
        out
    }

    /// Seals a secret's value (see [`Keyring::seal`]).
    pub fn seal_secret(&self, aad: &Aad, secret: &Secret) -> String {
        self.seal(aad, secret.expose().as_bytes())
    }

    /// Opens a `v2` value with its binding, a `v1` value with its legacy associated data.
    pub fn open(&self, aad: &Aad, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let parsed = parse(sealed)?;
        let key = std::iter::once(&self.current)
            .chain(&self.retired)
            .find(|k| k.id == parsed.header.key_id)
            .ok_or_else(|| CryptoError::UnknownKey {
                key_id: parsed.header.key_id.to_string(),
            })?;
        let nonce: [u8; 12] = URL_SAFE_NO_PAD
            .decode(parsed.nonce)
            .map_err(|_| CryptoError::Malformed)?
            .try_into()
            .map_err(|_| CryptoError::Malformed)?;
        let ct = URL_SAFE_NO_PAD
            .decode(parsed.ciphertext)
            .map_err(|_| CryptoError::Malformed)?;
        let (v1, v2);
        let aad_bytes: &[u8] = match parsed.header.version {
            SealVersion::V1 => {
                v1 = aad.legacy_text();
                v1.as_bytes()
            }
            SealVersion::V2 => {
                v2 = aad.v2_bytes();
                &v2
            }
        };
        key.decrypt(nonce, aad_bytes, ct)
    }

    /// What releases before issue 10 wrote (`v1`, legacy associated data). Production code
    /// never calls it: it builds pre-migration data for tests and the local demo of `kyc reseal`.
    #[doc(hidden)]
    pub fn seal_v1_legacy(&self, aad: &Aad, plaintext: &[u8]) -> String {
        self.seal_as("v1", aad.legacy_text().as_bytes(), plaintext)
    }

    /// True when `sealed` is already what [`Keyring::seal`] writes today (`v2`, current key).
    pub fn is_current(&self, sealed: &str) -> bool {
        sealed_header(sealed)
            .is_some_and(|h| h.version == SealVersion::V2 && h.key_id == self.current.id)
    }

    /// `sealed` opened and sealed again under the current key as `v2`; `None` when it already
    /// is. The binding stays the same (same item, field and customer).
    pub fn reseal(&self, aad: &Aad, sealed: &str) -> Result<Option<String>, CryptoError> {
        if self.is_current(sealed) {
            return Ok(None);
        }
        let plain = Secret::new(self.open(aad, sealed)?);
        Ok(Some(self.seal(aad, plain.expose())))
    }
}

/// The `<version>.<keyId>` a sealed text is counted under (`malformed` if it is not one).
pub fn usage_label(sealed: &str) -> String {
    sealed_header(sealed)
        .map(|h| format!("{}.{}", h.version.as_str(), h.key_id))
        .unwrap_or_else(|| "malformed".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::StagedSecret;

    fn key(id: &str, byte: u8) -> PayloadKey {
        PayloadKey::new(id, [byte; 32]).unwrap()
    }

    fn ring(id: &str, byte: u8) -> Keyring {
        Keyring::new(key(id, byte), vec![])
    }

    fn body(event: &str, customer: &str) -> Aad {
        Aad::new("xpollens", event, "body", Some(customer))
    }

    fn key_json(id: &str, byte: u8) -> String {
        format!(
            r#"{{"keyId":"{id}","key":"{}"}}"#,
            STANDARD.encode([byte; 32])
        )
    }

    mod same_bytes_as_rustcrypto {
        //! Values sealed by earlier releases were written by RustCrypto's aes-gcm-siv: the
        //! implementation now in use must produce and open exactly the same bytes.
        use super::super::PayloadKey;
        use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn sealing_and_opening_agree_with_aes_gcm_siv(
                key in any::<[u8; 32]>(),
                nonce in any::<[u8; 12]>(),
                aad in proptest::collection::vec(any::<u8>(), 0..64),
                plaintext in proptest::collection::vec(any::<u8>(), 0..2048),
            ) {
                let ours = PayloadKey::new("k1", key).unwrap();
                let reference = aes_gcm_siv::Aes256GcmSiv::new(&key.into());
                let theirs = reference
                    .encrypt(aes_gcm_siv::Nonce::from_slice(&nonce), Payload { msg: &plaintext, aad: &aad })
                    .unwrap();
                prop_assert_eq!(&ours.encrypt(nonce, &aad, &plaintext), &theirs);
                prop_assert_eq!(ours.decrypt(nonce, &aad, theirs.clone()).unwrap(), plaintext);
                // One flipped bit anywhere: refused.
                let mut forged = theirs;
                let at = forged.len() / 2;
                forged[at] ^= 1;
                prop_assert!(ours.decrypt(nonce, &aad, forged).is_err());
            }
        }

        #[test]
        fn a_64_kib_body_agrees_too() {
            let body: Vec<u8> = (0..65_382u32).map(|i| (i % 251) as u8).collect();
            let ours = PayloadKey::new("k1", [9; 32]).unwrap();
            let theirs = aes_gcm_siv::Aes256GcmSiv::new(&[9u8; 32].into())
                .encrypt(
                    aes_gcm_siv::Nonce::from_slice(&[3; 12]),
                    Payload {
                        msg: &body,
                        aad: b"binding",
                    },
                )
                .unwrap();
            assert_eq!(ours.encrypt([3; 12], b"binding", &body), theirs);
        }
    }

    fn staged(current: String, previous: Option<String>) -> StagedSecret {
        StagedSecret {
            current: Secret::new(current),
            previous: previous.map(Secret::new),
            current_since: None,
        }
    }

    #[test]
    fn round_trip_and_no_plaintext_in_output() {
        let k = ring("k1", 7);
        let aad = body("e1", "c1");
        let sealed = k.seal(&aad, b"activation-code-123");
        assert!(sealed.starts_with("v2.k1."));
        assert!(!sealed.contains("activation"));
        assert_eq!(k.open(&aad, &sealed).unwrap(), b"activation-code-123");
        assert_ne!(
            sealed,
            k.seal(&aad, b"activation-code-123"),
            "nonce must be fresh"
        );
    }

    #[test]
    fn wrong_context_wrong_key_and_tampering_fail() {
        let k = ring("k1", 7);
        let a = body("a", "c1");
        let sealed = k.seal(&a, b"x");
        assert_eq!(k.open(&body("b", "c1"), &sealed), Err(CryptoError::Open));
        assert_eq!(
            ring("k2", 7).open(&a, &sealed),
            Err(CryptoError::UnknownKey {
                key_id: "k1".into()
            })
        );
        assert_eq!(ring("k1", 8).open(&a, &sealed), Err(CryptoError::Open));
        let mut t = sealed.clone();
        t.pop();
        t.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(k.open(&a, &t).is_err());
        assert_eq!(k.open(&a, "v3.k1.x.y"), Err(CryptoError::Malformed));
        assert_eq!(k.open(&a, "v2.k1.x"), Err(CryptoError::Malformed));
    }

    #[test]
    fn a_v2_value_copied_to_another_customer_or_field_or_item_does_not_open() {
        let k = ring("k1", 7);
        let sealed = k.seal(&Aad::new("gopay", "p1", "refresh/3", Some("alice")), b"tok");
        for elsewhere in [
            Aad::new("gopay", "p1", "refresh/3", Some("bob")),
            Aad::new("gopay", "p1", "refresh/3", None),
            Aad::new("gopay", "p1", "access/3", Some("alice")),
            Aad::new("gopay", "p2", "refresh/3", Some("alice")),
            Aad::new("xpollens", "p1", "refresh/3", Some("alice")),
        ] {
            assert_eq!(
                k.open(&elsewhere, &sealed),
                Err(CryptoError::Open),
                "{elsewhere:?}"
            );
        }
        // Length prefixes: moving a separator between parts is another binding.
        let a = k.seal(&Aad::new("gopay", "a/b", "c", Some("d")), b"x");
        assert_eq!(
            k.open(&Aad::new("gopay", "a", "b/c", Some("d")), &a),
            Err(CryptoError::Open)
        );
        assert_eq!(
            k.open(
                &Aad::new("gopay", "p1", "refresh/3", Some("alice")),
                &sealed
            )
            .unwrap(),
            b"tok"
        );
    }

    #[test]
    fn v1_values_open_with_their_legacy_associated_data_until_resealed() {
        let k = ring("k1", 7);
        let aad = Aad::new("trust_sign", "s3:ev", "archive-key", Some("c1"));
        let v1 = k.seal_v1_legacy(&aad, b"incoming/a.zip");
        assert!(v1.starts_with("v1.k1."));
        // Exactly the text earlier releases bound v1 values to.
        assert_eq!(
            Keyring::new(key("k1", 7), vec![])
                .open(
                    &aad.clone().with_legacy("trust_sign/s3:ev/archive-key"),
                    &v1
                )
                .unwrap(),
            b"incoming/a.zip"
        );
        assert_eq!(
            k.open(&aad.clone().with_legacy("trust_sign/s3:ev/other"), &v1),
            Err(CryptoError::Open)
        );
        let v2 = k.reseal(&aad, &v1).unwrap().expect("v1 is resealed");
        assert!(v2.starts_with("v2.k1."));
        assert_eq!(k.open(&aad, &v2).unwrap(), b"incoming/a.zip");
        assert_eq!(k.reseal(&aad, &v2).unwrap(), None, "already current");
    }

    #[test]
    fn rotation_across_three_keys_keeps_every_value_open() {
        let k1 = ring("k1", 1);
        let aad = body("e", "c");
        let under_k1 = k1.seal(&aad, b"one");
        let v1_under_k1 = k1.seal_v1_legacy(&aad, b"legacy");
        let k2 = Keyring::new(key("k2", 2), vec![key("k1", 1)]);
        let under_k2 = k2.seal(&aad, b"two");
        let k3 = Keyring::new(key("k3", 3), vec![key("k2", 2), key("k1", 1)]);
        let under_k3 = k3.seal(&aad, b"three");
        assert!(under_k3.starts_with("v2.k3."));
        for (sealed, plain) in [
            (&under_k1, &b"one"[..]),
            (&v1_under_k1, b"legacy"),
            (&under_k2, b"two"),
            (&under_k3, b"three"),
        ] {
            assert_eq!(k3.open(&aad, sealed).unwrap(), plain);
        }
        assert_eq!(k3.key_ids().collect::<Vec<_>>(), ["k3", "k2", "k1"]);
        // Resealing moves a k1 value to k3; k1 can then be retired.
        let moved = k3.reseal(&aad, &under_k1).unwrap().unwrap();
        assert!(k3.is_current(&moved));
        assert_eq!(
            Keyring::new(key("k3", 3), vec![])
                .open(&aad, &moved)
                .unwrap(),
            b"one"
        );
    }

    #[test]
    fn keyring_secret_holds_every_retired_key_and_accepts_the_single_key_form() {
        let ring_json = format!(
            r#"{{"currentKeyId":"k3","keys":[{},{},{}]}}"#,
            key_json("k1", 1),
            key_json("k2", 2),
            key_json("k3", 3)
        );
        let ring = Keyring::from_staged(&staged(ring_json.clone(), None)).unwrap();
        assert_eq!(ring.current_key_id(), "k3");
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["k3", "k1", "k2"]);
        let old = Keyring::new(key("k1", 1), vec![]).seal(&body("e", "c"), b"x");
        assert_eq!(ring.open(&body("e", "c"), &old).unwrap(), b"x");

        // Legacy single key + AWSPREVIOUS, as before.
        let legacy =
            Keyring::from_staged(&staged(key_json("k2", 2), Some(key_json("k1", 1)))).unwrap();
        assert_eq!(legacy.current_key_id(), "k2");
        assert_eq!(legacy.open(&body("e", "c"), &old).unwrap(), b"x");

        // A keyring migrated from a single key lists the old key itself: AWSPREVIOUS is not read.
        let migrated = format!(
            r#"{{"currentKeyId":"k2","keys":[{},{}]}}"#,
            key_json("k2", 2),
            key_json("k1", 1)
        );
        let m = Keyring::from_staged(&staged(migrated, Some(key_json("k1", 1)))).unwrap();
        assert_eq!(m.key_ids().collect::<Vec<_>>(), ["k2", "k1"]);
    }

    /// Issue 21: a key removed from AWSCURRENT's keyring (a compromised one) opens nothing at
    /// once, although AWSPREVIOUS (the keyring before the removal) still holds it.
    #[test]
    fn a_key_removed_from_the_keyring_opens_nothing_whatever_awsprevious_holds() {
        let under_k1 = Keyring::new(key("k1", 1), vec![]).seal(&body("e", "c"), b"x");
        let before = format!(
            r#"{{"currentKeyId":"k2","keys":[{},{}]}}"#,
            key_json("k2", 2),
            key_json("k1", 1)
        );
        let after = format!(r#"{{"currentKeyId":"k2","keys":[{}]}}"#, key_json("k2", 2));
        let ring = Keyring::from_staged(&staged(after, Some(before))).unwrap();
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["k2"]);
        let refused = ring.open(&body("e", "c"), &under_k1).unwrap_err();
        assert_eq!(
            refused,
            CryptoError::UnknownKey {
                key_id: "k1".into()
            }
        );
        assert_eq!(
            refused.to_string(),
            "sealed under key id \"k1\", which is not in the keyring (removed, or never added): restore that key to open it"
        );
        // Only the legacy single-key form still reads AWSPREVIOUS.
        assert!(Keyring::needs_previous(&key_json("k2", 2)));
        assert!(!Keyring::needs_previous(&format!(
            r#"{{"currentKeyId":"k2","keys":[{}]}}"#,
            key_json("k2", 2)
        )));
    }

    /// HMAC-SHA256 written out from RFC 2104, as the reference of `NamingKey::name`.
    fn reference_hmac(key: &[u8; 32], message: &[u8]) -> String {
        use sha2::{Digest, Sha256};
        let pad = |byte: u8| {
            let mut block = [byte; 64];
            for (b, k) in block.iter_mut().zip(key) {
                *b ^= k;
            }
            block
        };
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(message)
            .finalize();
        hex::encode(
            Sha256::new()
                .chain_update(pad(0x5c))
                .chain_update(inner)
                .finalize(),
        )
    }

    /// Issue 21: derived names are keyed (HMAC-SHA256 under the naming key, whose id is in
    /// the name), not an unsalted digest a list of likely names reverses; the naming key lives
    /// in the keyring secret and stays the same when the payload keys rotate.
    #[test]
    fn a_keyring_secret_holds_a_naming_key_for_keyed_names_untouched_by_payload_rotations() {
        let naming_json = |id: &str, byte: u8| key_json(id, byte);
        let before = format!(
            r#"{{"currentKeyId":"k1","keys":[{}],"namingKey":{}}}"#,
            key_json("k1", 1),
            naming_json("n1", 9)
        );
        let rotated = format!(
            r#"{{"currentKeyId":"k2","keys":[{},{}],"namingKey":{}}}"#,
            key_json("k2", 2),
            key_json("k1", 1),
            naming_json("n1", 9)
        );
        let a = Keyring::from_staged(&staged(before, None)).unwrap();
        let b = Keyring::from_staged(&staged(rotated, None)).unwrap();
        let name = a
            .naming_key()
            .unwrap()
            .name("quarantine", "dossier jean_dupont.zip");
        assert_eq!(
            name,
            format!(
                "n1.{}",
                reference_hmac(&[9; 32], b"quarantine\0dossier jean_dupont.zip")
            )
        );
        assert_eq!(
            b.naming_key()
                .unwrap()
                .name("quarantine", "dossier jean_dupont.zip"),
            name,
            "a payload-key rotation renames nothing"
        );
        use sha2::{Digest, Sha256};
        let unsalted = hex::encode(Sha256::digest(b"dossier jean_dupont.zip"));
        assert!(!name.contains(&unsalted));
        assert_ne!(
            NamingKey::new("n1", [8; 32])
                .unwrap()
                .name("quarantine", "dossier jean_dupont.zip"),
            name,
            "another key, another name"
        );
        assert_ne!(
            a.naming_key()
                .unwrap()
                .name("other", "dossier jean_dupont.zip"),
            name
        );
        assert!(!format!("{a:?}").contains("9, 9"));
        // Optional; never one of the payload keys; refused when malformed.
        assert!(Keyring::from_staged(&staged(key_json("k1", 1), None))
            .unwrap()
            .naming_key()
            .is_none());
        let reused = format!(
            r#"{{"currentKeyId":"k1","keys":[{}],"namingKey":{}}}"#,
            key_json("k1", 1),
            naming_json("n1", 1)
        );
        assert_eq!(
            Keyring::from_staged(&staged(reused, None)).unwrap_err(),
            KeyringError::Malformed {
                stage: "AWSCURRENT",
                why: "namingKey must not be one of the payload keys"
            }
        );
        let short = format!(
            r#"{{"currentKeyId":"k1","keys":[{}],"namingKey":{{"keyId":"n1","key":"AAAA"}}}}"#,
            key_json("k1", 1)
        );
        assert!(Keyring::from_staged(&staged(short, None)).is_err());
    }

    #[test]
    fn a_reused_key_id_with_other_material_is_refused_without_key_bytes_in_the_error() {
        let twice = format!(
            r#"{{"currentKeyId":"k2","keys":[{},{},{}]}}"#,
            key_json("k1", 1),
            key_json("k2", 2),
            key_json("k1", 9)
        );
        let err = Keyring::from_staged(&staged(twice, None)).unwrap_err();
        assert_eq!(
            err,
            KeyringError::ConflictingKeyId {
                key_id: "k1".into()
            }
        );
        let text = err.to_string();
        for material in [STANDARD.encode([1u8; 32]), STANDARD.encode([9u8; 32])] {
            assert!(!text.contains(&material), "{text}");
        }
        // Across stages too: AWSPREVIOUS with the current id and other material.
        assert_eq!(
            Keyring::from_staged(&staged(key_json("k1", 1), Some(key_json("k1", 2)))).unwrap_err(),
            KeyringError::ConflictingKeyId {
                key_id: "k1".into()
            }
        );
        // The same key listed twice is harmless.
        let dup = format!(
            r#"{{"currentKeyId":"k1","keys":[{},{}]}}"#,
            key_json("k1", 1),
            key_json("k1", 1)
        );
        assert!(Keyring::from_staged(&staged(dup, None)).is_ok());
        assert!(Keyring::try_new(key("k1", 1), vec![key("k1", 2)]).is_err());
    }

    #[test]
    fn malformed_keyrings_are_refused_precisely() {
        let no_current = format!(r#"{{"currentKeyId":"k9","keys":[{}]}}"#, key_json("k1", 1));
        assert_eq!(
            Keyring::from_staged(&staged(no_current, None)).unwrap_err(),
            KeyringError::CurrentKeyMissing("k9".into())
        );
        assert!(matches!(
            Keyring::from_staged(&staged("nope".into(), None)).unwrap_err(),
            KeyringError::Malformed {
                stage: "AWSCURRENT",
                ..
            }
        ));
        // The stack's placeholders as AWSPREVIOUS (the first put-secret-value): skipped.
        for placeholder in [
            r#"{"keyId":"unset","key":""}"#,
            r#"{"currentKeyId":"unset","keys":[]}"#,
        ] {
            let ring =
                Keyring::from_staged(&staged(key_json("k1", 1), Some(placeholder.into()))).unwrap();
            assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["k1"]);
        }
        // ...but as AWSCURRENT they are refused (the function answers 5xx until the key is set).
        assert_eq!(
            Keyring::from_staged(&staged(
                r#"{"currentKeyId":"unset","keys":[]}"#.into(),
                None
            ))
            .unwrap_err(),
            KeyringError::CurrentKeyMissing("unset".into())
        );
        assert!(matches!(
            Keyring::from_staged(&staged(r#"{"keyId":"a","key":"AAAA"}"#.into(), None))
                .unwrap_err(),
            KeyringError::Malformed {
                why: "key must be 32 bytes",
                ..
            }
        ));
    }

    #[test]
    fn one_providers_keyring_cannot_open_another_providers_values() {
        let xpollens = Keyring::new(key("xp-1", 1), vec![]);
        let gopay = Keyring::new(key("gp-1", 2), vec![]);
        let token = Aad::new("gopay", "p1", "refresh/1", Some("c"));
        let sealed = gopay.seal(&token, b"refresh-token");
        assert_eq!(
            xpollens.open(&token, &sealed),
            Err(CryptoError::UnknownKey {
                key_id: "gp-1".into()
            })
        );
        // Even a provider keyring given the same id and material (a mistake) cannot open it
        // as its own value: the provider is part of the binding.
        let same_material = Keyring::new(key("gp-1", 2), vec![]);
        assert_eq!(
            same_material.open(&Aad::new("xpollens", "p1", "refresh/1", Some("c")), &sealed),
            Err(CryptoError::Open)
        );
    }

    #[test]
    fn key_json_is_validated_and_debug_redacts() {
        let k = PayloadKey::from_secret_json(&key_json("2026-11", 9)).unwrap();
        assert_eq!(k.id(), "2026-11");
        assert!(!format!("{k:?}").contains('9'));
        assert!(PayloadKey::from_secret_json(r#"{"keyId":"a","key":"AAAA"}"#).is_err());
        assert!(PayloadKey::from_secret_json("nope").is_err());
        assert!(!format!("{:?}", body("e", "alice")).contains("alice"));
    }

    #[test]
    fn headers_and_usage_labels() {
        let k = ring("k1", 1);
        let v2 = k.seal(&body("e", "c"), b"x");
        assert_eq!(
            sealed_header(&v2),
            Some(SealedHeader {
                version: SealVersion::V2,
                key_id: "k1"
            })
        );
        assert_eq!(usage_label(&v2), "v2.k1");
        assert_eq!(usage_label("garbage"), "malformed");
    }
}
