//! Authentication of incoming provider calls: HTTP Basic (RFC 7617) or a static bearer token,
//! as agreed with the provider. Several credentials are valid at once (Secrets Manager's
//! AWSCURRENT and AWSPREVIOUS) so a rotation needs no downtime. Comparisons run in constant
//! time over SHA-256 digests, and every credential is checked, so timing reveals neither a
//! prefix nor which credential matched.

use crate::redact::Secret;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// A provider's credential for our endpoint, from its secret.
#[derive(Clone, Debug)]
pub enum Credential {
    /// HTTP Basic: a user name and a password.
    Basic {
        /// The user name (never contains `:`).
        username: Secret,
        /// The password.
        password: Secret,
    },
    /// A bearer token.
    Bearer {
        /// The token.
        token: Secret,
    },
}

#[derive(Deserialize)]
#[serde(tag = "scheme", rename_all = "lowercase")]
enum CredentialJson {
    Basic { username: String, password: String },
    Bearer { token: String },
}

/// Why a credential or an `Authorization` header was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// The credential secret is not one of the two accepted shapes.
    #[error("credential secret must be {{\"scheme\":\"basic\",\"username\",\"password\"}} or {{\"scheme\":\"bearer\",\"token\"}}")]
    BadSecret,
    /// The request has no `Authorization` header.
    #[error("missing Authorization header")]
    Missing,
    /// The header does not match the credential.
    #[error("invalid credentials")]
    Invalid,
}

impl Credential {
    /// Parses the secret `{"scheme":"basic",...}` or `{"scheme":"bearer",...}` (no blank value).
    pub fn from_secret_json(json: &str) -> Result<Self, AuthError> {
        match serde_json::from_str(json).map_err(|_| AuthError::BadSecret)? {
            CredentialJson::Basic { username, password }
                if !username.is_empty() && !password.is_empty() && !username.contains(':') =>
            {
                Ok(Credential::Basic {
                    username: Secret::new(username),
                    password: Secret::new(password),
                })
            }
            CredentialJson::Bearer { token } if token.len() >= 16 => Ok(Credential::Bearer {
                token: Secret::new(token),
            }),
            _ => Err(AuthError::BadSecret),
        }
    }
}

fn digest(s: &[u8]) -> [u8; 32] {
    Sha256::digest(s).into()
}

/// The credentials accepted right now, kept as SHA-256 digests computed once (not per
/// request): comparing digests in constant time hides lengths and prefixes.
#[derive(Clone)]
pub struct CredentialSet {
    accepted: Vec<(Expected, Option<DateTime<Utc>>)>,
    /// The previous credential's grace period, for a set read from a rotated secret.
    previous_grace: Option<Duration>,
}

#[derive(Clone)]
enum Expected {
    Basic {
        username: [u8; 32],
        password: [u8; 32],
    },
    Bearer {
        token: [u8; 32],
    },
}

impl std::fmt::Debug for CredentialSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CredentialSet({} credentials, redacted)",
            self.accepted.len()
        )
    }
}

fn expected(c: &Credential) -> Expected {
    match c {
        Credential::Basic { username, password } => Expected::Basic {
            username: digest(username.expose().as_bytes()),
            password: digest(password.expose().as_bytes()),
        },
        Credential::Bearer { token } => Expected::Bearer {
            token: digest(token.expose().as_bytes()),
        },
    }
}

/// How long the previous credential stays valid after a rotation, by default.
pub const DEFAULT_PREVIOUS_GRACE_HOURS: i64 = 24;

impl CredentialSet {
    /// Credentials valid with no end.
    pub fn new(credentials: Vec<Credential>) -> Self {
        Self {
            accepted: credentials.iter().map(|c| (expected(c), None)).collect(),
            previous_grace: None,
        }
    }

