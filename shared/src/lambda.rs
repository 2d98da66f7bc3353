//! The generic Lambda runners: every function's `main` is one call to [`run`] (the API's
//! functions) or [`run_events`] (the table stream's function).

use std::convert::Infallible;
use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use lambda_http::lambda_runtime::{LambdaEvent, service_fn as event_service_fn};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response, Service, service_fn};
use metrics_cloudwatch_embedded::Collector;
use tracing::Instrument;

use crate::bootstrap::{self, Store};
use crate::config::{Config, ConfigError, EventsConfig};
use crate::events::{EventBridgeBus, PublishSettings, Publisher};
use crate::middleware::observe::{self, CallerTrace, RequestId, RequestObserver};
use crate::otlp;
use crate::telemetry::{self, LogFormat};
use crate::trace::{self, SpanContext};
use crate::transport::Api;

/// Builds logging, metrics and the store once per process, then serves the API that `endpoint`
/// makes of the store (`Api::get_user`, ...) until the Lambda runtime stops the process.
pub async fn run(endpoint: fn(Arc<Store>) -> Api) -> Result<(), lambda_http::Error> {
    telemetry::init(LogFormat::from_env(), "users-api");
    let config = refuse_to_start_on(Config::from_env())?;
    // The recorder goes in first: the store and the API register their metric handles with it
    // when they are built.
    let metrics = metrics_recorder(&config.metrics_namespace, &config.metrics_dimensions)?;
    observe::describe_metrics();
    let api =
        endpoint(bootstrap::store(&config).await).with_idempotency_ttl(config.idempotency_ttl);
    metrics_cloudwatch_embedded::lambda::service::run_http(metrics, http_service(api)).await
}

/// The API as the Lambda runtime serves it: each request named by its invocation, answered
/// inside the request observer, its spans exported (when configured) before the answer goes.
/// Build it after the metrics recorder is installed.
pub fn http_service(
    api: Api,
) -> impl Service<Request, Response = Response<Body>, Error = Infallible, Future: Send> + Clone {
    let observer = RequestObserver::new(api.backend());
    let served = Arc::new((observer, api));
    service_fn(move |mut request: Request| {
        let served = served.clone();
        async move {
            let (observer, api) = &*served;
            let id = request_id(&request);
            let caller = caller_trace(&request);
            request.extensions_mut().insert(RequestId(id));
            if let Some(caller) = caller {
                request.extensions_mut().insert(caller);
            }
            let response = observer
                .around(request, |request| api.handle(request))
                .await;
            otlp::flush().await;
            Ok(response)
        }
    })
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
pub async fn run_events() -> Result<(), lambda_http::Error> {
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
    metrics_cloudwatch_embedded::lambda::service::run(
        metrics,
        event_service_fn(move |event: LambdaEvent<StreamEvent>| {
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
        }),
    )
    .await
}

fn refuse_to_start_on<T>(config: Result<T, ConfigError>) -> Result<T, ConfigError> {
    config.inspect_err(|error| {
        tracing::error!(%error, "invalid configuration: the function does not start");
    })
}

/// Metrics go out as CloudWatch Embedded Metric Format lines on stdout, flushed after every
/// invocation (so a frozen instance never holds unsent figures), with the function name as a
/// dimension and a `cold_start` metric on the first invocation.
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
    metrics
        .lambda_cold_start_metric("cold_start")
        .with_lambda_request_id("request_id")
        .init()
}
