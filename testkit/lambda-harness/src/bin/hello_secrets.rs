//! Hello world that also sends, during init, the one Secrets Manager call the functions send
//! (`BatchGetSecretValue` of the names in `HELLO_SECRET_IDS`, comma-separated) through the same
//! SDK config, and keeps nothing of the answer. A reference for `coldstart-bench`: what one
//! SDK call costs a process at cold start (client, first request's preparation, a new
//! connection, the answer's parsing) beyond the round trip the proxy sees.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let ids = std::env::var("HELLO_SECRET_IDS")?;
    let config = kyc_aws::load_config().await;
    let secrets = kyc_aws::aws_sdk_secretsmanager::Client::new(&config);
    let read = secrets
        .batch_get_secret_value()
        .set_secret_id_list(Some(ids.split(',').map(str::to_string).collect()))
        .send()
        .await?;
    if read.secret_values().is_empty() {
        return Err("no secret value in the answer".into());
    }
    let ddb = kyc_aws::aws_sdk_dynamodb::Client::new(&config);
    lambda_harness::serve_hello(ddb).await
}
