//! Per-request logging and metrics, around the request handler, the same for every runtime:
//! each runtime's edge (the Lambda runner, `local-api`) wraps the transport's `Api` with
//! [`RequestObserver::around`].
//!
//! It knows `http` requests and responses and nothing of lambda_http or hyper: the edge names
//! the request ([`RequestId`]) and the trace it came in ([`CallerTrace`]), and the handler answers
//! with what it routed ([`Routed`]) beside the response. Each request is a span of its own in the
//! caller's trace (or the first of a new one): its trace id is in every log line of the request
//! and in the `traceresponse` header of the answer. Nothing here sees a request or response
//! body: the only user data that reaches a log line or a metric is the numeric user id in a path.
//! Names and emails never do.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use enum_map::{Enum, EnumMap};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use metrics::{Counter, Histogram, Unit};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::contract::Operation;
use crate::contract::headers;
use crate::trace::{self, SpanContext};
use crate::transport::{Routed, operation_label};

/// The id a request's logs are correlated by, named by the runtime's edge: the Lambda request id
/// (as in the REPORT line) or the id `local-api` assigned. The observer hands it back as the
/// answer's `x-request-id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The trace the caller's request came in, as the runtime's edge found it: the request's span is
/// a child of it. Without one, the request starts a trace.
#[derive(Debug, Clone)]
pub struct CallerTrace(pub SpanContext);

impl CallerTrace {
    /// The trace `headers` carry: `traceparent`, else `X-Amzn-Trace-Id`.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        trace::incoming(|name| headers.get(name).and_then(|value| value.to_str().ok())).map(Self)
    }
}

static COLD: AtomicBool = AtomicBool::new(true);

/// True for the first request a process serves, false ever after. Reads before it writes, so
/// warm requests on different cores never contend for the flag's cache line.
fn take_cold_start() -> bool {
    COLD.load(Ordering::Relaxed) && COLD.swap(false, Ordering::Relaxed)
}

/// How a response counts in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ResponseOutcome {
    Ok,
    ClientError,
    ServerError,
    /// 503: the store is down, the breaker is open or the server is at its limit; the client
    /// should retry later.
    Unavailable,
}

impl ResponseOutcome {
    pub fn of(status: StatusCode) -> Self {
        match status.as_u16() {
            503 => ResponseOutcome::Unavailable,
            500..=599 => ResponseOutcome::ServerError,
            400..=499 => ResponseOutcome::ClientError,
            _ => ResponseOutcome::Ok,
        }
    }

    /// The value of the `outcome` label.
    pub fn name(self) -> &'static str {
        match self {
            ResponseOutcome::Ok => "ok",
            ResponseOutcome::ClientError => "client_error",
            ResponseOutcome::ServerError => "server_error",
            ResponseOutcome::Unavailable => "unavailable",
        }
    }
}

/// The request count and latency handles of every (operation, outcome), each registered with the
/// installed recorder the first time it moves and then only incremented: `metrics::counter!`
/// with labels would build, hash and look up a key in the recorder's registry on every request,
/// which was the largest single cost in `local-api`'s user space. Registered on first use, not
/// up front: the EMF collector walks every registered series on each invocation's flush, and the
/// 66 series of all operations and outcomes made that walk ~8% of a warm invocation's CPU
/// (docs/benchmarks.md, section 3), where a function moves two or three.
#[derive(Default)]
struct RequestMetrics {
    routed: EnumMap<Operation, EnumMap<ResponseOutcome, RequestSeries>>,
    unmatched: EnumMap<ResponseOutcome, RequestSeries>,
}

/// One (operation, outcome)'s request count and latency, once it has moved.
type RequestSeries = OnceLock<(Counter, Histogram)>;

impl RequestMetrics {
    /// Records one finished request.
    fn record(&self, operation: Option<Operation>, status: StatusCode, latency: Duration) {
        let outcome = ResponseOutcome::of(status);
        let by_outcome = match operation {
            Some(operation) => &self.routed[operation],
            None => &self.unmatched,
        };
        let (count, duration) = by_outcome[outcome].get_or_init(|| {
            let (operation, outcome) = (operation_label(operation), outcome.name());
            (
                metrics::counter!("http_requests_total", "operation" => operation, "outcome" => outcome),
                metrics::histogram!("http_request_duration_seconds", "operation" => operation, "outcome" => outcome),
            )
        });
        count.increment(1);
        duration.record(latency.as_secs_f64());
    }
}

