//! Which authentication the Xpollens callback route uses, and the function's own check of what
//! API Gateway attests. Xpollens agrees one mode per environment: HTTP Basic (checked by the
//! function against the credential secret, [`crate::auth`]), OAuth2 client credentials
//! (API Gateway's JWT authorizer validates the token; the function requires the authorizer's
//! claims) or mutual TLS (API Gateway validates the client certificate against the truststore;
//! the function requires the certificate it saw).
//!
//! Defence in depth: in the OAuth2 and mTLS modes a request that reaches the function without
//! the gateway's attestation (a route deployed without the authorizer, the default
//! `execute-api` endpoint left enabled next to the mTLS domain) is refused, never let through.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// What the template sets (`XPOLLENS_CALLBACK_AUTH_MODE` and its companions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackAuthMode {
    /// `Authorization: Basic` (or a static bearer) checked against the credential secret.
    Basic,
    /// The gateway authenticated the caller; the function checks the attestation.
    Gateway(GatewayRequirement),
}

/// What the gateway must have checked before the function runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayRequirement {
    /// An OAuth2 token, checked by the JWT authorizer.
    Jwt(JwtRequirement),
    /// A client certificate, checked by the mTLS domain.
    ClientCertificate(ClientCertificateRequirement),
}

/// The token the JWT authorizer validated must come from this issuer, be issued to this
/// client (Xpollens' app client) and carry this scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtRequirement {
    /// The token's issuer (`iss`).
    pub issuer: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// The scope the token must carry.
    pub scope: String,
}

/// The certificate the mTLS domain accepted must have this subject (and issuer, if set), as
/// API Gateway writes them (`subjectDN`, `issuerDN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificateRequirement {
    /// The certificate's subject DN, as API Gateway writes it.
    pub subject_dn: String,
    /// The certificate's issuer DN, when it is pinned too.
    pub issuer_dn: Option<String>,
}

/// What API Gateway's request context says about the caller, free of Lambda types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayAttestation {
    /// `requestContext.authorizer.jwt`: present only when a JWT authorizer ran.
    pub jwt: Option<JwtClaims>,
    /// `requestContext.authentication.clientCert`: present only on an mTLS domain.
    pub client_certificate: Option<ClientCertificate>,
    /// `requestContext.authorizer.iam`: present only when the IAM authorizer ran (SigV4 routes,
    /// [`crate::iam_route`]).
    pub iam: Option<crate::iam_route::IamCaller>,
}

/// The claims of the token the JWT authorizer validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtClaims {
    /// HTTP APIs hand every claim over as a string.
    pub claims: BTreeMap<String, String>,
    /// The token's scopes.
    pub scopes: Vec<String>,
}

/// The client certificate the mTLS domain accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCertificate {
    /// Its subject DN (`subjectDN`).
    pub subject_dn: String,
    /// Its issuer DN (`issuerDN`).
    pub issuer_dn: String,
}

/// Why the callback authentication settings are unusable (fails the cold start).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallbackAuthConfigError {
    /// The mode is not `basic`, `oauth2` or `mtls`.
    #[error("XPOLLENS_CALLBACK_AUTH_MODE must be basic, oauth2 or mtls, not {0:?}")]
    UnknownMode(String),
    /// A setting the mode needs is unset: the setting, then the mode.
    #[error("{0} must be set when XPOLLENS_CALLBACK_AUTH_MODE is {1}")]
    Missing(&'static str, &'static str),
}

