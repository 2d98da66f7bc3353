//! The generic Lambda runner: every function's `main` is one call to [`run`].

use std::convert::Infallible;

use lambda_http::{Request, service_fn};

use crate::config::StoreConfig;
use crate::telemetry::{self, LogFormat};
use crate::transport::{Api, Operation};

/// Builds logging and the store once per process, then serves `operation` until the Lambda
/// runtime stops the process.
pub async fn run(operation: Operation) -> Result<(), lambda_http::Error> {
    telemetry::init(LogFormat::from_env());
    let config = StoreConfig::from_env()?;
    let api = Api::single(operation, config.build().await);
    lambda_http::run(service_fn(move |request: Request| {
        let api = api.clone();
        async move { Ok::<_, Infallible>(api.handle(request).await) }
    }))
    .await
}