/// Logs and counts every request around the handler that answers it. A plain function wrapper
/// rather than a tower `Layer`: as a layer (a boxed future and reference-count traffic per
/// request) it cost `local-api` ~9% of its `GET /users/{id}` throughput, measured with wrk.
///
/// Install the metrics recorder before the first request: each metric handle is registered with
/// the recorder installed when it first moves (one registered earlier would be a no-op). A clone
/// shares them.
#[derive(Clone)]
pub struct RequestObserver {
    metrics: Arc<RequestMetrics>,
    /// The backend's name (`memory`, `dynamodb`), a field of every request span.
    store: &'static str,
}

impl RequestObserver {
    pub fn new(store: &'static str) -> Self {
        Self {
            metrics: Arc::new(RequestMetrics::default()),
            store,
        }
    }

    /// Answers `request` with `handler` inside one `request` span (request id, trace id,
    /// operation, method, route, cold start, store, status, latency), then logs "request
    /// completed", records the request's count and latency, and returns its id in
    /// `x-request-id` and its trace in `traceresponse`. While the handler runs, the request's
    /// trace span is OpenTelemetry's current context ([`trace::in_span`]).
    ///
    /// The id and the caller's trace come as arguments and what was routed comes back beside the
    /// response, not as extensions of either: each extension map costs three allocations, ~1k of
    /// a `GET /users/{id}`'s instructions in all (docs/benchmarks.md section 4b).
    pub async fn around<B, R, F, Fut>(
        &self,
        request: Request<B>,
        RequestId(request_id): RequestId,
        caller: Option<CallerTrace>,
        handler: F,
    ) -> Response<R>
    where
        F: FnOnce(Request<B>) -> Fut,
        Fut: Future<Output = (Response<R>, Routed)>,
    {
        let started = Instant::now();
        let cold_start = take_cold_start();
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            trace_id = tracing::field::Empty,
            operation = tracing::field::Empty,
            method = %request.method(),
            route = tracing::field::Empty,
            cold_start,
            store = self.store,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let trace = trace::context_of(&span, caller.as_ref().map(|CallerTrace(parent)| parent));
        // A disabled span (its level filtered out) keeps no attributes: their values are not
        // even made.
        let attributed = !span.is_disabled();
        if attributed {
            span.set_attribute("http.request.method", request.method().to_string());
            span.set_attribute("faas.trigger", "http");
            span.set_attribute("faas.coldstart", cold_start);
            if !request_id.is_empty() {
                span.set_attribute("faas.invocation_id", request_id.clone());
            }
        }
        let handled = span.in_scope(|| handler(request));
        let (mut response, routed) = trace::in_span(&trace, handled)
            .instrument(span.clone())
            .await;
        let latency = started.elapsed();
        let status = response.status();
        span.record("status", status.as_u16());
        if attributed {
            span.set_attribute("http.response.status_code", i64::from(status.as_u16()));
            if routed.operation.is_some() {
                span.set_attribute("http.route", routed.route);
            }
            if status.is_server_error() {
                span.set_status(opentelemetry::trace::Status::error(
                    ResponseOutcome::of(status).name(),
                ));
            }
        }
        span.record("latency_ms", latency.as_secs_f64() * 1000.0);
        span.in_scope(|| tracing::info!("request completed"));
        self.metrics.record(routed.operation, status, latency);
        // Both values become headers without a copy.
        let answer = response.headers_mut();
        if let Ok(value) = HeaderValue::try_from(request_id) {
            answer.insert(headers::REQUEST_ID, value);
        }
        if let Ok(value) = HeaderValue::try_from(trace::to_traceparent(&trace)) {
            answer.insert(headers::TRACERESPONSE, value);
        }
        response
    }
}

