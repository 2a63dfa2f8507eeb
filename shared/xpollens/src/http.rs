//! reqwest adapter of [`ApiTransport`]: rustls with the system roots, bounded timeouts, no
//! redirects followed (a redirect of a token or queue call would be a misconfiguration, and
//! following it could carry the bearer token elsewhere), bounded answer size.

use std::time::Duration;

use async_trait::async_trait;

use crate::api::{ApiTransport, BoundedAnswer, HttpAnswer, TransportError};
use crate::queue::{Oversized, QueueAnswer, MAX_PAGE_BYTES, OVERSIZED_PREFIX_BYTES};
use kyc_core::redact::Secret;
use sha2::Digest;

/// The reqwest adapter of [`ApiTransport`].
pub struct ReqwestApiTransport {
    client: reqwest::Client,
}

impl ReqwestApiTransport {
    /// A transport whose requests give up after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, kyc_core::http::ClientBuildError> {
        Ok(Self {
            client: kyc_core::http::client(timeout)?,
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<HttpAnswer, TransportError> {
        // `without_url`: error texts never carry a URL into logs.
        let fail = |e: reqwest::Error| TransportError(e.without_url().to_string());
        let mut response = request.send().await.map_err(fail)?;
        let status = response.status().as_u16();
        if response
            .content_length()
            .is_some_and(|l| l as usize > MAX_PAGE_BYTES)
        {
            return Err(TransportError("answer too large".into()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(fail)? {
            if body.len() + chunk.len() > MAX_PAGE_BYTES {
                return Err(TransportError("answer too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpAnswer {
            status,
            body,
            content_type: None,
        })
    }
}

impl ReqwestApiTransport {
    /// Reads an answer up to `max_bytes`; past it, keeps reading through SHA-256 only (memory
    /// stays bounded) and answers its size, digest and first bytes. A connection that breaks
    /// (or times out) past the bound still answers what arrived, marked incomplete: a huge
    /// queue entry must never fail every run.
    async fn send_bounded(
        &self,
        request: reqwest::RequestBuilder,
        max_bytes: usize,
    ) -> Result<BoundedAnswer, TransportError> {
        let fail = |e: reqwest::Error| TransportError(e.without_url().to_string());
        let mut response = request.send().await.map_err(fail)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        let mut hashed: Option<(sha2::Sha256, u64)> = None;
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => match hashed {
                    Some((hasher, bytes)) => {
                        tracing::warn!(error = %e.without_url(), bytes, "xpollens api: oversized answer cut short; its digest covers what arrived");
                        return Ok(oversized(status, body, hasher, bytes, false));
                    }
                    None => return Err(fail(e)),
                },
            };
            match &mut hashed {
                Some((hasher, bytes)) => {
                    hasher.update(&chunk);
                    *bytes += chunk.len() as u64;
                }
                None if body.len() + chunk.len() > max_bytes => {
                    let mut hasher = sha2::Sha256::new();
                    hasher.update(&body);
                    hasher.update(&chunk);
                    let bytes = (body.len() + chunk.len()) as u64;
                    let keep = OVERSIZED_PREFIX_BYTES
                        .saturating_sub(body.len())
                        .min(chunk.len());
                    body.truncate(OVERSIZED_PREFIX_BYTES);
                    body.extend_from_slice(&chunk[..keep]);
                    body.shrink_to_fit();
                    hashed = Some((hasher, bytes));
                }
                None => body.extend_from_slice(&chunk),
            }
        }
        Ok(match hashed {
            Some((hasher, bytes)) => oversized(status, body, hasher, bytes, true),
            None => BoundedAnswer {
                status,
                body: QueueAnswer::Page(body),
            },
        })
    }
}

fn oversized(
    status: u16,
    prefix: Vec<u8>,
    hasher: sha2::Sha256,
    bytes: u64,
    complete: bool,
) -> BoundedAnswer {
    BoundedAnswer {
        status,
        body: QueueAnswer::TooLarge(Oversized {
            bytes,
            sha256: hex::encode(hasher.finalize()),
            complete,
            prefix,
        }),
    }
}

#[async_trait]
impl ApiTransport for ReqwestApiTransport {
    async fn get_bounded(
        &self,
        url: &str,
        authorization: &Secret,
        max_bytes: usize,
    ) -> Result<BoundedAnswer, TransportError> {
        self.send_bounded(
            self.client
                .get(url)
                .header("authorization", authorization.expose())
                .header("accept", "application/json"),
            max_bytes,
        )
        .await
    }

    async fn get(&self, url: &str, authorization: &Secret) -> Result<HttpAnswer, TransportError> {
        self.send(
            self.client
                .get(url)
                .header("authorization", authorization.expose())
                .header("accept", "application/json"),
        )
        .await
    }

    async fn post_form(
        &self,
        url: &str,
        authorization: Option<&Secret>,
        body: &Secret,
    ) -> Result<HttpAnswer, TransportError> {
        let mut request = self
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body.expose().clone());
        if let Some(a) = authorization {
            request = request.header("authorization", a.expose());
        }
        self.send(request).await
    }
}
