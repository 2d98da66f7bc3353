//! Per-request logging and metrics, written once and applied by the transport for every runtime.
//!
//! Nothing here sees a request or response body: the only user data that reaches a log line or a
//! metric is the numeric user id in a path. Names and emails never do.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use metrics::{Counter, Histogram, Unit};

use super::handles::HandleTable;
use crate::transport::Operation;

/// A request id assigned by a runtime that has none of its own (`local-api`).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

static COLD: AtomicBool = AtomicBool::new(true);

/// True for the first request a process serves, false ever after. Reads before it writes, so
/// warm requests on different cores never contend for the flag's cache line.
pub fn take_cold_start() -> bool {
    COLD.load(Ordering::Relaxed) && COLD.swap(false, Ordering::Relaxed)
}

/// The id to correlate a request's logs by: the Lambda request id (as in the REPORT line), else
/// the id `local-api` assigned, else API Gateway's.
pub fn request_id(request: &Request) -> String {
    if let Some(context) = request
        .lambda_context_ref()
        .filter(|c| !c.request_id.is_empty())
    {
        return context.request_id.clone();
    }
    if let Some(RequestId(id)) = request.extensions().get::<RequestId>() {
        return id.clone();
    }
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => {
            context.request_id.clone().unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// How a response counts in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    ClientError,
    ServerError,
    /// 503: the store is down or the breaker is open; the client should retry later.
    Unavailable,
}

impl Outcome {
    const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::ClientError,
        Outcome::ServerError,
        Outcome::Unavailable,
    ];
    const COUNT: usize = Self::ALL.len();

    pub fn of(status: StatusCode) -> Self {
        match status.as_u16() {
            503 => Outcome::Unavailable,
            500..=599 => Outcome::ServerError,
            400..=499 => Outcome::ClientError,
            _ => Outcome::Ok,
        }
    }

    /// The value of the `outcome` label.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// The request count and latency of one (operation, outcome); `None` is a request that matched
/// no route.
static REQUEST_METRICS: HandleTable<
    (Counter, Histogram),
    { Operation::ALL.len() + 1 },
    { Outcome::COUNT },
> = HandleTable::new();

/// Records one finished request in the metrics.
pub fn record_request(operation: Option<Operation>, status: StatusCode, latency: Duration) {
    let outcome = Outcome::of(status);
    let row = operation.map_or(Operation::ALL.len(), |operation| operation as usize);
    let (count, duration) = REQUEST_METRICS.get(row, outcome as usize, || {
        let (operation, outcome) = (operation_label(operation), outcome.name());
        (
            metrics::counter!("http_requests_total", "operation" => operation, "outcome" => outcome),
            metrics::histogram!("http_request_duration_seconds", "operation" => operation, "outcome" => outcome),
        )
    });
    count.increment(1);
    duration.record(latency.as_secs_f64());
}

/// The `operation` a request is logged and counted under.
pub fn operation_label(operation: Option<Operation>) -> &'static str {
    operation.map_or("none", Operation::name)
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

    #[test]
    fn every_operation_and_outcome_has_its_own_metric_slot() {
        for (slot, operation) in Operation::ALL.into_iter().enumerate() {
            assert_eq!(operation as usize, slot, "{operation:?}");
        }
        for (slot, outcome) in Outcome::ALL.into_iter().enumerate() {
            assert_eq!(outcome as usize, slot, "{outcome:?}");
        }
        let statuses = [200, 404, 500, 503].map(|code| StatusCode::from_u16(code).unwrap());
        let outcomes = statuses.map(Outcome::of);
        assert_eq!(outcomes, Outcome::ALL);
        for operation in Operation::ALL.map(Some).into_iter().chain([None]) {
            for status in statuses {
                record_request(operation, status, Duration::from_millis(1));
            }
        }
    }
}
