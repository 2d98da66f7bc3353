//! A small hyper server that turns each HTTP request into the `lambda_http::Request` the shared
//! handler expects, so no request handling lives here.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use lambda_http::{Body, Request, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use shared::contract::headers;
use shared::middleware::observe::{CallerTrace, RequestId, RequestObserver};
use shared::otlp;
use shared::transport::{Api, ApiError, MAX_BODY_BYTES, Routed};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::cors::{Any, CorsLayer};

use crate::reference;

/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the server answers with, shared by every connection: one reference count per
/// request.
struct Served {
    api: Arc<Observed>,
    users: UsersRoutes,
    metrics: PrometheusHandle,
}

/// The users routes behind the in-flight limit: a request beyond `max_in_flight` (its body still
/// being read counts as in flight) is refused with a `503` and `Retry-After` at once instead of
/// queueing without bound, so a flood costs the clients that cause it fast refusals, not every
/// client a growing wait and the process its memory.
///
/// A semaphore's permit taken without waiting is what tower's load shedding over its concurrency
/// limit did, without the boxed stack cloned and the boxed future made for every request (~1.1k
/// of a `GET /users/{id}`'s instructions, docs/benchmarks.md section 4b).
struct Admission {
    api: Arc<Observed>,
    in_flight: Semaphore,
    limit: usize,
}

impl Admission {
    async fn answer(&self, request: hyper::Request<Incoming>) -> Response<Body> {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            metrics::counter!(SHED_METRIC).increment(1);
            return ApiError::Overloaded { limit: self.limit }.into_response();
        };
        self.api.handle(request).await
    }
}

/// The shared API inside the request observer: how every users-route request is answered.
struct Observed {
    observer: RequestObserver,
    api: Api,
}

impl Observed {
    /// Names the request and the trace it came in, then reads its body and answers it inside the
    /// observer's span, so a refused body (413) is logged and counted like any other answer.
    /// The request's spans are exported (if a collector is configured) before it is answered.
    async fn handle(&self, request: hyper::Request<Incoming>) -> Response<Body> {
        let id = RequestId(new_request_id());
        let caller = CallerTrace::from_headers(request.headers());
        let handled = |request| async move {
            match into_lambda_request(request).await {
                Ok(request) => self.api.handle(request).await,
                Err(error) => (error.into_response(), Routed::UNMATCHED),
            }
        };
        let response = self.observer.around(request, id, caller, handled).await;
        otlp::flush().await;
        response
    }
}

/// The users routes twice over one in-flight limit: as they are, and inside CORS for requests
/// from a browser (those carry `Origin`), so that a browser can read even a refusal. Other
/// clients skip the CORS layer's work on every response, which cost local-api ~12% of its
/// `GET /users/{id}` throughput (measured with wrk).
struct UsersRoutes {
    admission: Arc<Admission>,
    browser: BoxCloneSyncService<hyper::Request<Incoming>, Response<Body>, Infallible>,
}

impl UsersRoutes {
    fn new(api: Arc<Observed>, max_in_flight: usize) -> Self {
        let admission = Arc::new(Admission {
            api,
            in_flight: Semaphore::new(max_in_flight),
            limit: max_in_flight,
        });
        let behind_cors = admission.clone();
        let browser = BoxCloneSyncService::new(ServiceBuilder::new().layer(cors()).service_fn(
            move |request| {
                let admission = behind_cors.clone();
                async move { Ok(admission.answer(request).await) }
            },
        ));
        Self { admission, browser }
    }

    async fn answer(&self, request: hyper::Request<Incoming>) -> Response<Body> {
        if !request.headers().contains_key(header::ORIGIN) {
            return self.admission.answer(request).await;
        }
        match self.browser.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

/// Request headers a browser may send and response headers it may read: the same lists as the
/// `CorsConfiguration` of template.yaml (tests/api/local_api.rs compares them), so a front end that
/// works against `local-api` works against the deployed API.
pub const CORS_ALLOW_HEADERS: [HeaderName; 9] = [
    header::CONTENT_TYPE,
    header::AUTHORIZATION,
    HeaderName::from_static("x-amz-date"),
    HeaderName::from_static("x-amz-security-token"),
    HeaderName::from_static("x-amz-content-sha256"),
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    headers::IDEMPOTENCY_KEY,
    headers::TRACEPARENT,
];
pub const CORS_EXPOSE_HEADERS: [HeaderName; 4] = [
    header::ETAG,
    headers::IDEMPOTENT_REPLAYED,
    headers::REQUEST_ID,
    headers::TRACERESPONSE,
];

/// CORS for a front end under development on another local port: any origin (the server listens
/// on loopback), preflights answered before the in-flight limit, cached for ten minutes.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(CORS_ALLOW_HEADERS)
        .expose_headers(CORS_EXPOSE_HEADERS)
        .max_age(Duration::from_secs(600))
}

/// Accepts connections until `shutdown` completes, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    api: Api,
    metrics: PrometheusHandle,
    max_in_flight: usize,
    shutdown: impl Future<Output = ()>,
) {
    let api = Arc::new(Observed {
        observer: RequestObserver::new(api.backend()),
        api,
    });
    let served = Arc::new(Served {
        users: UsersRoutes::new(api.clone(), max_in_flight),
        api,
        metrics,
    });
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let served = served.clone();
        let service = service_fn(move |request| {
            let served = served.clone();
            async move { Ok::<_, Infallible>(answer(&served, request).await) }
        });
        let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining open requests");
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still open after {DRAIN_TIMEOUT:?}; closing them");
    }
}

