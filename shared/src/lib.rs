//! The users domain, written once and shared by the Lambda functions, `local-api` and the client.
//!
//! Go-kit's service / endpoint / transport split, in idiomatic Rust. Each layer imports only the
//! ones above it in this list, so there is no cycle:
//! - [`domain`]: the user, its rules, paging and preconditions: the types every layer shares.
//! - [`contract`]: the HTTP contract's codes, headers, paths, envelopes, ETags and cursors, for
//!   server and client alike (no HTTP stack).
//! - [`trace`]: which trace a request belongs to (W3C and X-Ray headers), for both sides.
//! - [`token`]: names that must never collide (write tokens, idempotency keys), from the OS.
//! - [`store`]: persistence behind one capability trait per operation, with in-memory and
//!   DynamoDB backends, and [`store::StoreLayer`] for decorators of every call.
//! - `service` (crate-private): the business rules of each operation. Knows nothing of HTTP.
//! - [`transport`]: routes, decoding, encoding and error mapping on lambda_http's request type,
//!   so every runtime shares it; one handler per operation holding only its store capability.
//! - [`middleware`]: the store decorated with a timeout, a breaker and metrics
//!   ([`middleware::GuardedStore`]); and the request observer the edges wrap the API with.
//! - [`users`]: the six operations as one trait, run in process here and over HTTP by `client/`.
//! - [`config`] and [`bootstrap`]: what a process reads from its environment and builds from it,
//!   once, at start-up.
//! - [`lambda`]: the edges: the Lambda runners each function's `main` calls, which compose the
//!   API with the observer (`local-api` is the other edge). `events` (crate-private) is the
//!   table stream's function behind [`lambda::run_events`].

#[cfg(feature = "aws")]
pub mod bootstrap;
#[cfg(feature = "aws")]
pub mod config;
pub mod contract;
pub mod domain;
mod error_chain;
#[cfg(feature = "aws")]
pub(crate) mod events;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod middleware;
#[cfg(feature = "otlp")]
pub mod otlp;
pub(crate) mod service;
pub mod store;
#[cfg(feature = "aws")]
pub mod telemetry;
#[cfg(test)]
mod test_metrics;
pub mod token;
pub mod trace;
#[cfg(feature = "aws")]
pub mod transport;
pub mod users;

pub use error_chain::ErrorChain;
