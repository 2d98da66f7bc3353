//! Middleware: what Go-kit's logging, metrics and Hystrix middleware did, wrapped around the
//! layers without touching them, at two heights:
//! - [`GuardedStore`] decorates any store (a [`StoreLayer`](crate::store::StoreLayer)) with a
//!   timeout, a circuit breaker and store-call metrics; the service above it sees only a store.
//! - [`observe::RequestObserver`] logs and counts every request around the transport's handler.
//!   It knows `http` requests and responses, not lambda_http or hyper: each runtime's edge (the
//!   Lambda runner, `local-api`) composes it with the API.

pub mod breaker;
mod guarded;
#[cfg(feature = "aws")]
pub mod observe;

pub use guarded::{GuardedStore, ResilienceConfig, StoreTimeout};
