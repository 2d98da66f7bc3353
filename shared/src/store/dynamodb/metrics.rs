//! DynamoDB-level metrics: attempts per call (so retries show) and throttling.

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};

/// Counts every HTTP attempt the SDK makes. With `store_calls_total` this gives the retry rate:
/// attempts beyond one per call are the SDK's retries.
#[derive(Debug)]
pub struct AttemptMetrics;

impl Intercept for AttemptMetrics {
    fn name(&self) -> &'static str {
        "AttemptMetrics"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        metrics::counter!("dynamodb_attempts_total").increment(1);
        Ok(())
    }
}
