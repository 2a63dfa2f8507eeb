//! reqwest adapter of [`GoPayTransport`]: rustls with the system roots, bounded timeouts, no
//! redirects followed (GoPay's API answers directly; a redirect would be a misconfiguration).

use std::time::Duration;

use async_trait::async_trait;

use crate::client::{GoPayTransport, HttpAnswer, TransportError};
use crate::tokens::FormBody;
use kyc_core::redact::{Personal, Secret};

/// The reqwest adapter of [`GoPayTransport`].
pub struct ReqwestTransport {
    client: reqwest::Client,
}

/// Largest answer read (a PDF is the biggest; GoPay's are well under this).
const MAX_BODY: usize = 20 * 1024 * 1024;

impl ReqwestTransport {
    /// A transport whose requests give up after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, kyc_core::http::ClientBuildError> {
        Ok(Self {
            client: kyc_core::http::client(timeout)?,
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<HttpAnswer, TransportError> {
        // `without_url`: error texts never carry a URL (no query, no id) into logs.
        let fail = |e: reqwest::Error| TransportError(e.without_url().to_string());
        let response = request.send().await.map_err(fail)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if response
            .content_length()
            .is_some_and(|l| l as usize > MAX_BODY)
        {
            return Err(TransportError("answer too large".into()));
        }
        let body = response.bytes().await.map_err(fail)?;
        if body.len() > MAX_BODY {
            return Err(TransportError("answer too large".into()));
        }
        Ok(HttpAnswer {
            status,
            body: body.to_vec(),
            content_type,
        })
    }
}

#[async_trait]
impl GoPayTransport for ReqwestTransport {
    async fn get(&self, url: &str, authorization: &Secret) -> Result<HttpAnswer, TransportError> {
        self.send(
            self.client
                .get(url)
                .header("authorization", authorization.expose())
                .header("accept", "application/json, application/pdf"),
        )
        .await
    }

    async fn post_form(&self, url: &str, body: &FormBody) -> Result<HttpAnswer, TransportError> {
        self.send(
            self.client
                .post(url)
                .header("content-type", body.content_type())
                .header("accept", "application/json")
                .body(body.expose().to_string()),
        )
        .await
    }

    async fn post_json(
        &self,
        url: &str,
        authorization: &Secret,
        body: &Personal<Vec<u8>>,
    ) -> Result<HttpAnswer, TransportError> {
        self.send(
            self.client
                .post(url)
                .header("authorization", authorization.expose())
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .body(body.expose().clone()),
        )
        .await
    }
}