    /// The current stage of the credential secret, and the previous one only for `grace`
    /// after the rotation (the current version's creation): the sender has that long to move
    /// to the new credential, and a leaked credential dies with one rotation. An unknown
    /// rotation time gives the previous credential no grace. A malformed previous stage is
    /// ignored (it is being replaced), a malformed current one is an error. Read from
    /// AWSCURRENT alone (no `previous`), the set holds the current credential only: see
    /// [`Self::previous_may_apply`].
    pub fn from_staged_with_grace(
        staged: &crate::secrets::StagedSecret,
        grace: Duration,
    ) -> Result<Self, AuthError> {
        let current = Credential::from_secret_json(staged.current.expose())?;
        let mut set = vec![(expected(&current), None)];
        let previous = staged
            .previous
            .as_ref()
            .and_then(|p| Credential::from_secret_json(p.expose()).ok());
        if let (Some(prev), Some(since)) = (previous, staged.current_since) {
            set.push((expected(&prev), Some(since + grace)));
        }
        Ok(Self {
            accepted: set,
            previous_grace: Some(grace),
        })
    }

    /// Whether a presented credential that matched nothing could be the previous one within
    /// its grace period, so AWSPREVIOUS is worth reading: a grace period is configured. (When
    /// it ends is known only from the current version's creation time, which only a
    /// `GetSecretValue` of AWSCURRENT documents; the batch read at cold start does not.)
    pub fn previous_may_apply(&self) -> bool {
        self.previous_grace.is_some_and(|g| g > Duration::zero())
    }

    /// [`Self::from_staged_with_grace`] with the default grace period.
    pub fn from_staged(staged: &crate::secrets::StagedSecret) -> Result<Self, AuthError> {
        Self::from_staged_with_grace(staged, Duration::hours(DEFAULT_PREVIOUS_GRACE_HOURS))
    }

    /// Checks an `Authorization` header value now.
    pub fn authorize(&self, header: Option<&str>) -> Result<(), AuthError> {
        self.authorize_at(header, Utc::now())
    }

