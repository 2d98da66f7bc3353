//! Spans exported over OTLP when a collector is configured, and nothing at all when not; for the
//! server's processes and the `users` CLI alike.
//!
//! With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set,
//! [`with_spans`] turns the client's call and attempt spans, the request spans, store-call spans
//! and the AWS SDK's operation and attempt spans into OpenTelemetry spans
//! (`tracing-opentelemetry`), held in memory as they finish and sent by [`flush`] once the request
//! is answered: a Lambda instance is frozen after each invocation, so spans still queued in a
//! background exporter would be sent late or never. Without a collector there is no layer, and a
//! span costs what a `tracing` span costs.
//!
//! OTLP goes over HTTP (protobuf) to a collector: the ADOT collector Lambda layer or a sidecar
//! (`http://localhost:4318` for both). The exporter neither retries nor waits long (1 s unless
//! `OTEL_EXPORTER_OTLP_TIMEOUT` says otherwise): spans are diagnostics, and under Lambda the
//! flush is on the invocation's time. An export that fails is one warning in the log.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use aws_smithy_http_client::Connector;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body_util::BodyExt;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{RetryPolicy, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    SdkTracer, SdkTracerProvider, Span, SpanData, SpanExporter as _, SpanProcessor,
};
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

/// How long one export may take when `OTEL_EXPORTER_OTLP_TIMEOUT` does not say.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(1);

/// The variables that turn export on, as the OpenTelemetry specification names them.
const ENDPOINT_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];
/// The variables that bound one export, in milliseconds.
const TIMEOUT_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
];

/// The process's exporter, set once by [`with_spans`].
static EXPORT: OnceLock<Export> = OnceLock::new();

struct Export {
    finished: Finished,
    exporter: SpanExporter,
    /// Owns the span pipeline; dropping it would end export.
    _provider: SdkTracerProvider,
}

/// `logs` with a layer that makes OpenTelemetry spans of [`exported`] spans when a collector is
/// configured, and `logs` alone when not; `service` names the process where `OTEL_SERVICE_NAME`
/// does not. Alone means no span layer at all: an absent `Option` layer still counts as one that
/// wants every span, so each span the logs drop would be made, recorded into and closed for
/// nothing. A second call in one process (tests start several servers) gets no exporter: the first
/// pipeline stays, as the first subscriber does.
pub fn with_spans<S>(logs: S, service: &str) -> Box<dyn Subscriber + Send + Sync>
where
    S: Subscriber + for<'span> LookupSpan<'span> + Send + Sync + 'static,
{
    let Some(tracer) = tracer(service) else {
        return Box::new(logs);
    };
    let spans = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_threads(false)
        // Source paths say nothing an operator needs and would ship the build machine's.
        .with_location(false)
        .with_filter(filter_fn(exported));
    Box::new(logs.with(spans))
}

fn tracer(service: &str) -> Option<SdkTracer> {
    let endpoint = ENDPOINT_VARIABLES.iter().find_map(|name| set(name))?;
    let https = endpoint.starts_with("https:");
    let resource = resource(service);
    let timeout = TIMEOUT_VARIABLES
        .iter()
        .find_map(|name| set(name)?.parse().ok())
        .map_or(EXPORT_TIMEOUT, Duration::from_millis);
    let exporter = SpanExporter::builder()
        .with_http()
        .with_http_client(SdkConnector::new(timeout, https))
        .with_timeout(timeout)
        .with_retry_policy(RetryPolicy::disabled());
    let mut exporter = match exporter.build() {
        Ok(exporter) => exporter,
        Err(error) => {
            eprintln!("spans are not exported: {error}");
            return None;
        }
    };
    exporter.set_resource(&resource);
    let finished = Finished::default();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(finished.clone())
        .with_id_generator(crate::trace::XrayIds::default())
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("users-api");
    let export = Export {
        finished,
        exporter,
        _provider: provider,
    };
    match EXPORT.set(export) {
        Ok(()) => Some(tracer),
        Err(_) => None,
    }
}

/// Who is exporting: `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` as the specification
/// says, else the function's name; and the Lambda function's name, version and region.
fn resource(service: &str) -> Resource {
    let function = set("AWS_LAMBDA_FUNCTION_NAME");
    let mut resource = Resource::builder();
    if set("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(function.clone().unwrap_or_else(|| service.into()));
    }
    if let Some(function) = function {
        resource = resource.with_attributes([
            KeyValue::new("cloud.provider", "aws"),
            KeyValue::new("cloud.platform", "aws_lambda"),
            KeyValue::new("faas.name", function),
        ]);
    }
    for (variable, attribute) in [
        ("AWS_LAMBDA_FUNCTION_VERSION", "faas.version"),
        ("AWS_REGION", "cloud.region"),
    ] {
        if let Some(value) = set(variable) {
            resource = resource.with_attribute(KeyValue::new(attribute, value));
        }
    }
    resource.build()
}

