//! Hello world on lambda_http, built like the functions (same SDK config and DynamoDB client in
//! init, same release profile): the cold-start baseline of `coldstart-bench`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = kyc_aws::load_config().await;
    let ddb = kyc_aws::aws_sdk_dynamodb::Client::new(&config);
    lambda_harness::serve_hello(ddb).await
}
