//! reqwest adapter of [`ApiTransport`]: rustls with the system roots, bounded timeouts, no
//! redirects followed (a redirect of a token or queue call would be a misconfiguration, and
//! following it could carry the bearer token elsewhere), bounded answer size.

use std::time::Duration;

use async_trait::async_trait;

use crate::api::{ApiTransport, HttpAnswer, TransportError};
use crate::queue::MAX_PAGE_BYTES;
use kyc_core::redact::Secret;

pub struct ReqwestApiTransport {
    client: reqwest::Client,
}

impl ReqwestApiTransport {
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

#[async_trait]
impl ApiTransport for ReqwestApiTransport {
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
