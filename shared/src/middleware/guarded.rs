//! A store decorator that bounds every call and fails fast while the store is down.

use std::future::{Future, poll_fn};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use enum_map::{Enum, EnumMap};
use metrics::{Counter, Histogram};
use tracing::Instrument;

use super::breaker::{BreakerConfig, BreakerState, CircuitBreaker};
use crate::store::{StoreCall, StoreError, StoreLayer, StorePing, Unavailable};

/// How long a store call may take and when the breaker opens.
#[derive(Debug, Clone, PartialEq)]
pub struct ResilienceConfig {
    /// Upper bound of one store call, SDK retries included; well below the function timeout.
    pub store_timeout: Duration,
    pub breaker: BreakerConfig,
}

impl Default for ResilienceConfig {
    fn default() -> Self {
        Self {
            store_timeout: Duration::from_secs(3),
            breaker: BreakerConfig::default(),
        }
    }
}

/// A call that ran out of time: the store is treated as unavailable.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("store call timed out after {0:?}")]
pub struct StoreTimeout(pub Duration);

/// Any store behind a timeout and a circuit breaker, with each call's latency and outcome
/// recorded as metrics. Generic over the store (rather than holding `Arc<dyn UserStore>`) so a
/// binary links only the operations it calls.
///
/// Build it after the metrics recorder is installed: it registers its metric handles then.
pub struct GuardedStore<S: ?Sized> {
    inner: Arc<S>,
    /// The backend's name (`memory`, `dynamodb`): each call span's `db.system`.
    system: &'static str,
    timeout: Duration,
    breaker: CircuitBreaker,
    metrics: StoreMetrics,
}

impl<S: StorePing + ?Sized> GuardedStore<S> {
    pub fn new(inner: Arc<S>, config: ResilienceConfig) -> Self {
        Self {
            system: inner.backend(),
            inner,
            timeout: config.store_timeout,
            breaker: CircuitBreaker::new(config.breaker, Instant::now(), report_transition),
            metrics: StoreMetrics::default(),
        }
    }
}

impl<S: ?Sized> GuardedStore<S> {
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// One store call in a `store.call` span (a child of the request's, exported with it when
    /// spans are), which records how the call ended and, when the breaker refuses it, says so.
    async fn call<T>(
        &self,
        call: StoreCall,
        future: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let span = tracing::debug_span!(
            "store.call",
            call = call.name(),
            db.system = self.system,
            outcome = tracing::field::Empty,
        );
        let outcome = self.guarded(call, future).instrument(span.clone()).await;
        span.record("outcome", outcome.1.name());
        outcome.0
    }

    async fn guarded<T>(
        &self,
        call: StoreCall,
        future: impl Future<Output = Result<T, StoreError>>,
    ) -> (Result<T, StoreError>, CallOutcome) {
        // Two clock reads per call serve the breaker and the latency metric alike.
        let started = Instant::now();
        let admission = match self.breaker.try_acquire(started) {
            Ok(admission) => admission,
            Err(open) => {
                tracing::debug!(
                    retry_after_ms = open.retry_after.as_millis(),
                    "store call refused: the circuit breaker is open"
                );
                self.metrics.count(call, CallOutcome::Rejected);
                let refused = StoreError::Unavailable(Unavailable {
                    retry_after: open.retry_after,
                    source: Box::new(open),
                });
                return (Err(refused), CallOutcome::Rejected);
            }
        };
        let result = self.bounded(future).await;
        let finished = Instant::now();
        let outcome = match &result {
            Ok(_)
            | Err(
                StoreError::NotFound
                | StoreError::EmailTaken
                | StoreError::PreconditionFailed
                | StoreError::IdempotencyKeyReused,
            ) => CallOutcome::Ok,
            Err(StoreError::Unavailable(_)) => CallOutcome::Unavailable,
            Err(StoreError::Throttled { .. }) => CallOutcome::Throttled,
            Err(StoreError::Contended { .. }) => CallOutcome::Contended,
            Err(StoreError::Internal(_)) => CallOutcome::Error,
        };
        // Only a failing store counts against the breaker. Not a throttled or contended call:
        // DynamoDB answered at once (there is no wait to spare anyone), the call has already
        // backed off, the client is told to (503 + Retry-After), and throttling is one
        // partition's or index's, contention one user's: an open breaker would refuse every
        // other user's calls too.
        self.breaker
            .record(admission, outcome != CallOutcome::Unavailable, finished);
        self.metrics.count(call, outcome);
        self.metrics
            .latency(call)
            .record((finished - started).as_secs_f64());
        (result, outcome)
    }

    /// Runs `call` under the timeout. A call that completes on its first poll (the in-memory
    /// store always does) never arms a timer, which would cost a lock on the runtime's timer
    /// wheel to register and another to cancel, on every request.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let mut call = std::pin::pin!(call);
        if let Poll::Ready(result) = poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await {
            return result;
        }
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::unavailable(StoreTimeout(self.timeout))),
        }
    }
}

/// How a store call ended. A missing user or a taken email is the store working: `Ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
enum CallOutcome {
    Ok,
    Unavailable,
    Throttled,
    /// One user's item was busy with other writes on every attempt.
    Contended,
    Error,
    /// Refused by the open breaker without reaching the store.
    Rejected,
}

impl CallOutcome {
    fn name(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Unavailable => "unavailable",
            CallOutcome::Throttled => "throttled",
            CallOutcome::Contended => "contended",
            CallOutcome::Error => "error",
            CallOutcome::Rejected => "rejected",
        }
    }
}

/// The handles of every store-call series, each registered the first time it moves (see
/// `RequestMetrics` for why).
#[derive(Default)]
struct StoreMetrics {
    counts: EnumMap<StoreCall, EnumMap<CallOutcome, OnceLock<Counter>>>,
    latencies: EnumMap<StoreCall, OnceLock<Histogram>>,
}