/// Why the gateway's attestation was refused. Messages name no claim value or certificate
/// field: they are answered to the caller and logged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GatewayAuthError {
    /// No JWT authorizer ran on the route.
    #[error("no JWT authorizer result on the request")]
    NoAuthorizerClaims,
    /// The token's issuer is not the one required.
    #[error("token from another issuer")]
    WrongIssuer,
    /// The token was issued to another client.
    #[error("token issued to another client")]
    WrongClient,
    /// The token has expired, or carries no expiry.
    #[error("token expired or without expiry")]
    Expired,
    /// The token lacks the required scope.
    #[error("token lacks the required scope")]
    MissingScope,
    /// No client certificate came with the request.
    #[error("no client certificate on the request")]
    NoClientCertificate,
    /// The certificate's subject is not the one allowed.
    #[error("client certificate subject not allowed")]
    WrongSubject,
    /// The certificate's issuer is not the one allowed.
    #[error("client certificate issuer not allowed")]
    WrongCertificateIssuer,
}

impl GatewayAuthError {
    /// The HTTP status to answer: RFC 6750 uses 403 for a valid token lacking the scope and
    /// 401 for a missing or invalid one; a refused certificate is a 403 (there is no
    /// challenge to answer with).
    pub fn status(&self) -> u16 {
        match self {
            Self::NoAuthorizerClaims | Self::WrongIssuer | Self::WrongClient | Self::Expired => 401,
            Self::MissingScope
            | Self::NoClientCertificate
            | Self::WrongSubject
            | Self::WrongCertificateIssuer => 403,
        }
    }

    /// The request reached the function without what the gateway should have added: the
    /// deployment, not the caller, is wrong (logged as an error for the operator).
    pub fn is_gateway_misconfiguration(&self) -> bool {
        matches!(self, Self::NoAuthorizerClaims | Self::NoClientCertificate)
    }
}

impl CallbackAuthMode {
    /// Reads the mode from settings by name (the environment in the function; any lookup in
    /// tests). An unset mode is Basic (the template's default).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, CallbackAuthConfigError> {
        let value = |name: &'static str, mode: &'static str| {
            get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .ok_or(CallbackAuthConfigError::Missing(name, mode))
        };
        let mode = get("XPOLLENS_CALLBACK_AUTH_MODE").unwrap_or_default();
        match mode.trim().to_ascii_lowercase().as_str() {
            "" | "basic" => Ok(Self::Basic),
            "oauth2" => Ok(Self::Gateway(GatewayRequirement::Jwt(JwtRequirement {
                issuer: value("XPOLLENS_CALLBACK_OAUTH2_ISSUER", "oauth2")?,
                client_id: value("XPOLLENS_CALLBACK_OAUTH2_CLIENT_ID", "oauth2")?,
                scope: value("XPOLLENS_CALLBACK_OAUTH2_SCOPE", "oauth2")?,
            }))),
            "mtls" => Ok(Self::Gateway(GatewayRequirement::ClientCertificate(
                ClientCertificateRequirement {
                    subject_dn: value("XPOLLENS_CALLBACK_MTLS_SUBJECT_DN", "mtls")?,
                    issuer_dn: get("XPOLLENS_CALLBACK_MTLS_ISSUER_DN")
                        .map(|v| v.trim().to_string())
                        .filter(|v| !v.is_empty()),
                },
            ))),
            _ => Err(CallbackAuthConfigError::UnknownMode(mode)),
        }
    }

    /// [`Self::from_lookup`] over the process environment.
    pub fn from_env() -> Result<Self, CallbackAuthConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

impl GatewayRequirement {
    /// Checks what the gateway attests against the requirement, at `now` (token expiry).
    pub fn check(
        &self,
        attestation: &GatewayAttestation,
        now: DateTime<Utc>,
    ) -> Result<(), GatewayAuthError> {
        match self {
            Self::Jwt(required) => required.check(attestation.jwt.as_ref(), now),
            Self::ClientCertificate(required) => {
                required.check(attestation.client_certificate.as_ref())
            }
        }
    }

    /// `WWW-Authenticate` for a refusal (OAuth2 only: mTLS has no HTTP challenge).
    pub fn challenge(&self, error: &GatewayAuthError) -> Option<String> {
        match self {
            Self::Jwt(_) => Some(match error {
                GatewayAuthError::MissingScope => {
                    r#"Bearer realm="kyc-hooks", error="insufficient_scope""#.to_string()
                }
                _ => r#"Bearer realm="kyc-hooks", error="invalid_token""#.to_string(),
            }),
            Self::ClientCertificate(_) => None,
        }
    }
}

