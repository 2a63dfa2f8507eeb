//! Wiring of the read API Lambda (`GET /customers/{id}/kyc`, `.../kyc/history`): the table
//! from the environment, and the conversion between API Gateway requests and the shared
//! handler's plain types (`kyc_downstream::read_api` holds the rules).

use kyc_aws::DynamoStore;
use kyc_core::http::lambda;
use kyc_core::legacy_keys::LegacyKeyLayout;
use kyc_downstream::aws::history_pages::DynamoHistoryPages;
use kyc_downstream::read_api::ReadApi;
use lambda_http::{Body, Request, Response};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    /// Whether the table still holds items of the key layout before provider-scoped keys.
    pub legacy_keys: LegacyKeyLayout,
}

impl Settings {
    pub fn from_env(env: &kyc_core::config::Env) -> Result<Self, kyc_core::config::SettingsError> {
        Ok(Self {
            table: env.required("TABLE_NAME")?,
            legacy_keys: LegacyKeyLayout::from_env(env)?,
        })
    }
}

pub fn build(settings: &Settings, config: &kyc_aws::aws_config::SdkConfig) -> ReadApi {
    let ddb = kyc_aws::aws_sdk_dynamodb::Client::new(config);
    ReadApi {
        store: Arc::new(
            DynamoStore::from_client(ddb.clone(), &settings.table)
                .with_legacy_layout(settings.legacy_keys),
        ),
        history: Arc::new(
            DynamoHistoryPages::new(ddb, &settings.table).with_legacy_layout(settings.legacy_keys),
        ),
    }
}

/// API Gateway request → read API → API Gateway response.
pub async fn handle(api: &ReadApi, request: Request) -> Result<Response<Body>, lambda_http::Error> {
    let answer = api.handle(&lambda::request(&request)).await;
    Ok(lambda::response(answer)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kyc_core::intake::MemoryStore;

    fn event(name: &str) -> Request {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events")
            .join(name);
        lambda_http::request::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// The sample events through the Lambda wiring: the one API Gateway's IAM authorizer
    /// attested gets past the check (404: the store knows no one), the other is refused.
    #[tokio::test]
    async fn the_sample_events_are_let_through_only_with_the_iam_attestation() {
        let store = Arc::new(MemoryStore::default());
        let api = ReadApi {
            store: store.clone(),
            history: store,
        };
        let attested = handle(&api, event("read-api-customer-kyc.json"))
            .await
            .unwrap();
        assert_eq!(attested.status(), 404);
        let bare = handle(&api, event("read-api-customer-kyc-without-iam.json"))
            .await
            .unwrap();
        assert_eq!(bare.status(), 403);
    }
}
