//! Counting the DynamoDB requests a piece of code makes (the benchmarks' "requests per ...").

use kyc_aws::aws_config::SdkConfig;
use kyc_aws::aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use kyc_aws::aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// An SDK interceptor counting every request sent.
#[derive(Debug, Default, Clone)]
pub struct CountCalls(pub Arc<AtomicUsize>);

impl CountCalls {
    /// Requests counted so far.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }
    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), kyc_aws::aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A DynamoDB client over `config` whose requests `counter` counts.
pub fn counted_dynamodb(
    config: &SdkConfig,
    counter: &CountCalls,
) -> kyc_aws::aws_sdk_dynamodb::Client {
    kyc_aws::aws_sdk_dynamodb::Client::from_conf(
        kyc_aws::aws_sdk_dynamodb::config::Builder::from(config)
            .interceptor(counter.clone())
            .build(),
    )
}
