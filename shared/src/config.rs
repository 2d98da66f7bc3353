//! What a process reads from its environment, once, at start-up.
//!
//! Endpoint, region and credentials are left to the AWS SDK's own standard configuration
//! (`AWS_ENDPOINT_URL[_DYNAMODB]`, `AWS_REGION`, the credentials chain): no home-made variables
//! for what the SDK already reads.

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{Credentials, Region, SharedHttpClient};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use crate::store::dynamodb::DEFAULT_ID_BLOCK_SIZE;
use crate::store::{DynamoStore, MemoryStore, UserStore};

/// Names of the variables read here, for documentation and tests.
pub const USERS_TABLE: &str = "USERS_TABLE";
pub const USER_ID_BLOCK_SIZE: &str = "USER_ID_BLOCK_SIZE";

/// A setting that is present but unusable: the process refuses to start rather than guess.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    variable: &'static str,
    problem: String,
}

/// Which backend holds the users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// Users live in this process only: local development and tests.
    Memory,
    /// Users live in a DynamoDB table: every deployed function, and `local-api` when asked.
    DynamoDb { table: String, id_block_size: u64 },
}

impl StoreConfig {
    /// DynamoDB when `USERS_TABLE` is set and not empty, in-memory otherwise.
    pub fn from_env() -> Result<Self, ConfigError> {
        let Some(table) = std::env::var(USERS_TABLE)
            .ok()
            .filter(|t| !t.trim().is_empty())
        else {
            return Ok(StoreConfig::Memory);
        };
        let id_block_size = match std::env::var(USER_ID_BLOCK_SIZE) {
            Err(_) => DEFAULT_ID_BLOCK_SIZE,
            Ok(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| ConfigError {
                    variable: USER_ID_BLOCK_SIZE,
                    problem: format!("{raw:?} is not an integer from 1 to 10000"),
                })?,
        };
        Ok(StoreConfig::DynamoDb {
            table: table.trim().to_owned(),
            id_block_size,
        })
    }

    /// A short name for logs and health output.
    pub fn backend_name(&self) -> &'static str {
        match self {
            StoreConfig::Memory => "memory",
            StoreConfig::DynamoDb { .. } => "dynamodb",
        }
    }

    /// Builds the store. Called once per process: the SDK client and its connection pool are
    /// reused by every request the process serves.
    pub async fn build(&self) -> Arc<dyn UserStore> {
        match self {
            StoreConfig::Memory => Arc::new(MemoryStore::new()),
            StoreConfig::DynamoDb {
                table,
                id_block_size,
            } => Arc::new(DynamoStore::new(
                dynamodb_client().await,
                table,
                *id_block_size,
            )),
        }
    }
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

/// The DynamoDB client every process shares.
///
/// TLS is rustls on *ring* rather than the SDK's default aws-lc: smaller binaries and a faster
/// build, with the same protocol support for DynamoDB endpoints. The standard retry mode (three
/// attempts, exponential backoff with jitter) absorbs throttling bursts; attempts are capped at
/// 2 s and the whole call at 5 s, far inside a Lambda's timeout, so a hung connection becomes a
/// 503 instead of a timed-out invocation.
pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if endpoint_is_loopback() {
        // A local DynamoDB-compatible server ignores region and credentials, but the SDK still
        // needs both, and would otherwise look for them on the EC2 metadata service (slow, and
        // absent on a laptop). Explicit settings still win.
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
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&sdk_config)
}
