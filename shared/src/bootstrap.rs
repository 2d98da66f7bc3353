//! Wiring, once per process: the SDK client, the store backend and the middleware around it, from
//! a parsed [`Config`]. Parsing the environment is [`crate::config`]'s job; this module only builds.

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{Credentials, Region, SharedHttpClient};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use crate::config::{Config, StoreConfig};
use crate::middleware::GuardedStore;
use crate::store::{Backend, DynamoStore, MemoryStore};

/// The store every binary serves from: the configured backend behind the resilience middleware.
pub type Store = GuardedStore<Backend>;

/// The store every request of this process uses: the configured backend behind the
/// resilience middleware. Built once per process.
pub async fn store(config: &Config) -> Arc<Store> {
    let backend = match &config.store {
        StoreConfig::Memory => Backend::Memory(MemoryStore::new()),
        StoreConfig::DynamoDb {
            table,
            id_block_size,
        } => Backend::DynamoDb(DynamoStore::new(
            dynamodb_client(config).await,
            table,
            *id_block_size,
        )),
    };
    Arc::new(GuardedStore::new(
        Arc::new(backend),
        config.resilience.clone(),
    ))
}

/// The DynamoDB client for this configuration.
///
/// TLS is rustls on *ring* rather than the SDK's default aws-lc: smaller binaries and a faster
/// build, with the same protocol support for DynamoDB endpoints. Retries use the SDK's
/// standard mode (exponential backoff with full jitter, bounded attempts, a retry quota shared
/// by the process); adaptive mode's client-side rate limiting needs a long-lived, busy client
/// to learn a rate, which a Lambda instance serving one request at a time is not. The whole
/// call, retries included, is bounded by the store timeout, each attempt by its share of it.
pub async fn dynamodb_client(config: &Config) -> aws_sdk_dynamodb::Client {
    let attempts = config.dynamodb_max_attempts;
    let total = config.resilience.store_timeout;
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if endpoint_is_loopback() {
        // A local DynamoDB-compatible server ignores region and credentials, but the SDK
        // still needs both, and would otherwise look for them on the EC2 metadata service
        // (slow, and absent on a laptop). Explicit settings still win.
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            loader = loader.region(Region::from_static("us-east-1"));
        }
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
            && std::env::var_os("AWS_PROFILE").is_none()
        {
            loader = loader.credentials_provider(Credentials::new(
                "local",
                "local",
                None,
                None,
                "local-endpoint",
            ));
        }
    }
    let sdk_config = loader
        .http_client(http_client())
        .retry_config(RetryConfig::standard().with_max_attempts(attempts))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1).min(total))
                .operation_attempt_timeout(total / attempts)
                .operation_timeout(total)
                .build(),
        )
        .load()
        .await;
    let client_config = aws_sdk_dynamodb::config::Builder::from(&sdk_config)
        .interceptor(crate::store::dynamodb::AttemptMetrics)
        .build();
    aws_sdk_dynamodb::Client::from_conf(client_config)
}

/// Whether the SDK's endpoint override (`AWS_ENDPOINT_URL_DYNAMODB`, else `AWS_ENDPOINT_URL`)
/// points at this machine.
fn endpoint_is_loopback() -> bool {
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").or_else(|_| std::env::var("AWS_ENDPOINT_URL"));
    let Ok(endpoint) = endpoint else { return false };
    let Ok(uri) = endpoint.parse::<http::Uri>() else {
        return false;
    };
    match uri.host() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// The HTTP client under the SDK: rustls with the *ring* provider, system trust roots.
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}