/// The local API's own endpoints, beside the users routes.
const METRICS_PATH: &str = "/metrics";
const HEALTH_PATH: &str = "/health";
const OPENAPI_PATH: &str = "/openapi.json";

/// The contract (`openapi.yaml` at the repository's root, compiled in) as JSON, for client
/// generators and fuzzers. Converted once, on first request.
fn openapi_json() -> &'static str {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(|| {
        let spec: serde_json::Value = serde_yaml::from_str(include_str!("../../openapi.yaml"))
            .expect("openapi.yaml is valid YAML (tests/api/openapi.rs checks it)");
        spec.to_string()
    })
}

/// Counts the requests refused by the in-flight limit (Prometheus, at `/metrics`).
pub const SHED_METRIC: &str = "http_requests_shed_total";

/// `/metrics`, `/health`, `/openapi.json` and the reference at `/docs` stay outside the in-flight
/// limit, so an operator can still see a flood that the users routes are refusing.
async fn answer(
    served: &Served,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    if request.method() == Method::GET
        && let Some(page) = reference::asset(request.uri().path())
    {
        return page;
    }
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET, METRICS_PATH) => {
            let mut response = Response::new(Body::Text(served.metrics.render()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            response
        }
        (&Method::GET, HEALTH_PATH) => served.api.api.health().await,
        (&Method::GET, OPENAPI_PATH) => {
            let mut response = Response::new(Body::Text(openapi_json().to_owned()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        // The CORS layer answers every OPTIONS as a preflight; one that is not (no
        // Access-Control-Request-Method) is a method no route has: 405 with Allow, as deployed.
        (&Method::OPTIONS, _)
            if !request
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) =>
        {
            served.api.handle(request).await
        }
        _ => served.users.answer(request).await,
    };
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(data) => Bytes::from(data),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

/// Reads the body, but never more than [`MAX_BODY_BYTES`] of it, so an oversized upload is
/// refused without being buffered. A request that says it has none (a `GET`) is not read at all.
async fn into_lambda_request(request: hyper::Request<Incoming>) -> Result<Request, ApiError> {
    let (parts, body) = request.into_parts();
    if body.is_end_stream() {
        return Ok(Request::from_parts(parts, Body::Empty));
    }
    let bytes = Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|error| {
            if error.is::<http_body_util::LengthLimitError>() {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidJson("the request body could not be read".into())
            }
        })?
        .to_bytes();
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        Body::Binary(bytes.to_vec())
    };
    Ok(Request::from_parts(parts, body))
}

/// A request id unique within this process and unlikely to repeat across runs: a random
/// per-process prefix (from the standard library's hash seed) and a counter.
fn new_request_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| RandomState::new().hash_one(std::process::id()) as u32);
    request_id(*prefix, NEXT.fetch_add(1, Ordering::Relaxed))
}

/// `format!("{prefix:08x}-{count:08x}")` without the formatting machinery, which was ~5% of a
/// `GET /users/{id}`'s instructions (docs/benchmarks.md section 4b): both numbers in fixed-width
/// hex, then the counter's leading zeros beyond its first eight digits dropped.
fn request_id(prefix: u32, count: u64) -> String {
    const PREFIX_END: usize = 9;
    let mut id = [b'-'; PREFIX_END + 16];
    let written = hex::encode_to_slice(prefix.to_be_bytes(), &mut id[..PREFIX_END - 1])
        .and_then(|()| hex::encode_to_slice(count.to_be_bytes(), &mut id[PREFIX_END..]));
    debug_assert!(written.is_ok(), "the slices are exactly twice the bytes");
    let padding = (count.leading_zeros() as usize / 4).min(8);
    id.copy_within(PREFIX_END + padding.., PREFIX_END);
    String::from_utf8_lossy(&id[..id.len() - padding]).into_owned()
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM, the signals a terminal and a process manager send.
///
/// The handlers are installed now, not when the future is first polled: a process manager may
/// send SIGTERM as soon as the address line is out, and an uninstalled handler means the default
/// action, an abrupt exit.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_a_process_prefix_and_a_counter_in_hex() {
        let (first, second) = (new_request_id(), new_request_id());
        for id in [&first, &second] {
            let (prefix, count) = id.split_once('-').unwrap();
            assert_eq!((prefix.len(), count.len()), (8, 8), "{id}");
            assert!(
                id.bytes()
                    .all(|b| b == b'-' || matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            );
        }
        assert_eq!(first[..8], second[..8]);
        let count = |id: &str| u64::from_str_radix(&id[9..], 16).unwrap();
        assert_eq!(count(&second), count(&first) + 1);
    }

    #[test]
    fn a_request_id_is_the_two_numbers_as_format_writes_them_at_any_width() {
        for (prefix, count) in [
            (0, 0),
            (0xdead_beef, 1),
            (7, 0xffff_ffff),
            (u32::MAX, 1 << 32),
            (0x0102_0304, 0x1_2345_6789),
            (1, u64::MAX),
        ] {
            assert_eq!(
                request_id(prefix, count),
                format!("{prefix:08x}-{count:08x}")
            );
        }
    }
}
