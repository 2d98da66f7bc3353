//! The generic Lambda runners: every function's `main` is one call to [`run`] (the API's
//! functions) or [`run_events`] (the table stream's function).
//!
//! One binary serves both of Lambda's modes. On-demand, Lambda sends a process one invocation
//! at a time and freezes it in between: one thread, and everything an invocation produced
//! (metrics, spans) written out before the next is asked for. On Lambda Managed Instances it
//! sends up to `AWS_LAMBDA_MAX_CONCURRENCY` invocations at once to a process that is never
//! frozen: the runtime polls with that many workers, on a thread per CPU, and every per-process
//! part (the store client, the breaker, the metrics collector, the span buffer, the cold-start
//! flag) is shared by invocations in flight together, so each is safe to share
//! (`tests/api/concurrency.rs` runs the binaries that way).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use lambda_http::lambda_runtime::layers::TracingLayer;
use lambda_http::lambda_runtime::{
    LambdaEvent, LambdaInvocation, Runtime, service_fn as event_service_fn,
};
use lambda_http::request::RequestContext;
use lambda_http::{
    Adapter, Body, BoxFuture, IntoResponse, Request, RequestExt, Response, Service, service_fn,
};
use metrics_cloudwatch_embedded::Collector;
use tokio::sync::watch;
use tracing::Instrument;

use crate::bootstrap::{self, Store};
use crate::config::{self, Config, ConfigError, EventsConfig};
use crate::events::{EventBridgeBus, PublishSettings, Publisher};
use crate::middleware::observe::{self, CallerTrace, RequestId, RequestObserver};
use crate::otlp;
use crate::telemetry::{self, LogFormat};
use crate::trace::{self, SpanContext};
use crate::transport::Api;

/// Builds logging, metrics and the store once per process, then serves the API that `endpoint`
/// makes of the store (`Api::get_user`, ...) until the Lambda runtime stops the process.
pub fn run(endpoint: fn(Arc<Store>) -> Api) -> Result<(), lambda_http::Error> {
    on_runtime_for_mode(async move |concurrent| {
        telemetry::init(LogFormat::from_env(), "users-api");
        let config = refuse_to_start_on(Config::from_env())?;
        // The recorder goes in first: the store and the API register their metric handles with
        // it when they are built.
        let metrics = metrics_recorder(&config.metrics_namespace, &config.metrics_dimensions)?;
        observe::describe_metrics();
        let api =
            endpoint(bootstrap::store(&config).await).with_idempotency_ttl(config.idempotency_ttl);
        serve(
            Runtime::new(Adapter::from(http_service(api))),
            metrics,
            concurrent,
        )
        .await
    })
}

/// The API as the Lambda runtime serves it: each request named by its invocation, answered
/// inside the request observer, its spans exported (when configured) before the answer goes.
/// Build it after the metrics recorder is installed.
pub fn http_service(
    api: Api,
) -> impl Service<Request, Response = EncodedResponse, Error = Infallible, Future: Send> + Clone {
    let observer = RequestObserver::new(api.backend());
    let served = Arc::new((observer, api));
    service_fn(move |request: Request| {
        let served = served.clone();
        async move {
            let (observer, api) = &*served;
            let id = RequestId(request_id(&request));
            let caller = caller_trace(&request);
            let response = observer
                .around(request, id, caller, |request| api.handle(request))
                .await;
            otlp::flush().await;
            Ok(EncodedResponse(response))
        }
    })
}

/// A response as the transport encoded it, handed to the runtime as it is. Its body is already
/// `Body::Text` (or `Body::Empty`), where lambda_http's own `IntoResponse for Response<B>` would
/// collect it into bytes and decode them again by the `Content-Type`'s charset: a copy and a
/// UTF-8 scan per request and, on x86_64, a CPUID probe per process (about 70 us of a cold
/// start's CPU on a VM, where CPUID traps; docs/benchmarks.md 2b).
pub struct EncodedResponse(pub Response<Body>);

impl IntoResponse for EncodedResponse {
    fn into_response(self) -> BoxFuture<'static, Response<Body>> {
        // An empty body goes out as `""`, as lambda_http's conversion sends it: `sam local`
        // warns of a Lambda answer with no body at all.
        let response = self.0.map(|body| match body {
            Body::Empty => Body::Text(String::new()),
            body => body,
        });
        Box::pin(std::future::ready(response))
    }
}

/// The trace a request joins: the caller's (`traceparent`, else `X-Amzn-Trace-Id` in the
/// event's headers), else the invocation's, as the runtime API hands it over per invocation
/// (`Lambda-Runtime-Trace-Id`: with `Tracing: Active`, the trace of Lambda's own segments).
fn caller_trace(request: &Request) -> Option<CallerTrace> {
    CallerTrace::from_headers(request.headers())
        .or_else(|| invocation_trace(request.lambda_context_ref()?).map(CallerTrace))
}

