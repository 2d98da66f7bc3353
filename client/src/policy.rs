//! Which failed attempts are retried, and when.
//!
//! Safe means the server cannot have applied the request twice: reads (finds by email too, though
//! sent as `POST`), deletes, writes guarded by a version in `If-Match` (a second write finds the
//! version moved and fails with `412`; not `If-Match: *`, which a second write meets again and
//! applies again), and creates carrying an `Idempotency-Key` (the server replays the first).
//! Anything else is retried only when it never reached a server (the connection failed before
//! the request was sent).

use std::time::Duration;

use http::StatusCode;
use shared::contract::Operation;

/// Attempts and time allowed for one call: Go-kit's `Retry(3, 3s)` by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// The whole call, waits included: past it the call fails with what it last saw.
    pub budget: Duration,
    /// The first backoff's ceiling; doubled per retry (full jitter: a uniform wait below it).
    pub base_backoff: Duration,
    /// No backoff ceiling grows beyond this.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            budget: Duration::from_secs(3),
            base_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before attempt `attempt + 1` (after `attempt` failed): exponential backoff
    /// with full jitter, but never sooner than the server's `Retry-After`.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self
            .base_backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max_backoff);
        let jittered = ceiling.mul_f64(fastrand::f64());
        retry_after.map_or(jittered, |wait| wait.max(jittered))
    }
}

/// What an attempt came to, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptFailure {
    /// No connection was made: the request was never sent.
    NotSent,
    /// The request was (or may have been) sent and no answer came: a timeout, a reset.
    NoAnswer,
    /// The server (or a gateway in front of it) answered with this status.
    Status(StatusCode),
}

/// A request as the retry rule sees it.
#[derive(Debug, Clone, Copy)]
pub struct RequestKind {
    pub operation: Operation,
    /// `If-Match` names a version (not `*`).
    pub has_if_match_version: bool,
    pub has_idempotency_key: bool,
}

impl RequestKind {
    /// Whether repeating the request cannot apply it twice: by the operation, not its method (a
    /// find is a `POST` and only reads).
    pub fn is_idempotent(&self) -> bool {
        match self.operation {
            Operation::GetUser
            | Operation::ListUsers
            | Operation::FindUser
            | Operation::DeleteUser => true,
            Operation::UpdateUser => self.has_if_match_version,
            Operation::CreateUser => self.has_idempotency_key,
        }
    }
}

/// Whether the failure is worth another attempt (on another endpoint, if there is one).
pub fn is_retryable(request: RequestKind, failure: AttemptFailure) -> bool {
    match failure {
        AttemptFailure::NotSent => true,
        AttemptFailure::NoAnswer => request.is_idempotent(),
        AttemptFailure::Status(status) => {
            let transient = matches!(
                status,
                StatusCode::REQUEST_TIMEOUT
                    | StatusCode::TOO_MANY_REQUESTS
                    | StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            );
            transient && request.is_idempotent()
        }
    }
}

/// Whether the failure says the endpoint itself is unwell (what its breaker counts): not a `4xx`
/// answer, which is the endpoint working.
pub fn counts_against_endpoint(failure: AttemptFailure) -> bool {
    match failure {
        AttemptFailure::NotSent | AttemptFailure::NoAnswer => true,
        AttemptFailure::Status(status) => status.is_server_error(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(operation: Operation, if_match: bool, key: bool) -> RequestKind {
        RequestKind {
            operation,
            has_if_match_version: if_match,
            has_idempotency_key: key,
        }
    }

    #[test]
    fn only_requests_that_cannot_apply_twice_are_retried_after_they_may_have_been_sent() {
        let unavailable = AttemptFailure::Status(StatusCode::SERVICE_UNAVAILABLE);
        let cases = [
            (kind(Operation::GetUser, false, false), true),
            (kind(Operation::ListUsers, false, false), true),
            (kind(Operation::FindUser, false, false), true),
            (kind(Operation::DeleteUser, false, false), true),
            (kind(Operation::UpdateUser, true, false), true),
            (kind(Operation::UpdateUser, false, false), false),
            (kind(Operation::CreateUser, false, true), true),
            (kind(Operation::CreateUser, false, false), false),
        ];
        for (request, retried) in cases {
            assert_eq!(is_retryable(request, unavailable), retried, "{request:?}");
            assert_eq!(
                is_retryable(request, AttemptFailure::NoAnswer),
                retried,
                "{request:?}"
            );
            // Never sent: whatever the method, nothing can have happened.
            assert!(is_retryable(request, AttemptFailure::NotSent));
        }
    }

    #[test]
    fn client_errors_are_final_except_timeouts_and_throttling() {
        let get = kind(Operation::GetUser, false, false);
        for status in [400, 401, 403, 404, 409, 412, 413, 422, 500, 501] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(
                !is_retryable(get, AttemptFailure::Status(status)),
                "{status}"
            );
        }
        for status in [408, 429, 502, 503, 504] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(
                is_retryable(get, AttemptFailure::Status(status)),
                "{status}"
            );
        }
    }

    #[test]
    fn backoff_grows_with_full_jitter_and_never_undercuts_retry_after() {
        let policy = RetryPolicy {
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            ..RetryPolicy::default()
        };
        for _ in 0..200 {
            assert!(policy.backoff(1, None) <= Duration::from_millis(100));
            assert!(policy.backoff(2, None) <= Duration::from_millis(200));
            assert!(policy.backoff(5, None) <= Duration::from_millis(350));
            assert!(policy.backoff(1, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
        }
        let spread: std::collections::BTreeSet<Duration> =
            (0..50).map(|_| policy.backoff(3, None)).collect();
        assert!(spread.len() > 10, "jitter: {spread:?}");
    }
}