/// Describes every metric the service emits (units matter to CloudWatch), once per process.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "http_requests_total",
        Unit::Count,
        "Requests by operation and outcome"
    );
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "Request latency in the handler"
    );
    metrics::describe_counter!(
        "store_calls_total",
        Unit::Count,
        "Store calls by call and outcome"
    );
    metrics::describe_histogram!(
        "store_call_duration_seconds",
        Unit::Seconds,
        "Store call latency, retries included"
    );
    metrics::describe_counter!(
        "dynamodb_attempts_total",
        Unit::Count,
        "DynamoDB HTTP attempts, retries included"
    );
    metrics::describe_counter!(
        "dynamodb_throttles_total",
        Unit::Count,
        "DynamoDB calls that failed throttled after retries"
    );
    metrics::describe_counter!(
        "circuit_breaker_transitions_total",
        Unit::Count,
        "Store circuit breaker state changes"
    );
    metrics::describe_gauge!(
        "circuit_breaker_state",
        Unit::Count,
        "0 closed, 1 half-open, 2 open"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_metrics::{moved, recorded};

    fn labels(operation: &str, outcome: &str) -> Vec<String> {
        vec![
            format!("operation={operation}"),
            format!("outcome={outcome}"),
        ]
    }

    #[test]
    fn each_request_is_counted_under_its_own_operation_and_outcome() {
        let ((), counters) = recorded(|| async {
            let metrics = RequestMetrics::default();
            let ms = Duration::from_millis(1);
            metrics.record(Some(Operation::GetUser), StatusCode::NOT_FOUND, ms);
            metrics.record(Some(Operation::GetUser), StatusCode::NOT_FOUND, ms);
            metrics.record(Some(Operation::CreateUser), StatusCode::CREATED, ms);
            metrics.record(
                Some(Operation::ListUsers),
                StatusCode::SERVICE_UNAVAILABLE,
                ms,
            );
            metrics.record(None, StatusCode::INTERNAL_SERVER_ERROR, ms);
        });
        assert_eq!(
            moved(&counters, "http_requests_total"),
            [
                (labels("create-user", "ok"), 1),
                (labels("get-user", "client_error"), 2),
                (labels("list-users", "unavailable"), 1),
                (labels("none", "server_error"), 1),
            ]
        );
        // Only the series that moved were registered: the EMF flush walks every registered one.
        let series = counters
            .iter()
            .filter(|(name, ..)| name == "http_requests_total");
        assert_eq!(series.count(), 4);
    }

    #[test]
    fn a_request_is_counted_by_what_the_handler_routed_and_returns_its_id() {
        let handler = |_request: Request<()>| async {
            let routed = Routed {
                operation: Some(Operation::DeleteUser),
                route: "/users/{id}",
            };
            routed.record_in_current_span();
            let mut response = Response::new(());
            *response.status_mut() = StatusCode::NO_CONTENT;
            (response, routed)
        };
        let id = RequestId("req-42".to_owned());
        let (response, counters) = recorded(|| async {
            let observer = RequestObserver::new("memory");
            observer.around(Request::new(()), id, None, handler).await
        });
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(response.headers()["x-request-id"], "req-42");
        assert_eq!(
            moved(&counters, "http_requests_total"),
            [(labels("delete-user", "ok"), 1)]
        );
    }

    #[tokio::test]
    async fn a_request_is_a_span_of_its_callers_trace_current_while_it_is_handled() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let caller = trace::from_traceparent(traceparent).unwrap();
        let handler = |_request: Request<()>| async {
            let mut response = Response::new(());
            let current = trace::current().expect("the request's span is current");
            response.extensions_mut().insert(current);
            (response, Routed::UNMATCHED)
        };
        let response = RequestObserver::new("memory")
            .around(
                Request::new(()),
                RequestId("req-7".to_owned()),
                Some(CallerTrace(caller.clone())),
                handler,
            )
            .await;
        let served = response.extensions().get::<SpanContext>().unwrap();
        assert_eq!(served.trace_id(), caller.trace_id());
        assert_ne!(served.span_id(), caller.span_id());
        assert_eq!(
            response.headers()["traceresponse"],
            trace::to_traceparent(served).as_str()
        );
        assert_eq!(trace::current(), None, "and only then");
    }
}