/// The value of the environment variable `name`; empty counts as unset, as the specification
/// asks.
fn set(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Which spans and events become OpenTelemetry's: this crate's and the client's spans and
/// events (a call and its attempts, the request, its store calls, the breakers' decisions) and
/// the AWS SDK's span per operation and per attempt. None of them carries a request or response
/// body.
fn exported(metadata: &Metadata<'_>) -> bool {
    let target = metadata.target();
    let ours = ["shared", "client"]
        .iter()
        .any(|krate| target == *krate || target.starts_with(&format!("{krate}::")));
    if metadata.is_span() {
        ours || (target.starts_with("aws_sdk_") && metadata.name().contains('.'))
            || (target.starts_with("aws_smithy_runtime") && metadata.name() == "try_attempt")
    } else {
        ours && *metadata.level() <= Level::DEBUG
    }
}

/// Sends the spans finished so far to the collector, if one is configured. The edges call it
/// after each request is answered, once its span has closed; the CLI before it exits.
pub async fn flush() {
    let Some(export) = EXPORT.get() else {
        return;
    };
    let batch = export.finished.take();
    if batch.is_empty() {
        return;
    }
    let spans = batch.len();
    if let Err(error) = export.exporter.export(batch).await {
        tracing::warn!(%error, spans, "spans could not be exported");
    }
}

/// Most spans held between flushes; more are dropped rather than held without bound.
const MAX_HELD: usize = 4096;

/// The finished, sampled spans not yet exported.
#[derive(Debug, Clone, Default)]
struct Finished(Arc<Mutex<Vec<SpanData>>>);

impl Finished {
    fn take(&self) -> Vec<SpanData> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl SpanProcessor for Finished {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if held.len() < MAX_HELD {
            held.push(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// OTLP's HTTP client: the AWS SDK's own connector (hyper, rustls on *ring*), already in every
/// binary, rather than opentelemetry-http's second hyper client stack, which made get-user
/// 0.23 MB larger (6.85 against 6.62 MB). Built on the first export; the trust roots (parsing
/// them costs ~1 ms) only for an `https` collector.
#[derive(Debug)]
struct SdkConnector {
    connector: OnceLock<Connector>,
    timeout: Duration,
    https: bool,
}

impl SdkConnector {
    fn new(timeout: Duration, https: bool) -> Self {
        Self {
            connector: OnceLock::new(),
            timeout,
            https,
        }
    }

    fn connector(&self) -> &Connector {
        self.connector.get_or_init(|| {
            let settings = HttpConnectorSettings::builder()
                .connect_timeout(self.timeout)
                .read_timeout(self.timeout)
                .build();
            let roots = if self.https {
                trust_store()
            } else {
                TrustStore::empty()
            };
            let tls = TlsContext::builder()
                .with_trust_store(roots)
                .build()
                .expect("a TLS context with only a trust store is always valid");
            Connector::builder()
                .connector_settings(settings)
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .tls_context(tls)
                .build()
        })
    }
}

/// The server processes' roots: what their AWS clients trust (`TLS_TRUST_STORE`, and
/// `AWS_CA_BUNDLE` beside it), so a collector behind the same private CA or TLS-intercepting proxy
/// is trusted alike. Read again here, on the first export, because spans are set up before the
/// configuration; a bundle that does not read stopped the process at start-up already. The CLI,
/// built without the AWS clients, trusts the system's store.
fn trust_store() -> TrustStore {
    #[cfg(feature = "aws")]
    return match crate::config::TrustRoots::from_env() {
        Ok(roots) => crate::bootstrap::trust_store(&roots),
        Err(error) => {
            tracing::warn!(%error, "spans are exported trusting the default roots");
            crate::bootstrap::trust_store(&crate::config::TrustRoots::default())
        }
    };
    #[cfg(not(feature = "aws"))]
    return TrustStore::default();
}

#[async_trait::async_trait]
impl HttpClient for SdkConnector {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let request = HttpRequest::try_from(request.map(SdkBody::from))?;
        let response = self.connector().call(request);
        let exchange = async {
            let response = response.await?.try_into_http1x()?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, HttpError>(http::Response::from_parts(parts, body))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {:?}", self.timeout))?
    }
}
