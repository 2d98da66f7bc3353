//! The generic Lambda runner: every function's `main` is one call to [`run`].

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{Request, service_fn};

use crate::bootstrap::{self, Store};
use crate::config::Config;
use crate::middleware::observe;
use crate::telemetry::{self, LogFormat};
use crate::transport::Api;

/// Builds logging, metrics and the store once per process, then serves the API that `endpoint`
/// makes of the store (`Api::get_user`, ...) until the Lambda runtime stops the process.
///
/// Metrics go out as CloudWatch Embedded Metric Format lines on stdout, flushed after every
/// invocation (so a frozen instance never holds unsent figures), with the function name as a
/// dimension and a `cold_start` metric on the first invocation.
pub async fn run(endpoint: fn(Arc<Store>) -> Api) -> Result<(), lambda_http::Error> {
    telemetry::init(LogFormat::from_env());
    let config = Config::from_env().inspect_err(|error| {
        tracing::error!(%error, "invalid configuration: the function does not start");
    })?;
    // The recorder goes in first: the store and the API register their metric handles with it
    // when they are built.
    let function =
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "users-api".to_owned());
    let mut metrics = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(config.metrics_namespace.clone())
        .with_dimension("function", function);
    for (name, value) in &config.metrics_dimensions {
        metrics = metrics.with_dimension(name.clone(), value.clone());
    }
    let metrics = metrics
        .lambda_cold_start_metric("cold_start")
        .with_lambda_request_id("request_id")
        .init()?;
    observe::describe_metrics();
    let api =
        endpoint(bootstrap::store(&config).await).with_idempotency_ttl(config.idempotency_ttl);
    metrics_cloudwatch_embedded::lambda::service::run_http(
        metrics,
        service_fn(move |request: Request| {
            let api = api.clone();
            async move { Ok::<_, Infallible>(api.handle(request).await) }
        }),
    )
    .await
}
