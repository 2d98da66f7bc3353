//! The client half of the users API: a typed client ([`UsersClient`]) that implements the very
//! [`Users`](shared::users::Users) trait the service implements in process, and the `users` CLI
//! over it.
//!
//! What Go-kit's profilesvc client did with Consul, a load balancer, `Retry(3, 3s)` and Hystrix, in
//! the shape a serverless API needs:
//! - [`discovery`]: endpoints from a list or from a CloudFormation stack's `ApiUrl` output.
//! - balancing ([`client`]): round robin over the endpoints whose circuit is closed (or due a
//!   probe), each endpoint with its own breaker: the server's [`CircuitBreaker`], not a second one.
//! - [`policy`]: which failures may be retried for which requests, and how long to wait.
//! - [`signing`]: SigV4 for `execute-api`, credentials from the standard AWS chain.
//! - a bulkhead: at most N calls in flight per client; the excess waits up to its deadline.
//! - [`bulk`]: bulk jobs at the concurrency the API sustains (AIMD), unavailable items retried.
//!
//! Depends on the domain crate without its `aws` feature: a program using this client compiles
//! no AWS service SDK but CloudFormation's (for discovery) and no lambda_http.
//!
//! [`CircuitBreaker`]: shared::middleware::breaker::CircuitBreaker

pub mod bulk;
pub mod client;
pub mod discovery;
pub mod policy;
pub mod signing;
mod wire;

pub use client::{ClientConfig, EndpointStats, UsersClient};

/// The standard AWS configuration (region and credentials chain: environment, profiles, SSO, web
/// identity, container and instance roles), loaded once, for signing and stack discovery. TLS is
/// rustls on *ring* trusting the operating system's certificate store, as a command-line tool
/// should (a company proxy's authority included).
pub async fn aws_config() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build_https(),
        )
        .load()
        .await
}
pub use shared::domain::Precondition;
pub use shared::users::{
    CreateUser, ErrorKind, UserPage, UserRecord, UserUpdate, Users, UsersError,
};
