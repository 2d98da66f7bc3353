//! A circuit breaker for the store: when the store keeps failing, fail fast instead of making
//! every request wait for its timeout, and let a single probe find out when it is back.
//!
//! Two rules open it, each for a different kind of process. The failure ratio over a minimum
//! volume suits a busy server (`local-api`): a few failures among many calls do not trip it. But a
//! Lambda instance serves one invocation at a time: with a 3 s store timeout it sees at most ~3
//! calls in a 10 s window, never the volume, so a ratio alone would let every invocation of a
//! brownout wait out the full timeout. A run of consecutive failures, which no window resets, is
//! what opens it there.
//!
//! No crate fits: the maintained ones are built around their own retry and future types, while
//! this needs three states, a failure ratio over a minimum volume, and a clock the tests control.
//! Time is passed in (`now`), so every transition is tested without sleeping.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// When the breaker opens and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Open when at least this share of calls in the window failed...
    pub failure_ratio: f64,
    /// ...and the window holds at least this many calls, so two failures of three do not open it.
    pub min_calls: u32,
    /// Also open after this many failures in a row, however few calls the window saw.
    pub consecutive_failures: u32,
    /// Length of the counting window; counts start over after it.
    pub window: Duration,
    /// How long the breaker stays open before letting a probe through.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_ratio: 0.5,
            min_calls: 10,
            consecutive_failures: 3,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(5),
        }
    }
}

/// The breaker's state, as exported in metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// The refusal of an open breaker: the request failed fast, and may be retried after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker is open: the store failed repeatedly; retry in {retry_after:?}")]
pub struct CircuitOpen {
    pub retry_after: Duration,
}

/// Leave to make one call; hand it back to [`CircuitBreaker::record`] with the outcome.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub struct Admission {
    probe: bool,
}

#[derive(Debug)]
enum Inner {
    Closed {
        window_start: Instant,
        calls: u32,
        failures: u32,
        /// Failures since the last success, across windows.
        in_a_row: u32,
    },
    Open {
        until: Instant,
    },
    /// `probe_since` is when the one probe in flight started; a probe lost without an outcome (a
    /// cancelled request) stops blocking others after `open_for`.
    HalfOpen {
        probe_since: Option<Instant>,
    },
}

impl Inner {
    fn closed(now: Instant) -> Self {
        Inner::Closed {
            window_start: now,
            calls: 0,
            failures: 0,
            in_a_row: 0,
        }
    }
}

/// Told of every state change, outside the breaker's lock.
type OnTransition = Box<dyn Fn(BreakerState) + Send + Sync>;