impl StoreMetrics {
    fn count(&self, call: StoreCall, outcome: CallOutcome) {
        let counter = self.counts[call][outcome].get_or_init(|| {
            metrics::counter!("store_calls_total", "call" => call.name(), "outcome" => outcome.name())
        });
        counter.increment(1);
    }

    fn latency(&self, call: StoreCall) -> &Histogram {
        self.latencies[call].get_or_init(
            || metrics::histogram!("store_call_duration_seconds", "call" => call.name()),
        )
    }
}

fn report_transition(state: BreakerState) {
    tracing::warn!(state = state.name(), "store circuit breaker changed state");
    metrics::counter!("circuit_breaker_transitions_total", "state" => state.name()).increment(1);
    let level = match state {
        BreakerState::Closed => 0.0,
        BreakerState::HalfOpen => 1.0,
        BreakerState::Open => 2.0,
    };
    metrics::gauge!("circuit_breaker_state").set(level);
}

impl<S: Send + Sync + ?Sized> StoreLayer for GuardedStore<S> {
    type Inner = S;

    fn inner(&self) -> &S {
        &self.inner
    }

    fn around<T: Send>(
        &self,
        call: StoreCall,
        future: impl Future<Output = Result<T, StoreError>> + Send,
    ) -> impl Future<Output = Result<T, StoreError>> + Send {
        self.call(call, future)
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::domain::{User, UserId};
    use crate::store::{MemoryStore, StoreGet, StorePing};
    use crate::test_metrics::{moved, recorded};

    /// A store whose calls fail as unavailable.
    struct Down;

    #[async_trait]
    impl StoreGet for Down {
        async fn get(&self, _: UserId) -> Result<Option<User>, StoreError> {
            Err(StoreError::unavailable("down"))
        }
    }

    /// The test stores' ping: only their name matters here.
    macro_rules! test_backend {
        ($store:ty) => {
            #[async_trait]
            impl StorePing for $store {
                fn backend(&self) -> &'static str {
                    "test"
                }

                async fn ping(&self) -> Result<(), StoreError> {
                    Ok(())
                }
            }
        };
    }

    test_backend!(Down);

    /// A store that works but is at its capacity.
    struct AtCapacity;

    test_backend!(AtCapacity);

    #[async_trait]
    impl StoreGet for AtCapacity {
        async fn get(&self, _: UserId) -> Result<Option<User>, StoreError> {
            Err(StoreError::throttled("ThrottlingException"))
        }
    }

    /// A store that works but whose user is too busy: every attempt lost its race.
    struct Busy;

    test_backend!(Busy);

    #[async_trait]
    impl StoreGet for Busy {
        async fn get(&self, _: UserId) -> Result<Option<User>, StoreError> {
            Err(StoreError::Contended {
                retry_after: Duration::from_secs(1),
            })
        }
    }

    /// Twenty failing calls to `store` leave the breaker closed and are counted under `outcome`.
    fn assert_counted_and_breaker_closed<S: StoreGet + StorePing + 'static>(
        store: S,
        outcome: &str,
    ) {
        let ((), counters) = recorded(|| async {
            let config = ResilienceConfig {
                breaker: BreakerConfig {
                    consecutive_failures: 2,
                    min_calls: 2,
                    ..BreakerConfig::default()
                },
                ..ResilienceConfig::default()
            };
            let guarded = GuardedStore::new(Arc::new(store), config);
            for _ in 0..20 {
                let error = guarded.get(UserId::new(7).unwrap()).await.unwrap_err();
                assert!(
                    matches!(
                        error,
                        StoreError::Throttled { .. } | StoreError::Contended { .. }
                    ),
                    "{error:?}"
                );
            }
            assert_eq!(guarded.breaker_state(), BreakerState::Closed);
        });
        assert_eq!(
            moved(&counters, "store_calls_total"),
            [(vec!["call=get".into(), format!("outcome={outcome}")], 20)]
        );
    }

    #[test]
    fn contended_calls_are_counted_as_such_and_never_open_the_breaker() {
        assert_counted_and_breaker_closed(Busy, "contended");
    }

    #[test]
    fn throttled_calls_are_counted_as_such_and_never_open_the_breaker() {
        assert_counted_and_breaker_closed(AtCapacity, "throttled");
    }

    #[test]
    fn each_call_is_counted_under_its_call_and_outcome() {
        let ((), counters) = recorded(|| async {
            let config = ResilienceConfig {
                breaker: BreakerConfig {
                    consecutive_failures: 2,
                    ..BreakerConfig::default()
                },
                ..ResilienceConfig::default()
            };
            let memory = GuardedStore::new(Arc::new(MemoryStore::new()), config.clone());
            let down = GuardedStore::new(Arc::new(Down), config);
            let id = UserId::new(7).unwrap();
            assert!(memory.get(id).await.unwrap().is_none());
            memory.ping().await.unwrap();
            for _ in 0..3 {
                assert!(down.get(id).await.is_err());
            }
        });
        let row = |call: &str, outcome: &str, count| {
            (
                vec![format!("call={call}"), format!("outcome={outcome}")],
                count,
            )
        };
        assert_eq!(
            moved(&counters, "store_calls_total"),
            [
                row("get", "ok", 1),
                row("get", "rejected", 1),
                row("get", "unavailable", 2),
                row("ping", "ok", 1),
            ]
        );
        // Only the series that moved were registered: the EMF flush walks every registered one.
        let series = counters
            .iter()
            .filter(|(name, ..)| name == "store_calls_total");
        assert_eq!(series.count(), 4);
    }
}
