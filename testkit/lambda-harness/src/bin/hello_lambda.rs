//! Hello world on lambda_http, built like the functions (same SDK config and DynamoDB client in
//! init, same release profile): the cold-start baseline of `coldstart-bench`.

use lambda_http::{run, service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = kyc_aws::load_config().await;
    let ddb = kyc_aws::aws_sdk_dynamodb::Client::new(&config);
    run(service_fn(|_request: Request| {
        // Holds the client as a function would; never calls it.
        let _client = &ddb;
        async move {
            Ok::<_, Error>(
                Response::builder()
                    .status(200)
                    .body(Body::Text("hello".into()))?,
            )
        }
    }))
    .await
}