/// The invocation's trace, as the runtime API hands it over with each invocation.
fn invocation_trace(context: &lambda_http::Context) -> Option<SpanContext> {
    context.xray_trace_id.as_deref().and_then(trace::from_xray)
}

/// The invocation's request id (as in the REPORT line), else API Gateway's.
fn request_id(request: &Request) -> String {
    if let Some(context) = request
        .lambda_context_ref()
        .filter(|context| !context.request_id.is_empty())
    {
        return context.request_id.clone();
    }
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => {
            context.request_id.clone().unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// Builds logging, metrics and the EventBridge client once per process, then publishes each batch
/// of stream records Lambda delivers, answering which record to retry from (if any). Each batch
/// is a `stream.batch` span in the invocation's trace, linked to the trace of every write it
/// publishes an event for.
pub fn run_events() -> Result<(), lambda_http::Error> {
    on_runtime_for_mode(async move |concurrent| {
        telemetry::init(LogFormat::from_env(), "users-api-events");
        let config = refuse_to_start_on(EventsConfig::from_env())?;
        let metrics = metrics_recorder(&config.metrics_namespace, &config.metrics_dimensions)?;
        let bus = EventBridgeBus::new(
            bootstrap::eventbridge_client(&config).await,
            config.bus_name.clone(),
            config.source.clone(),
        );
        let settings = PublishSettings {
            include_user: config.include_user,
            ..PublishSettings::default()
        };
        let publisher = Arc::new(Publisher::new(bus, settings));
        let handler = event_service_fn(move |event: LambdaEvent<StreamEvent>| {
            let publisher = publisher.clone();
            async move {
                let records = &event.payload.records;
                let span = tracing::info_span!(
                    "stream.batch",
                    request_id = %event.context.request_id,
                    trace_id = tracing::field::Empty,
                    records = records.len(),
                );
                trace::context_of(&span, invocation_trace(&event.context).as_ref());
                let answer = publisher.publish(records).instrument(span).await;
                otlp::flush().await;
                Ok::<_, Infallible>(answer)
            }
        });
        serve(Runtime::new(handler), metrics, concurrent).await
    })
}

/// Runs `main` on the Tokio runtime the mode calls for: the current thread when Lambda sends one
/// invocation at a time (nothing more to start on a cold start), a worker thread per CPU the
/// environment has when it sends many. `main` is told which (`true`: many at once).
fn on_runtime_for_mode(
    main: impl AsyncFnOnce(bool) -> Result<(), lambda_http::Error>,
) -> Result<(), lambda_http::Error> {
    let concurrent = config::max_concurrency() > 1;
    let runtime = if concurrent {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build()?;
    runtime.block_on(main(concurrent))
}

/// Polls Lambda's runtime API for invocations of `runtime`'s handler, as many at once as the mode
/// allows, each inside the runtime's invocation span and followed by its metrics.
async fn serve<S>(
    runtime: Runtime<S>,
    metrics: &'static Collector,
    concurrent: bool,
) -> Result<(), lambda_http::Error>
where
    S: Service<LambdaInvocation, Response = (), Error = lambda_http::Error>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    runtime
        .layer(TracingLayer::new())
        .layer(InvocationLayer(Invocations::start(metrics, concurrent)))
        .run_concurrent()
        .await
}

fn refuse_to_start_on<T>(config: Result<T, ConfigError>) -> Result<T, ConfigError> {
    config.inspect_err(|error| {
        tracing::error!(%error, "invalid configuration: the function does not start");
    })
}

/// Metrics go out as CloudWatch Embedded Metric Format lines on stdout, flushed after every
/// invocation ([`Invocations`]), with the function name as a dimension.
fn metrics_recorder(
    namespace: &str,
    dimensions: &[(String, String)],
) -> Result<&'static Collector, lambda_http::Error> {
    let function =
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "users-api".to_owned());
    let mut metrics = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace.to_owned())
        .with_dimension("function", function);
    for (name, value) in dimensions {
        metrics = metrics.with_dimension(name.clone(), value.clone());
    }
    metrics.init()
}

/// What every invocation of a process goes through, around the runtime's invocation span.
///
/// Metrics: each invocation's figures are flushed once it has been answered, so an on-demand
/// instance, frozen as soon as it asks for the next invocation, never holds unsent figures; the
/// first invocation also writes the `cold_start` metric. One at a time, a flush holds exactly one
/// invocation's figures, and says so with its `request_id`. With many in flight, a flush holds
/// whatever the invocations that ended since the last flush counted (the collector's counters
/// are shared, and a document is written whole under its lock), so it carries no request id:
/// one would name a single invocation among several. The figures add up either way.
///
/// Shutdown, with many in flight: Lambda sends `SIGTERM` before it stops an environment; the
/// invocations already in flight are answered and their metrics and spans written before the
/// process exits, rather than being cut off mid-call.
#[derive(Clone)]
struct Invocations {
    metrics: &'static Collector,
    /// Counts the invocations in flight, when there can be more than one (Managed Instances).
    in_flight: Option<Arc<watch::Sender<usize>>>,
}

