//! Middleware: what Go-kit's logging, metrics and Hystrix middleware did, wrapped around the
//! service without touching it. [`GuardedStore`] decorates any backend with a timeout, a circuit
//! breaker and store-call metrics; [`observe::RequestObserver`] logs and counts every request
//! around the transport's handler. Neither knows anything of the transport.

pub mod breaker;
mod guarded;
#[cfg(feature = "aws")]
pub mod observe;

pub use guarded::{GuardedStore, ResilienceConfig, StoreTimeout};
