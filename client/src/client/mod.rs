//! [`UsersClient`]: the [`Users`] operations over HTTP, across endpoints, with safe retries,
//! per-endpoint circuit breakers, a bulkhead and SigV4.
//!
//! One call goes: bulkhead permit (waiting at most until the call's deadline) -> pick an endpoint
//! (round robin, skipping those whose breaker is open and not yet due a probe) -> one attempt,
//! bounded by the attempt timeout -> on a retryable failure, back off (full jitter, never sooner
//! than `Retry-After`) and try the next endpoint, within the attempts and the time budget.
//!
//! Why not tower's layers: its `balance` picks among services that are *ready*, and an endpoint
//! whose breaker is open would have to report "not ready" until its probe is due, so a call would
//! wait for it instead of failing over at once or failing fast; its `retry` re-sends to the same
//! inner service, while a retry here must go to another endpoint and honour `Retry-After`;
//! `timeout` and `limit` would each be one line of tokio here (as they are inside tower). The
//! breaker is the server's own ([`CircuitBreaker`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use shared::ErrorChain;
use shared::contract::{self, Operation};
use shared::domain::Precondition;
use shared::middleware::breaker::Admission;
use shared::trace::{self, SpanContext};
use shared::users::{ErrorKind, UsersError};
use tokio::sync::Semaphore;
use tracing::Instrument;

mod config;
mod endpoint;
mod operations;

pub use self::config::ClientConfig;
use self::endpoint::Endpoint;
pub use self::endpoint::EndpointStats;
use crate::policy::{AttemptFailure, RequestKind, counts_against_endpoint, is_retryable};
use crate::signing::Signer;
use crate::wire;

/// Largest answer read: a page of 100 users is ~30 KB.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The users API over HTTP. Cheap to share (`Arc`); build one per process.
pub struct UsersClient {
    endpoints: Vec<Endpoint>,
    next: AtomicUsize,
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    signer: Option<Signer>,
    bulkhead: Arc<Semaphore>,
    config: ClientConfig,
}

/// One call as the client sends it, on whichever endpoint.
struct Call<'a> {
    /// What is called: its method, and the name its span carries.
    operation: Operation,
    path: String,
    body: Option<Bytes>,
    precondition: Precondition,
    idempotency_key: Option<&'a str>,
}

