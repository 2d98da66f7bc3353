//! The users domain, written once and shared by the Lambda functions and `local-api`.
//!
//! The layers follow Go-kit's service / endpoint / transport split, in idiomatic Rust:
//! - [`contract`]: the HTTP contract's codes, headers, paths and envelopes, for server and client.
//! - [`domain`]: the user, its rules, paging and preconditions: the types every layer shares.
//! - [`service`]: business rules (validation, normalisation, the operations). Knows nothing of HTTP.
//! - [`store`]: persistence behind small capability traits, with in-memory and DynamoDB backends.
//! - [`transport`]: the HTTP contract (routes, decoding, encoding, error mapping) on `http` types,
//!   exactly as lambda_http presents a request, so every runtime shares it.
//! - [`events`]: the table's stream as domain events on EventBridge (the `publish-events` function).
//! - [`lambda`]: the generic Lambda runners each function's `main` calls.
//! - [`users`]: the five operations as one trait, run in process here and over HTTP by `client/`.
//! - [`config`]: what a process reads from its environment, once, at start-up.
//! - [`bootstrap`]: the SDK client, store and middleware built from that configuration, once.

#[cfg(feature = "aws")]
pub mod bootstrap;
#[cfg(feature = "aws")]
pub mod config;
pub mod contract;
pub mod domain;
mod error_chain;
#[cfg(feature = "aws")]
pub mod events;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod middleware;
pub mod service;
pub mod store;
#[cfg(feature = "aws")]
pub mod telemetry;
#[cfg(test)]
mod test_metrics;
#[cfg(feature = "aws")]
pub mod transport;
pub mod users;

pub use error_chain::ErrorChain;