/// A three-state breaker shared by every request of a process (or, in the client, of one
/// endpoint).
pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
    on_transition: OnTransition,
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("config", &self.config)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// A closed breaker; `on_transition` is told of every state change (for metrics and logs, with
    /// whatever context it captures: the client's breakers name their endpoint).
    pub fn new(
        config: BreakerConfig,
        now: Instant,
        on_transition: impl Fn(BreakerState) + Send + Sync + 'static,
    ) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner::closed(now)),
            on_transition: Box::new(on_transition),
        }
    }

    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Asks to make a call: always granted while closed, refused while open, and granted to one
    /// probe at a time once the open period is over.
    pub fn try_acquire(&self, now: Instant) -> Result<Admission, CircuitOpen> {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => Ok(Admission { probe: false }),
            Inner::Open { until } if now < until => Err(CircuitOpen {
                retry_after: until - now,
            }),
            Inner::Open { .. } => {
                *inner = Inner::HalfOpen {
                    probe_since: Some(now),
                };
                drop(inner);
                (self.on_transition)(BreakerState::HalfOpen);
                Ok(Admission { probe: true })
            }
            Inner::HalfOpen {
                probe_since: Some(since),
            } if now.duration_since(since) < self.config.open_for => Err(CircuitOpen {
                retry_after: self.config.open_for - now.duration_since(since),
            }),
            Inner::HalfOpen { .. } => {
                *inner = Inner::HalfOpen {
                    probe_since: Some(now),
                };
                Ok(Admission { probe: true })
            }
        }
    }

    /// Reports how a permitted call went. Only failures of the store itself count: a missing user
    /// or a taken email is the store working.
    pub fn record(&self, admission: Admission, success: bool, now: Instant) {
        let mut inner = self.lock();
        let transition = match (&mut *inner, admission.probe) {
            (Inner::HalfOpen { .. }, true) if success => {
                *inner = Inner::closed(now);
                Some(BreakerState::Closed)
            }
            (Inner::HalfOpen { .. }, true) => {
                *inner = Inner::Open {
                    until: now + self.config.open_for,
                };
                Some(BreakerState::Open)
            }
            (
                Inner::Closed {
                    window_start,
                    calls,
                    failures,
                    in_a_row,
                },
                false,
            ) => {
                if now.duration_since(*window_start) >= self.config.window {
                    (*window_start, *calls, *failures) = (now, 0, 0);
                }
                *calls += 1;
                *failures += u32::from(!success);
                *in_a_row = if success { 0 } else { *in_a_row + 1 };
                let ratio = f64::from(*failures) / f64::from(*calls);
                let by_ratio =
                    *calls >= self.config.min_calls && ratio >= self.config.failure_ratio;
                if by_ratio || *in_a_row >= self.config.consecutive_failures {
                    *inner = Inner::Open {
                        until: now + self.config.open_for,
                    };
                    Some(BreakerState::Open)
                } else {
                    None
                }
            }
            // The state moved on while this call ran (another call opened or probed it).
            _ => None,
        };
        drop(inner);
        if let Some(state) = transition {
            (self.on_transition)(state);
        }
    }

    /// Hands back an admission whose call never reached the store (it failed before it was sent):
    /// there is no outcome to count, and a probe's turn passes to the next caller at once.
    pub fn cancel(&self, admission: Admission) {
        if admission.probe {
            let mut inner = self.lock();
            if let Inner::HalfOpen { .. } = *inner {
                *inner = Inner::HalfOpen { probe_since: None };
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update assigns a whole new state, so a poisoned lock still holds a valid one.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig {
            failure_ratio: 0.5,
            min_calls: 4,
            // Out of the way of the ratio tests; its own tests lower it.
            consecutive_failures: 100,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(5),
        }
    }

    fn breaker(now: Instant) -> CircuitBreaker {
        CircuitBreaker::new(config(), now, |_| {})
    }

    fn call(breaker: &CircuitBreaker, success: bool, now: Instant) -> Result<(), CircuitOpen> {
        let admission = breaker.try_acquire(now)?;
        breaker.record(admission, success, now);
        Ok(())
    }

    #[test]
    fn a_cancelled_probe_passes_its_turn_and_changes_nothing() {
        let t0 = Instant::now();
        let b = breaker(t0);
        for _ in 0..4 {
            call(&b, false, t0).unwrap();
        }
        let later = t0 + Duration::from_secs(6);
        let probe = b.try_acquire(later).unwrap();
        assert!(b.try_acquire(later).is_err(), "one probe at a time");
        b.cancel(probe);
        assert_eq!(
            b.state(),
            BreakerState::HalfOpen,
            "not closed by a call never made"
        );
        let next = b
            .try_acquire(later)
            .expect("the next caller probes at once");
        b.record(next, true, later);
        assert_eq!(b.state(), BreakerState::Closed);
        // A cancelled ordinary admission counts neither way.
        let admission = b.try_acquire(later).unwrap();
        b.cancel(admission);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn opens_on_the_failure_ratio_only_after_the_minimum_volume() {
        let t0 = Instant::now();
        let b = breaker(t0);
        for _ in 0..3 {
            call(&b, false, t0).unwrap();
        }
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "3 calls are below the minimum of 4"
        );
        call(&b, false, t0).unwrap();
        assert_eq!(b.state(), BreakerState::Open);
        let refused = b.try_acquire(t0 + Duration::from_secs(2)).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(3));
    }

    #[test]
    fn stays_closed_below_the_ratio() {
        let t0 = Instant::now();
        let b = breaker(t0);
        for i in 0..20 {
            call(&b, i % 3 == 0, t0).unwrap(); // 1 in 3 succeed: 66% failures
            if b.state() == BreakerState::Open {
                break;
            }
        }
        assert_eq!(b.state(), BreakerState::Open);

        let b = breaker(t0);
        for i in 0..20 {
            call(&b, i % 3 != 2, t0).unwrap(); // every third call fails: never over 33%
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn old_failures_age_out_with_the_window() {
        let t0 = Instant::now();
        let b = breaker(t0);
        for _ in 0..3 {
            call(&b, false, t0).unwrap();
        }
        let later = t0 + Duration::from_secs(11);
        call(&b, false, later).unwrap();
        assert_eq!(b.state(), BreakerState::Closed, "the window started over");
    }

    /// One call at a time, seconds apart, as a Lambda instance makes them: the window never
    /// reaches the minimum volume, and a run of failures still opens the breaker.
    #[test]
    fn a_run_of_consecutive_failures_opens_it_whatever_the_volume() {
        let t0 = Instant::now();
        let b = CircuitBreaker::new(
            BreakerConfig {
                consecutive_failures: 3,
                min_calls: 10,
                ..config()
            },
            t0,
            |_| {},
        );
        let at = |seconds: u64| t0 + Duration::from_secs(seconds);
        // Failures broken by a success do not add up.
        for (second, success) in [(0, false), (4, false), (8, true), (12, false), (16, false)] {
            call(&b, success, at(second)).unwrap();
            assert_eq!(
                b.state(),
                BreakerState::Closed,
                "after the call at {second} s"
            );
        }
        // The third failure in a row opens it, though it falls in a fresh window of 1 call.
        call(&b, false, at(20)).unwrap();
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(
            b.try_acquire(at(21)).unwrap_err().retry_after,
            Duration::from_secs(4)
        );
        // A successful probe starts the count over.
        call(&b, true, at(25)).unwrap();
        assert_eq!(b.state(), BreakerState::Closed);
        call(&b, false, at(26)).unwrap();
        call(&b, false, at(27)).unwrap();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn half_open_lets_one_probe_through_and_closes_on_success() {
        let t0 = Instant::now();
        let b = breaker(t0);
        for _ in 0..4 {
            call(&b, false, t0).unwrap();
        }
        let t1 = t0 + Duration::from_secs(5);
        let probe = b.try_acquire(t1).expect("probe after the open period");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.try_acquire(t1).is_err(), "only one probe at a time");
        b.record(probe, true, t1);
        assert_eq!(b.state(), BreakerState::Closed);
        call(&b, true, t1).unwrap();
    }

    #[test]
    fn a_failed_probe_opens_it_again() {
        let t0 = Instant::now();
        let b = breaker(t0);
        for _ in 0..4 {
            call(&b, false, t0).unwrap();
        }
        let t1 = t0 + Duration::from_secs(6);
        call(&b, false, t1).unwrap();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.try_acquire(t1 + Duration::from_secs(4)).is_err());
        assert!(b.try_acquire(t1 + Duration::from_secs(5)).is_ok());
    }

    #[test]
    fn a_lost_probe_does_not_block_forever() {
        let t0 = Instant::now();
        let b = breaker(t0);
        for _ in 0..4 {
            call(&b, false, t0).unwrap();
        }
        let t1 = t0 + Duration::from_secs(5);
        let lost = b.try_acquire(t1).unwrap();
        drop(lost);
        assert!(b.try_acquire(t1 + Duration::from_secs(1)).is_err());
        assert!(
            b.try_acquire(t1 + Duration::from_secs(5)).is_ok(),
            "a new probe after open_for"
        );
    }

    #[test]
    fn transitions_are_reported() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static SEEN: AtomicUsize = AtomicUsize::new(0);
        let t0 = Instant::now();
        let b = CircuitBreaker::new(config(), t0, |_| {
            SEEN.fetch_add(1, Ordering::Relaxed);
        });
        for _ in 0..4 {
            call(&b, false, t0).unwrap();
        }
        call(&b, true, t0 + Duration::from_secs(5)).unwrap();
        assert_eq!(SEEN.load(Ordering::Relaxed), 3, "open, half-open, closed");
    }
}