    /// Checks an `Authorization` header value against the credentials valid at `now`.
    pub fn authorize_at(&self, header: Option<&str>, now: DateTime<Utc>) -> Result<(), AuthError> {
        let valid = |until: &Option<DateTime<Utc>>| until.is_none_or(|u| now < u);
        let header = header
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or(AuthError::Missing)?;
        let (scheme, value) = header.split_once(' ').ok_or(AuthError::Invalid)?;
        let value = value.trim();
        let mut ok = Choice::from(0);
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = STANDARD.decode(value).map_err(|_| AuthError::Invalid)?;
            let (user, pass) = match decoded.iter().position(|&b| b == b':') {
                Some(i) => (&decoded[..i], &decoded[i + 1..]),
                None => return Err(AuthError::Invalid),
            };
            let (user, pass) = (digest(user), digest(pass));
            for (e, until) in &self.accepted {
                if let Expected::Basic { username, password } = e {
                    let matched = username.ct_eq(&user) & password.ct_eq(&pass);
                    ok |= matched & Choice::from(u8::from(valid(until)));
                }
            }
        } else if scheme.eq_ignore_ascii_case("bearer") {
            let presented = digest(value.as_bytes());
            for (e, until) in &self.accepted {
                if let Expected::Bearer { token } = e {
                    ok |= token.ct_eq(&presented) & Choice::from(u8::from(valid(until)));
                }
            }
        }
        if bool::from(ok) {
            Ok(())
        } else {
            Err(AuthError::Invalid)
        }
    }

    /// `WWW-Authenticate` challenges for the schemes configured.
    pub fn challenges(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self
            .accepted
            .iter()
            .any(|(c, _)| matches!(c, Expected::Basic { .. }))
        {
            out.push(r#"Basic realm="kyc-hooks", charset="UTF-8""#);
        }
        if self
            .accepted
            .iter()
            .any(|(c, _)| matches!(c, Expected::Bearer { .. }))
        {
            out.push(r#"Bearer realm="kyc-hooks""#);
        }
        if out.is_empty() {
            out.push(r#"Basic realm="kyc-hooks", charset="UTF-8""#);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> CredentialSet {
        CredentialSet::new(vec![
            Credential::from_secret_json(
                r#"{"scheme":"basic","username":"xpollens","password":"new-pass"}"#,
            )
            .unwrap(),
            Credential::from_secret_json(
                r#"{"scheme":"basic","username":"xpollens","password":"old-pass"}"#,
            )
            .unwrap(),
            Credential::from_secret_json(r#"{"scheme":"bearer","token":"0123456789abcdef-token"}"#)
                .unwrap(),
        ])
    }

    fn basic(u: &str, p: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{u}:{p}")))
    }

    #[test]
    fn both_rotation_stages_and_bearer_are_accepted() {
        let s = set();
        assert_eq!(s.authorize(Some(&basic("xpollens", "new-pass"))), Ok(()));
        assert_eq!(s.authorize(Some(&basic("xpollens", "old-pass"))), Ok(()));
        assert_eq!(s.authorize(Some("bearer 0123456789abcdef-token")), Ok(()));
    }

    #[test]
    fn wrong_or_missing_credentials_are_refused() {
        let s = set();
        assert_eq!(s.authorize(None), Err(AuthError::Missing));
        assert_eq!(
            s.authorize(Some(&basic("xpollens", "new-pas"))),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            s.authorize(Some(&basic("other", "new-pass"))),
            Err(AuthError::Invalid)
        );
        assert_eq!(s.authorize(Some("Basic !!!")), Err(AuthError::Invalid));
        assert_eq!(
            s.authorize(Some("Bearer 0123456789abcdef")),
            Err(AuthError::Invalid)
        );
        assert_eq!(s.authorize(Some("Digest abc")), Err(AuthError::Invalid));
        // A password containing ':' is split at the first colon, as RFC 7617 says.
        let colon = CredentialSet::new(vec![Credential::Basic {
            username: Secret::new("u".into()),
            password: Secret::new("a:b".into()),
        }]);
        assert_eq!(colon.authorize(Some(&basic("u", "a:b"))), Ok(()));
    }

    #[test]
    fn the_previous_credential_lives_only_for_the_grace_period() {
        use crate::secrets::StagedSecret;
        use chrono::TimeZone;
        let rotated = Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap();
        let staged = |since: Option<DateTime<Utc>>| StagedSecret {
            current: Secret::new(
                r#"{"scheme":"basic","username":"xpollens","password":"new-pass"}"#.into(),
            ),
            previous: Some(Secret::new(
                r#"{"scheme":"basic","username":"xpollens","password":"old-pass"}"#.into(),
            )),
            current_since: since,
        };
        let set =
            CredentialSet::from_staged_with_grace(&staged(Some(rotated)), Duration::hours(24))
                .unwrap();
        let old = basic("xpollens", "old-pass");
        let new = basic("xpollens", "new-pass");
        let later = |h: i64, s: i64| rotated + Duration::hours(h) + Duration::seconds(s);
        assert_eq!(set.authorize_at(Some(&old), later(23, 3599)), Ok(()));
        assert_eq!(
            set.authorize_at(Some(&old), later(24, 0)),
            Err(AuthError::Invalid)
        );
        assert_eq!(set.authorize_at(Some(&new), later(24 * 365, 0)), Ok(()));
        // Rotation time unknown: no grace at all.
        let unknown = CredentialSet::from_staged(&staged(None)).unwrap();
        assert_eq!(
            unknown.authorize_at(Some(&old), rotated),
            Err(AuthError::Invalid)
        );
        assert_eq!(unknown.authorize_at(Some(&new), rotated), Ok(()));
    }

    #[test]
    fn secrets_are_validated() {
        assert!(Credential::from_secret_json(r#"{"scheme":"bearer","token":"short"}"#).is_err());
        assert!(Credential::from_secret_json(
            r#"{"scheme":"basic","username":"a:b","password":"x"}"#
        )
        .is_err());
        assert!(Credential::from_secret_json("{}").is_err());
        assert_eq!(set().challenges().len(), 2);
    }
}