/// A whole answer.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl UsersClient {
    /// A client over `config.endpoints`, with a signer when `signer` is given (needed when any
    /// endpoint is signed: see [`Signer::from_config`]).
    pub fn new(config: ClientConfig, signer: Option<Signer>) -> Result<Self, UsersError> {
        if config.endpoints.is_empty() {
            return Err(UsersError::new(ErrorKind::InvalidArgument {
                message: "no endpoint to call".into(),
            }));
        }
        let now = Instant::now();
        let endpoints: Vec<Endpoint> = config
            .endpoints
            .iter()
            .map(|base| Endpoint::new(base, &config, now))
            .collect();
        if endpoints.iter().any(|e| e.sign) && signer.is_none() {
            return Err(UsersError::new(ErrorKind::InvalidArgument {
                message:
                    "requests to these endpoints are signed, but no AWS credentials were loaded"
                        .into(),
            }));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(false);
        // The operating system's certificate authorities, as for the AWS calls (a company's
        // TLS-inspecting proxy included); Mozilla's compiled-in set where the system has none.
        let roots = hyper_rustls::HttpsConnectorBuilder::new();
        let https = match roots.with_native_roots() {
            Ok(native) => native,
            Err(_) => hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots(),
        }
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector);
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(Self {
            endpoints,
            next: AtomicUsize::new(0),
            http,
            signer,
            bulkhead: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            config,
        })
    }

    /// Each endpoint's breaker, for operators and tests.
    pub fn endpoint_stats(&self) -> Vec<EndpointStats> {
        self.endpoints
            .iter()
            .map(|e| EndpointStats {
                endpoint: e.base.to_string(),
                state: e.breaker.state(),
                opened: e.transitions.opened.load(Ordering::Relaxed),
                closed: e.transitions.closed.load(Ordering::Relaxed),
                served: e.served.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Runs one call to its answer (a `2xx`, `304` or final error), or to the error that ended it.
    /// The call is one trace: each attempt is a span of its own in it, sent as `traceparent`.
    async fn call(&self, call: Call<'_>) -> Result<Answer, UsersError> {
        let span = tracing::info_span!(
            "users.call",
            operation = call.operation.name(),
            trace_id = tracing::field::Empty,
            attempts = tracing::field::Empty
        );
        let trace = trace::context_of(&span, None);
        self.call_in(call, &trace, &span)
            .instrument(span.clone())
            .await
    }

    async fn call_in(
        &self,
        call: Call<'_>,
        trace: &SpanContext,
        span: &tracing::Span,
    ) -> Result<Answer, UsersError> {
        let policy = self.config.retry;
        let deadline = tokio::time::Instant::now() + policy.budget;
        let _permit = tokio::time::timeout_at(deadline, self.bulkhead.acquire())
            .await
            .map_err(|_| {
                UsersError::new(ErrorKind::Unavailable {
                    retry_after: None,
                    reason: format!(
                        "{} calls already in flight from this client for the whole {:?} budget",
                        self.config.max_in_flight, policy.budget
                    ),
                })
            })?
            .expect("the bulkhead is never closed");
        let kind = RequestKind {
            operation: call.operation,
            has_if_match_version: matches!(call.precondition, Precondition::Version(_)),
            has_idempotency_key: call.idempotency_key.is_some(),
        };
        let mut last = None;
        // Whether an earlier attempt may have been applied (sent, and no answer or a 5xx).
        let mut maybe_applied = false;
        for attempt in 1..=policy.max_attempts.max(1) {
            span.record("attempts", attempt);
            let (endpoint, admission) = self.pick().map_err(|retry_after| {
                UsersError::new(ErrorKind::Unavailable {
                    retry_after,
                    reason: "every endpoint's circuit is open".into(),
                })
            })?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let attempt_span = tracing::debug_span!(parent: span, "users.attempt", attempt, endpoint = %endpoint.base);
            let sent_as = trace::context_of(&attempt_span, Some(trace));
            let outcome = tokio::time::timeout(
                self.config.attempt_timeout.min(left),
                self.attempt(endpoint, &call, &sent_as),
            )
            .instrument(attempt_span)
            .await
            .unwrap_or(Err(AttemptError::NoAnswer("timed out".into())));
            let failure = match &outcome {
                Ok(answer) if is_failure_status(answer.status) => {
                    Some(AttemptFailure::Status(answer.status))
                }
                Ok(_) => None,
                Err(AttemptError::NotSent(_)) => Some(AttemptFailure::NotSent),
                Err(AttemptError::NoAnswer(_)) => Some(AttemptFailure::NoAnswer),
                Err(AttemptError::Local(_) | AttemptError::Signing(_)) => {
                    // Nothing was sent: the endpoint's breaker has nothing to learn from it.
                    endpoint.breaker.cancel(admission);
                    return outcome.map_err(AttemptError::into_error);
                }
            };
            let healthy = failure.is_none_or(|f| !counts_against_endpoint(f));
            endpoint.breaker.record(admission, healthy, Instant::now());
            let retry_after = match &outcome {
                Ok(answer) => wire::retry_after(&answer.headers),
                Err(_) => None,
            };
            if maybe_applied
                && let Ok(answer) = &outcome
                && is_own_effect(&call, answer.status)
            {
                return Err(UsersError {
                    kind: ErrorKind::Unavailable {
                        retry_after: None,
                        reason: format!(
                            "an earlier attempt's answer was lost, and the retry was answered {}: \
                             the call may or may not have taken effect; read the user to know",
                            answer.status
                        ),
                    },
                    request_id: wire::request_id(&answer.headers),
                });
            }
            let Some(failure) = failure else {
                return outcome.map_err(AttemptError::into_error);
            };
            maybe_applied |= match failure {
                AttemptFailure::NotSent => false,
                AttemptFailure::NoAnswer => true,
                AttemptFailure::Status(status) => status.is_server_error(),
            };
            tracing::debug!(?failure, attempt, endpoint = %endpoint.base, "attempt failed");
            last = Some(outcome);
            if attempt == policy.max_attempts || !is_retryable(kind, failure) {
                break;
            }
            let wait = policy.backoff(attempt, retry_after);
            if tokio::time::Instant::now() + wait >= deadline {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        last.expect("at least one attempt")
            .map_err(AttemptError::into_error)
    }

    /// The next endpoint in turn whose breaker lets a call through; when none does, how soon
    /// the first of them will let a probe through.
    fn pick(&self) -> Result<(&Endpoint, Admission), Option<Duration>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut soonest: Option<Duration> = None;
        for i in 0..self.endpoints.len() {
            let endpoint = &self.endpoints[(start + i) % self.endpoints.len()];
            match endpoint.breaker.try_acquire(now) {
                Ok(admission) => return Ok((endpoint, admission)),
                Err(open) => {
                    soonest = Some(soonest.map_or(open.retry_after, |s| s.min(open.retry_after)));
                }
            }
        }
        Err(soonest)
    }

    /// One request to one endpoint, read to the end, sent as the span `attempt` of the call's
    /// trace.
    async fn attempt(
        &self,
        endpoint: &Endpoint,
        call: &Call<'_>,
        attempt: &SpanContext,
    ) -> Result<Answer, AttemptError> {
        let attempt = trace::to_traceparent(attempt);
        let mut request = Request::builder()
            .method(call.operation.method())
            .uri(endpoint.base.join(&call.path))
            .header(header::ACCEPT, "application/json")
            .header(contract::headers::TRACEPARENT, attempt)
            .header(
                header::USER_AGENT,
                concat!("users-client/", env!("CARGO_PKG_VERSION")),
            );
        if call.body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        match call.precondition {
            Precondition::None => {}
            Precondition::Exists => request = request.header(header::IF_MATCH, "*"),
            Precondition::Version(version) => {
                request = request.header(header::IF_MATCH, contract::etag(version));
            }
        }
        if let Some(key) = call.idempotency_key {
            request = request.header(contract::headers::IDEMPOTENCY_KEY, key);
        }
        let mut request = request
            .body(call.body.clone().unwrap_or_default())
            .map_err(|e| AttemptError::Local(e.to_string()))?;
        if endpoint.sign {
            let signer = self
                .signer
                .as_ref()
                .expect("checked when the client was built");
            signer
                .sign(&mut request)
                .await
                .map_err(|e| AttemptError::Signing(e.to_string()))?;
        }
        let response = self
            .http
            .request(request.map(Full::new))
            .await
            .map_err(|e| {
                if e.is_connect() {
                    AttemptError::NotSent(ErrorChain(&e).to_string())
                } else {
                    AttemptError::NoAnswer(ErrorChain(&e).to_string())
                }
            })?;
        endpoint.served.fetch_add(1, Ordering::Relaxed);
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| AttemptError::NoAnswer(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// Whether `status` is what a retry of `call` meets when an earlier attempt was applied: a
/// delete finds the user gone (`404`), a conditional write or delete finds the version moved
/// (`412`). After a lost answer that is no answer at all: the call may or may not have been
/// applied, and saying `404` or `412` would be a wrong answer about a change that happened.
fn is_own_effect(call: &Call<'_>, status: StatusCode) -> bool {
    (call.operation == Operation::DeleteUser && status == StatusCode::NOT_FOUND)
        || (call.precondition != Precondition::None && status == StatusCode::PRECONDITION_FAILED)
}

/// An answer the caller should not get as a success.
fn is_failure_status(status: StatusCode) -> bool {
    status.is_client_error() || status.is_server_error()
}

/// What stopped an attempt short of an answer.
enum AttemptError {
    NotSent(String),
    NoAnswer(String),
    /// On this side: a request that cannot be built.
    Local(String),
    /// No credentials, or no region, to sign with.
    Signing(String),
}

impl AttemptError {
    fn into_error(self) -> UsersError {
        UsersError::new(match self {
            AttemptError::NotSent(reason) => ErrorKind::Unavailable {
                retry_after: None,
                reason: format!("cannot connect: {reason}"),
            },
            AttemptError::NoAnswer(reason) => ErrorKind::Unavailable {
                retry_after: None,
                reason: format!("no answer: {reason}"),
            },
            AttemptError::Local(message) => ErrorKind::Internal { message },
            AttemptError::Signing(message) => ErrorKind::Forbidden { message },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::UserId;
    use shared::middleware::breaker::BreakerState;
    use shared::users::Users;

    #[tokio::test]
    async fn a_request_that_cannot_be_signed_is_refused_here_and_costs_the_endpoint_nothing() {
        let endpoints = crate::discovery::from_list(&["http://127.0.0.1:9"]).unwrap();
        let mut config = ClientConfig::new(endpoints);
        config.sign = Some(true);
        // A loopback host names no region, and none is configured.
        let credentials =
            aws_credential_types::Credentials::new("AKID", "SECRET", None, None, "test");
        let signer = Signer::with_credentials(credentials, None);
        let client = UsersClient::new(config, Some(signer)).unwrap();
        for _ in 0..5 {
            let error = client.get(UserId::new(1).unwrap()).await.unwrap_err();
            assert!(
                matches!(&error.kind, ErrorKind::Forbidden { message } if message.contains("region")),
                "{error:?}"
            );
        }
        let stats = &client.endpoint_stats()[0];
        assert_eq!(
            (stats.state, stats.served, stats.opened),
            (BreakerState::Closed, 0, 0)
        );
    }

    fn client_to_a_closed_port(max_in_flight: usize, budget: Duration) -> UsersClient {
        let endpoints = crate::discovery::from_list(&["http://127.0.0.1:9"]).unwrap();
        let mut config = ClientConfig::new(endpoints);
        config.max_in_flight = max_in_flight;
        config.retry.budget = budget;
        UsersClient::new(config, None).unwrap()
    }

    /// On tokio's paused clock: the wait is exactly the call's budget, measured without a race.
    #[tokio::test(start_paused = true)]
    async fn a_full_bulkhead_makes_a_call_wait_until_its_deadline_then_fail_clearly() {
        let budget = Duration::from_millis(200);
        let client = client_to_a_closed_port(2, budget);
        // Two calls in flight elsewhere hold both slots.
        let _held = client.bulkhead.clone().acquire_many_owned(2).await.unwrap();
        let started = tokio::time::Instant::now();
        let error = client.get(UserId::new(1).unwrap()).await.unwrap_err();
        assert_eq!(started.elapsed(), budget, "it waited for its whole budget");
        assert!(
            matches!(&error.kind, ErrorKind::Unavailable { reason, .. } if reason.contains("2 calls already in flight")),
            "{error:?}"
        );
        assert_eq!(client.endpoint_stats()[0].served, 0, "no request was sent");
    }

    #[tokio::test]
    async fn a_slot_freed_before_the_deadline_lets_a_waiting_call_through() {
        let client = Arc::new(client_to_a_closed_port(1, Duration::from_secs(30)));
        let held = client.bulkhead.clone().acquire_owned().await.unwrap();
        let waiting = tokio::spawn({
            let client = client.clone();
            async move { client.get(UserId::new(1).unwrap()).await }
        });
        // Most likely waiting by now; had it not started yet, it would find the slot free.
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        // Through the bulkhead, the call reaches the network (a closed port here).
        let error = waiting.await.unwrap().unwrap_err();
        assert!(
            matches!(&error.kind, ErrorKind::Unavailable { reason, .. } if reason.contains("cannot connect")),
            "{error:?}"
        );
    }
}
