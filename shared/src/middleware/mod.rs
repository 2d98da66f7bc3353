//! Middleware: what Go-kit's logging, metrics and Hystrix middleware did, wrapped around the
//! service without touching it. [`GuardedStore`] decorates any backend with a timeout, a circuit
//! breaker and store-call metrics; request logging and metrics live in
//! [`observe`](crate::middleware::observe) and are applied by the transport's handler.

pub mod breaker;
mod guarded;
mod handles;
pub mod observe;

pub use guarded::{GuardedStore, ResilienceConfig, StoreTimeout};
