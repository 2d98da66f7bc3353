//! What a client is built from.

use std::time::Duration;

use shared::middleware::breaker::BreakerConfig;

use crate::discovery::BaseUrl;
use crate::policy::RetryPolicy;

/// Everything a client is built from.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub endpoints: Vec<BaseUrl>,
    /// `Some(true)`/`Some(false)` forces signing on or off; `None` signs API Gateway URLs only.
    pub sign: Option<bool>,
    pub retry: RetryPolicy,
    /// Per endpoint: Hystrix' error ratio, minimum volume and sleep window, plus a run of failures.
    pub breaker: BreakerConfig,
    /// Calls in flight at once (Hystrix' `MaxConcurrentRequests`).
    pub max_in_flight: usize,
    pub connect_timeout: Duration,
    /// One attempt, from sending to the whole answer.
    pub attempt_timeout: Duration,
}

impl ClientConfig {
    pub fn new(endpoints: Vec<BaseUrl>) -> Self {
        Self {
            endpoints,
            sign: None,
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
            max_in_flight: 100,
            connect_timeout: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(2),
        }
    }

    /// Whether requests to `endpoint` are signed: as `sign` says, else only API Gateway URLs.
    pub fn signs(&self, endpoint: &BaseUrl) -> bool {
        self.sign.unwrap_or_else(|| endpoint.is_api_gateway())
    }
}
