//! An OTLP/HTTP trace receiver on loopback: what a collector (the ADOT layer, a sidecar) would be
//! to a process under test. It decodes each export with the OTLP protobuf types and keeps the
//! spans, so a test can check what a process sent, offline.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;
use tokio::net::TcpListener;

/// One received span, flattened from its resource and scope.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub attributes: Vec<(String, String)>,
    pub events: Vec<String>,
    /// The trace ids of the spans this one links to.
    pub linked_traces: Vec<String>,
    /// The exporting process's `service.name`.
    pub service: String,
}

impl ReceivedSpan {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }
}

/// The receiver: `endpoint()` is what `OTEL_EXPORTER_OTLP_ENDPOINT` is set to.
pub struct OtlpReceiver {
    address: SocketAddr,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

impl OtlpReceiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind OTLP");
        let address = listener.local_addr().expect("OTLP address");
        let spans = Arc::new(Mutex::new(Vec::new()));
        let received = spans.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let received = received.clone();
                let service = service_fn(move |request: http::Request<Incoming>| {
                    let received = received.clone();
                    async move { Ok::<_, Infallible>(receive(request, &received).await) }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Self { address, spans }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Where it listens, for a proxy put in front of it.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until a span of `trace_id` named `name` has arrived, then returns every
    /// span of that trace.
    pub async fn trace_with(&self, trace_id: &str, name: &str) -> Vec<ReceivedSpan> {
        for _ in 0..200 {
            let trace: Vec<_> = self
                .spans()
                .into_iter()
                .filter(|span| span.trace_id == trace_id)
                .collect();
            if trace.iter().any(|span| span.name == name) {
                return trace;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no {name} span of trace {trace_id} arrived: {:#?}",
            self.spans()
        );
    }
}

async fn receive(
    request: http::Request<Incoming>,
    received: &Mutex<Vec<ReceivedSpan>>,
) -> http::Response<Full<Bytes>> {
    let answer = |status| {
        http::Response::builder()
            .status(status)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let is_protobuf = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|value| value == "application/x-protobuf");
    if request.uri().path() != "/v1/traces" || !is_protobuf {
        return answer(StatusCode::NOT_FOUND);
    }
    let Ok(body) = request.into_body().collect().await else {
        return answer(StatusCode::BAD_REQUEST);
    };
    let Ok(export) = ExportTraceServiceRequest::decode(body.to_bytes()) else {
        return answer(StatusCode::BAD_REQUEST);
    };
    let mut spans = received.lock().unwrap();
    for resource_spans in export.resource_spans {
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|resource| text(&resource.attributes, "service.name"))
            .unwrap_or_default();
        for span in resource_spans
            .scope_spans
            .into_iter()
            .flat_map(|scope| scope.spans)
        {
            spans.push(ReceivedSpan {
                name: span.name,
                trace_id: hex::encode(&span.trace_id),
                span_id: hex::encode(&span.span_id),
                parent_span_id: hex::encode(&span.parent_span_id),
                attributes: span
                    .attributes
                    .iter()
                    .map(|kv| (kv.key.clone(), display(kv)))
                    .collect(),
                events: span.events.into_iter().map(|event| event.name).collect(),
                linked_traces: span
                    .links
                    .iter()
                    .map(|link| hex::encode(&link.trace_id))
                    .collect(),
                service: service.clone(),
            });
        }
    }
    answer(StatusCode::OK)
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).map(display)
}

/// An attribute's value as text, whatever its type.
fn display(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|value| value.value.as_ref()) {
        Some(Value::StringValue(text)) => text.clone(),
        Some(Value::BoolValue(flag)) => flag.to_string(),
        Some(Value::IntValue(number)) => number.to_string(),
        Some(Value::DoubleValue(number)) => number.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}
