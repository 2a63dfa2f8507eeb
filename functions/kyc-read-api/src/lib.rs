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