impl JwtRequirement {
    fn check(&self, jwt: Option<&JwtClaims>, now: DateTime<Utc>) -> Result<(), GatewayAuthError> {
        let jwt = jwt.ok_or(GatewayAuthError::NoAuthorizerClaims)?;
        let claim = |name: &str| jwt.claims.get(name).map(String::as_str);
        if claim("iss").map(|i| i.trim_end_matches('/')) != Some(self.issuer.trim_end_matches('/'))
        {
            return Err(GatewayAuthError::WrongIssuer);
        }
        // Cognito access tokens name the app client in `client_id` (they have no `aud`);
        // other issuers put it in `aud`, which HTTP APIs flatten to "[a b]" when it is a list.
        let audience = claim("aud")
            .map(|a| a.trim_matches(|c| c == '[' || c == ']'))
            .into_iter()
            .flat_map(|a| a.split([' ', ',']));
        let issued_to_client = claim("client_id") == Some(self.client_id.as_str())
            || audience.clone().any(|a| a == self.client_id);
        if !issued_to_client {
            return Err(GatewayAuthError::WrongClient);
        }
        let expires = claim("exp").and_then(|e| e.parse::<i64>().ok());
        if expires.is_none_or(|exp| exp <= now.timestamp()) {
            return Err(GatewayAuthError::Expired);
        }
        let in_claim = claim("scope")
            .into_iter()
            .flat_map(str::split_whitespace)
            .any(|s| s == self.scope);
        if !(in_claim || jwt.scopes.iter().any(|s| s == &self.scope)) {
            return Err(GatewayAuthError::MissingScope);
        }
        Ok(())
    }
}

impl ClientCertificateRequirement {
    fn check(&self, cert: Option<&ClientCertificate>) -> Result<(), GatewayAuthError> {
        let cert = cert.ok_or(GatewayAuthError::NoClientCertificate)?;
        if normalise_dn(&cert.subject_dn) != normalise_dn(&self.subject_dn) {
            return Err(GatewayAuthError::WrongSubject);
        }
        if let Some(issuer) = &self.issuer_dn {
            if normalise_dn(&cert.issuer_dn) != normalise_dn(issuer) {
                return Err(GatewayAuthError::WrongCertificateIssuer);
            }
        }
        Ok(())
    }
}

