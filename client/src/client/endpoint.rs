//! One endpoint's bookkeeping: its breaker, the transitions it logged, the attempts it served.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use shared::middleware::breaker::{BreakerState, CircuitBreaker};

use super::ClientConfig;
use crate::discovery::BaseUrl;

pub(super) struct Endpoint {
    pub base: BaseUrl,
    pub sign: bool,
    pub breaker: CircuitBreaker,
    /// Counted by the breaker's transition callback.
    pub transitions: Arc<Transitions>,
    pub served: AtomicU64,
}

#[derive(Default)]
pub(super) struct Transitions {
    pub opened: AtomicU64,
    pub closed: AtomicU64,
}

impl Endpoint {
    /// An endpoint with a closed breaker that logs and counts its transitions under its URL.
    pub fn new(base: &BaseUrl, config: &ClientConfig, now: Instant) -> Self {
        let transitions = Arc::new(Transitions::default());
        let counts = transitions.clone();
        let label = base.to_string();
        let breaker = CircuitBreaker::new(config.breaker.clone(), now, move |state| match state {
            BreakerState::Open => {
                counts.opened.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(endpoint = %label, "endpoint circuit opened");
            }
            BreakerState::HalfOpen => {
                tracing::info!(endpoint = %label, "probing an endpoint whose circuit was open");
            }
            BreakerState::Closed => {
                counts.closed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(endpoint = %label, "endpoint circuit closed");
            }
        });
        Self {
            sign: config.signs(base),
            base: base.clone(),
            breaker,
            transitions,
            served: AtomicU64::new(0),
        }
    }
}

/// How an endpoint fared so far, for operators and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointStats {
    pub endpoint: String,
    pub state: BreakerState,
    /// Times its breaker opened, and closed again after a good probe.
    pub opened: u64,
    pub closed: u64,
    /// Attempts it answered (whatever the status).
    pub served: u64,
}