/// The EMF property naming the invocation a flush belongs to.
const REQUEST_ID_PROPERTY: &str = "request_id";
/// The metric written once, by a process's first invocation.
const COLD_START_METRIC: &str = "cold_start";

impl Invocations {
    /// Call from within the Tokio runtime: with many invocations at once (`concurrent`), it
    /// starts the task that drains them on `SIGTERM`.
    fn start(metrics: &'static Collector, concurrent: bool) -> Self {
        let in_flight = concurrent.then(|| {
            let counter = Arc::new(watch::Sender::new(0));
            tokio::spawn(drain_on_sigterm(counter.subscribe(), metrics));
            counter
        });
        Self { metrics, in_flight }
    }

    /// Runs `invocation`; `request_id` names its metrics when it is the only one in flight.
    async fn around<F: Future>(self, request_id: Option<String>, invocation: F) -> F::Output {
        let _in_flight = self.in_flight.as_deref().map(InFlight::enter);
        if let Some(request_id) = request_id {
            self.metrics.set_property(REQUEST_ID_PROPERTY, request_id);
        }
        static COLD: AtomicBool = AtomicBool::new(true);
        if COLD.swap(false, Ordering::Relaxed) {
            emit(|document| {
                self.metrics.write_single(
                    COLD_START_METRIC,
                    Some(metrics::Unit::Count),
                    1,
                    document,
                )
            });
        }
        let outcome = invocation.await;
        emit(|document| self.metrics.flush(document));
        outcome
    }
}

/// Writes the EMF lines `render` makes to stdout at once. The collector serializes token by
/// token, and straight into stdout every token took stdout's lock and line buffer: a tenth of a
/// warm invocation's CPU (docs/benchmarks.md, section 3). Rendered first, an invocation's lines are
/// one write, whole, whatever else writes to stdout.
fn emit(render: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) {
    use std::io::Write;
    let mut document = Vec::with_capacity(EMF_CAPACITY);
    let written = render(&mut document).and_then(|()| std::io::stdout().write_all(&document));
    if let Err(error) = written {
        tracing::warn!(%error, "metrics could not be written");
    }
}

/// Room for an invocation's EMF lines (a request's and its store call's: ~1 KB) without growing.
const EMF_CAPACITY: usize = 2048;

/// One invocation in flight, counted until it is dropped.
struct InFlight<'a>(&'a watch::Sender<usize>);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a watch::Sender<usize>) -> Self {
        counter.send_modify(|count| *count += 1);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|count| *count -= 1);
    }
}

/// On `SIGTERM`, waits for the invocations in flight to be answered, writes what they left
/// (spans, metrics) and exits. Lambda sends no new invocation once it has sent the signal.
async fn drain_on_sigterm(mut in_flight: watch::Receiver<usize>, metrics: &'static Collector) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut terminate) = signal(SignalKind::terminate()) else {
        tracing::warn!("no SIGTERM handler: invocations in flight at shutdown are cut off");
        return;
    };
    terminate.recv().await;
    let waiting = *in_flight.borrow();
    tracing::info!(
        in_flight = waiting,
        "SIGTERM: answering the invocations in flight, then exiting"
    );
    // The sender lives as long as the runtime's service; if it is gone, so is every invocation.
    let _ = in_flight.wait_for(|&count| count == 0).await;
    otlp::flush().await;
    emit(|document| metrics.flush(document));
    std::process::exit(0);
}

/// [`Invocations`] as a layer of the Lambda runtime's service stack.
struct InvocationLayer(Invocations);

impl<S> lambda_http::tower::Layer<S> for InvocationLayer {
    type Service = InvocationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InvocationService {
            invocations: self.0.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
struct InvocationService<S> {
    invocations: Invocations,
    inner: S,
}

impl<S> Service<LambdaInvocation> for InvocationService<S>
where
    S: Service<LambdaInvocation, Response = (), Error = lambda_http::Error>,
    S::Future: Send + 'static,
{
    type Response = ();
    type Error = lambda_http::Error;
    type Future = BoxFuture<'static, Result<(), lambda_http::Error>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let one_at_a_time = self.invocations.in_flight.is_none();
        let request_id = one_at_a_time.then(|| invocation.context.request_id.clone());
        let answered = self.inner.call(invocation);
        Box::pin(self.invocations.clone().around(request_id, answered))
    }
}