/// A DN as a list of trimmed `attribute=value` parts: `CN=a, O=b` and `CN=a,O=b` are the same
/// name; attribute types compare case-insensitively, values exactly.
fn normalise_dn(dn: &str) -> Vec<(String, String)> {
    dn.split(',')
        .map(|part| match part.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_uppercase(), v.trim().to_string()),
            None => (String::new(), part.trim().to_string()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 12, 9, 20, 0).unwrap()
    }

    const ISSUER: &str = "https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_Abc123";

    fn jwt_requirement() -> GatewayRequirement {
        GatewayRequirement::Jwt(JwtRequirement {
            issuer: ISSUER.into(),
            client_id: "xpollens-client".into(),
            scope: "kyc-hooks/callbacks".into(),
        })
    }

    fn claims(pairs: &[(&str, &str)]) -> GatewayAttestation {
        GatewayAttestation {
            jwt: Some(JwtClaims {
                claims: pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                scopes: vec![],
            }),
            ..Default::default()
        }
    }

    fn good_claims() -> Vec<(&'static str, &'static str)> {
        vec![
            ("iss", ISSUER),
            ("client_id", "xpollens-client"),
            ("token_use", "access"),
            ("scope", "kyc-hooks/other kyc-hooks/callbacks"),
            ("exp", "1794475500"), // 5 minutes after now()
        ]
    }

    fn with(change: (&'static str, &'static str)) -> GatewayAttestation {
        let mut c = good_claims();
        c.retain(|(k, _)| *k != change.0);
        if !change.1.is_empty() {
            c.push(change);
        }
        claims(&c)
    }

    #[test]
    fn a_token_of_the_configured_client_with_the_scope_passes() {
        assert_eq!(
            jwt_requirement().check(&claims(&good_claims()), now()),
            Ok(())
        );
        // `aud` as other issuers send it, flattened by API Gateway.
        let mut c = good_claims();
        c.retain(|(k, _)| *k != "client_id");
        c.push(("aud", "[other xpollens-client]"));
        assert_eq!(jwt_requirement().check(&claims(&c), now()), Ok(()));
    }

    #[test]
    fn a_token_failing_any_claim_is_refused() {
        let r = jwt_requirement();
        let refused = |a: GatewayAttestation| r.check(&a, now()).unwrap_err();
        assert_eq!(
            refused(GatewayAttestation::default()),
            GatewayAuthError::NoAuthorizerClaims
        );
        assert_eq!(
            refused(with(("iss", "https://evil.example"))),
            GatewayAuthError::WrongIssuer
        );
        assert_eq!(
            refused(with(("client_id", "someone-else"))),
            GatewayAuthError::WrongClient
        );
        assert_eq!(refused(with(("exp", ""))), GatewayAuthError::Expired);
        assert_eq!(
            refused(with(("exp", "1794475200"))),
            GatewayAuthError::Expired
        );
        // A scope that only starts like the required one is not it.
        assert_eq!(
            refused(with(("scope", "kyc-hooks/callbacks-read"))),
            GatewayAuthError::MissingScope
        );
        assert_eq!(refused(with(("scope", ""))), GatewayAuthError::MissingScope);
        assert_eq!(GatewayAuthError::MissingScope.status(), 403);
        assert_eq!(GatewayAuthError::WrongClient.status(), 401);
        assert!(r
            .challenge(&GatewayAuthError::MissingScope)
            .unwrap()
            .contains("insufficient_scope"));
    }

    #[test]
    fn the_authorizer_scope_list_counts_too() {
        let mut a = with(("scope", ""));
        a.jwt.as_mut().unwrap().scopes = vec!["kyc-hooks/callbacks".into()];
        assert_eq!(jwt_requirement().check(&a, now()), Ok(()));
    }

    fn cert_requirement(issuer: Option<&str>) -> GatewayRequirement {
        GatewayRequirement::ClientCertificate(ClientCertificateRequirement {
            subject_dn: "CN=webhooks.xpollens.com,O=Xpollens,C=FR".into(),
            issuer_dn: issuer.map(str::to_string),
        })
    }

    fn cert(subject: &str, issuer: &str) -> GatewayAttestation {
        GatewayAttestation {
            client_certificate: Some(ClientCertificate {
                subject_dn: subject.into(),
                issuer_dn: issuer.into(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_client_certificate_must_carry_the_configured_subject_and_issuer() {
        let r = cert_requirement(Some("CN=Xpollens CA,O=Xpollens,C=FR"));
        assert_eq!(
            r.check(
                &cert(
                    "cn=webhooks.xpollens.com, O=Xpollens, C=FR",
                    "CN=Xpollens CA,O=Xpollens,C=FR"
                ),
                now()
            ),
            Ok(())
        );
        assert_eq!(
            r.check(&GatewayAttestation::default(), now()),
            Err(GatewayAuthError::NoClientCertificate)
        );
        assert_eq!(
            r.check(
                &cert(
                    "CN=webhooks.xpollens.com.evil,O=Xpollens,C=FR",
                    "CN=Xpollens CA,O=Xpollens,C=FR"
                ),
                now()
            ),
            Err(GatewayAuthError::WrongSubject)
        );
        // Values compare exactly (only attribute names ignore case).
        assert_eq!(
            r.check(
                &cert(
                    "CN=WEBHOOKS.xpollens.com,O=Xpollens,C=FR",
                    "CN=Xpollens CA,O=Xpollens,C=FR"
                ),
                now()
            ),
            Err(GatewayAuthError::WrongSubject)
        );
        assert_eq!(
            r.check(
                &cert("CN=webhooks.xpollens.com,O=Xpollens,C=FR", "CN=Other CA"),
                now()
            ),
            Err(GatewayAuthError::WrongCertificateIssuer)
        );
        // Without an issuer requirement, the truststore alone decides the issuer.
        assert_eq!(
            cert_requirement(None).check(
                &cert("CN=webhooks.xpollens.com,O=Xpollens,C=FR", "CN=Other CA"),
                now()
            ),
            Ok(())
        );
        // A JWT does not stand in for a certificate.
        assert_eq!(
            r.check(&claims(&good_claims()), now()),
            Err(GatewayAuthError::NoClientCertificate)
        );
    }

    #[test]
    fn settings_name_the_mode_and_its_requirements() {
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            CallbackAuthMode::from_lookup(lookup(&[])),
            Ok(CallbackAuthMode::Basic)
        );
        assert_eq!(
            CallbackAuthMode::from_lookup(lookup(&[("XPOLLENS_CALLBACK_AUTH_MODE", "Basic")])),
            Ok(CallbackAuthMode::Basic)
        );
        assert_eq!(
            CallbackAuthMode::from_lookup(lookup(&[
                ("XPOLLENS_CALLBACK_AUTH_MODE", "oauth2"),
                ("XPOLLENS_CALLBACK_OAUTH2_ISSUER", ISSUER),
                ("XPOLLENS_CALLBACK_OAUTH2_CLIENT_ID", "xpollens-client"),
                ("XPOLLENS_CALLBACK_OAUTH2_SCOPE", "kyc-hooks/callbacks"),
            ])),
            Ok(CallbackAuthMode::Gateway(jwt_requirement()))
        );
        // A mode without what it needs is a configuration error, not a silent Basic.
        assert_eq!(
            CallbackAuthMode::from_lookup(lookup(&[
                ("XPOLLENS_CALLBACK_AUTH_MODE", "oauth2"),
                ("XPOLLENS_CALLBACK_OAUTH2_ISSUER", ISSUER),
                ("XPOLLENS_CALLBACK_OAUTH2_SCOPE", "kyc-hooks/callbacks"),
            ])),
            Err(CallbackAuthConfigError::Missing(
                "XPOLLENS_CALLBACK_OAUTH2_CLIENT_ID",
                "oauth2"
            ))
        );
        assert_eq!(
            CallbackAuthMode::from_lookup(lookup(&[
                ("XPOLLENS_CALLBACK_AUTH_MODE", "mtls"),
                ("XPOLLENS_CALLBACK_MTLS_SUBJECT_DN", " "),
            ])),
            Err(CallbackAuthConfigError::Missing(
                "XPOLLENS_CALLBACK_MTLS_SUBJECT_DN",
                "mtls"
            ))
        );
        assert_eq!(
            CallbackAuthMode::from_lookup(lookup(&[
                ("XPOLLENS_CALLBACK_AUTH_MODE", "mtls"),
                (
                    "XPOLLENS_CALLBACK_MTLS_SUBJECT_DN",
                    "CN=webhooks.xpollens.com,O=Xpollens,C=FR"
                ),
                ("XPOLLENS_CALLBACK_MTLS_ISSUER_DN", ""),
            ])),
            Ok(CallbackAuthMode::Gateway(cert_requirement(None)))
        );
        assert_eq!(
            CallbackAuthMode::from_lookup(lookup(&[("XPOLLENS_CALLBACK_AUTH_MODE", "hmac")])),
            Err(CallbackAuthConfigError::UnknownMode("hmac".into()))
        );
    }
}
