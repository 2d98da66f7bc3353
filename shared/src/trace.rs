//! Which trace a request belongs to: read from the headers that carry it (W3C `traceparent`,
//! AWS's `X-Amzn-Trace-Id`), started where nothing carried one, and handed on to every call the
//! request makes, so one request can be followed from the client through the API to DynamoDB.
//!
//! A trace context is OpenTelemetry's [`SpanContext`]; parsing is OpenTelemetry's own propagators
//! (W3C Trace Context, and the X-Ray propagator of `opentelemetry-aws`), and so is formatting, but
//! for `traceparent`, written the way the W3C propagator writes it (a test holds them equal); new
//! ids are ones X-Ray accepts ([`XrayIds`]). While a request is answered its span is
//! OpenTelemetry's current context ([`in_span`]), which is how the DynamoDB client finds it
//! ([`current`]).

use std::collections::HashMap;
use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderName;
use opentelemetry::Context;
use opentelemetry::context::FutureExt;
use opentelemetry::propagation::TextMapPropagator;
pub use opentelemetry::trace::{SpanContext, SpanId, TraceId};
use opentelemetry::trace::{TraceContextExt, TraceFlags, TraceState};
use opentelemetry_aws::trace::xray_propagator::{span_context_from_str, span_context_to_string};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::contract::headers;

/// Trace and span ids X-Ray accepts: a trace id's first 4 bytes are the epoch second it began,
/// the other 12 random; span ids random. The ids opentelemetry-aws's `XrayIdGenerator` makes, but
/// without its round trip through two formatted strings and a parse for every new trace, which
/// was ~1% of `local-api`'s CPU per `GET` (docs/benchmarks.md, section 4).
#[derive(Debug, Default)]
pub struct XrayIds(RandomIdGenerator);

impl IdGenerator for XrayIds {
    fn new_trace_id(&self) -> TraceId {
        let random = u128::from_be_bytes(self.0.new_trace_id().to_bytes());
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let started = u128::from(started as u32) << 96;
        TraceId::from_bytes((started | random & ((1 << 96) - 1)).to_be_bytes())
    }

    fn new_span_id(&self) -> SpanId {
        self.0.new_span_id()
    }
}

/// A new span: a child of `parent` (same trace, new span id, the parent's sampling decision), or
/// the root of a new, sampled trace.
pub fn new_span(parent: Option<&SpanContext>) -> SpanContext {
    let ids = XrayIds::default();
    match parent.filter(|parent| parent.trace_id() != TraceId::INVALID) {
        Some(parent) => SpanContext::new(
            parent.trace_id(),
            ids.new_span_id(),
            parent.trace_flags(),
            false,
            parent.trace_state().clone(),
        ),
        None => SpanContext::new(
            ids.new_trace_id(),
            ids.new_span_id(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
    }
}

/// The trace context of `span`, a child of `parent` if given (a remote caller's) or of the span
/// it is in: with spans exported ([`crate::otlp`]), the ids of the OpenTelemetry span `span`
/// became, so the ids in logs and headers are the exported spans'; without, a new span context
/// ([`new_span`]). Its trace id is recorded as `span`'s `trace_id` field, where it declares one.
pub fn context_of(span: &tracing::Span, parent: Option<&SpanContext>) -> SpanContext {
    if let Some(parent) = parent {
        // Fails only where no span layer is installed, which the check below sees.
        let _ = span.set_parent(Context::new().with_remote_span_context(parent.clone()));
    }
    let exported = span.context().span().span_context().clone();
    let context = if exported.is_valid() {
        exported
    } else {
        new_span(parent)
    };
    span.record("trace_id", tracing::field::display(context.trace_id()));
    context
}

/// The trace a request carries: its `traceparent`, else its `X-Amzn-Trace-Id`; `header` looks a
/// header up by its name. Malformed values are ignored, as the W3C specification asks.
pub fn incoming<'a>(header: impl Fn(&HeaderName) -> Option<&'a str>) -> Option<SpanContext> {
    header(&headers::TRACEPARENT)
        .and_then(from_traceparent)
        .or_else(|| header(&headers::AMZN_TRACE_ID).and_then(from_xray))
}

/// A W3C `traceparent` value.
pub fn from_traceparent(value: &str) -> Option<SpanContext> {
    let carrier = HashMap::from([(headers::TRACEPARENT.as_str().to_owned(), value.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    let span = context.span().span_context().clone();
    span.is_valid().then_some(span)
}

/// `span` as a W3C `traceparent` value (version `00`), written as OpenTelemetry's propagator
/// writes it but without its carrier: every response's `traceresponse` is one, and the
/// propagator's map, context and `tracestate` string were a per-request cost for nothing, as was
/// the formatting machinery (the value is fixed-width hex). An invalid span is the empty string,
/// as the propagator leaves it.
pub fn to_traceparent(span: &SpanContext) -> String {
    if !span.is_valid() {
        return String::new();
    }
    let mut value = *b"00-00000000000000000000000000000000-0000000000000000-00";
    // Each slice is twice its id's length, the one thing `encode_to_slice` checks.
    let written = hex::encode_to_slice(span.trace_id().to_bytes(), &mut value[3..35])
        .and_then(|()| hex::encode_to_slice(span.span_id().to_bytes(), &mut value[36..52]));
    if span.is_sampled() {
        value[54] = b'1';
    }
    match (written, String::from_utf8(value.to_vec())) {
        (Ok(()), Ok(value)) => value,
        _ => String::new(),
    }
}

/// An X-Ray trace header (`Root=1-...;Parent=...;Sampled=1`), as API Gateway, Lambda's runtime API
/// and the AWS SDKs write it. A header without `Parent` (a trace whose first segment is yet to
/// come) still names its trace. Only the trace id, parent and sampling decision are kept: any
/// other `key=value` pairs are the caller's to choose (kilobytes of them), and kept they would be
/// re-sent on every DynamoDB request of the call and exported with its spans.
pub fn from_xray(value: &str) -> Option<SpanContext> {
    span_context_from_str(value)
        .filter(|span| span.trace_id() != TraceId::INVALID)
        .map(|span| {
            SpanContext::new(
                span.trace_id(),
                span.span_id(),
                span.trace_flags(),
                span.is_remote(),
                TraceState::default(),
            )
        })
}

/// `span` as an X-Ray trace header.
pub fn to_xray(span: &SpanContext) -> Option<String> {
    span_context_to_string(span)
}

/// Runs `future` with `span` as OpenTelemetry's current context, so that whatever it calls (the
/// DynamoDB client's interceptor) can find the span to continue.
pub fn in_span<F: Future>(span: &SpanContext, future: F) -> impl Future<Output = F::Output> {
    future.with_context(Context::new().with_remote_span_context(span.clone()))
}

/// The span of the request being answered on this task, if any.
pub fn current() -> Option<SpanContext> {
    let span = Context::current().span().span_context().clone();
    span.is_valid().then_some(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACEPARENT: &str = "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01";

    #[test]
    fn traceparent_is_written_as_the_w3c_propagator_writes_it() {
        let sampled = from_traceparent(TRACEPARENT).unwrap();
        let unsampled = SpanContext::new(
            sampled.trace_id(),
            sampled.span_id(),
            TraceFlags::default(),
            true,
            TraceState::from_key_value([("vendor", "value")]).unwrap(),
        );
        for span in [
            sampled,
            unsampled,
            new_span(None),
            SpanContext::empty_context(),
        ] {
            let mut carrier = HashMap::new();
            let context = Context::new().with_remote_span_context(span.clone());
            TraceContextPropagator::new().inject_context(&context, &mut carrier);
            let propagated = carrier
                .remove(headers::TRACEPARENT.as_str())
                .unwrap_or_default();
            assert_eq!(to_traceparent(&span), propagated, "{span:?}");
        }
    }

    #[test]
    fn both_formats_read_the_same_trace_and_write_it_back() {
        let w3c = from_traceparent(TRACEPARENT).unwrap();
        assert_eq!(
            w3c.trace_id().to_string(),
            "5759e988bd862e3fe1be46a994272793"
        );
        assert_eq!(to_traceparent(&w3c), TRACEPARENT);
        let xray = to_xray(&w3c).unwrap();
        assert_eq!(
            xray,
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        );
        assert_eq!(from_xray(&xray).unwrap(), w3c);
    }

    #[test]
    fn traceparent_wins_and_garbage_is_no_trace() {
        let xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let both = |name: &HeaderName| match name.as_str() {
            "traceparent" => Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            "x-amzn-trace-id" => Some(xray),
            _ => None,
        };
        let trace = incoming(both).unwrap().trace_id().to_string();
        assert_eq!(trace, "0af7651916cd43dd8448eb211c80319c");
        let only_xray = |name: &HeaderName| (name == "x-amzn-trace-id").then_some(xray);
        let trace = incoming(only_xray).unwrap().trace_id().to_string();
        assert_eq!(trace, "5759e988bd862e3fe1be46a994272793");
        for garbage in [
            "",
            "00-zz-yy-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        ] {
            assert_eq!(from_traceparent(garbage), None, "{garbage}");
        }
        assert_eq!(from_xray("Root=nonsense"), None);
        let root_only = from_xray("Root=1-5759e988-bd862e3fe1be46a994272793").unwrap();
        let child = new_span(Some(&root_only));
        assert_eq!(child.trace_id(), root_only.trace_id());
        assert!(child.is_valid());
        assert_eq!(incoming(|_| None), None);
    }

    #[test]
    fn a_callers_extra_x_ray_fields_are_not_kept_nor_handed_on() {
        let extras: String = (0..30)
            .map(|n| format!(";caller{n}={}", "x".repeat(250)))
            .collect();
        let header = format!(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1{extras}"
        );
        assert!(
            span_context_from_str(&header)
                .unwrap()
                .trace_state()
                .header()
                .len()
                > 7_000
        );
        let parsed = from_xray(&header).unwrap();
        assert_eq!(parsed.trace_state().header(), "");
        let handed_on = to_xray(&new_span(Some(&parsed))).unwrap();
        assert!(handed_on.starts_with("Root=1-5759e988-bd862e3fe1be46a994272793;Parent="));
        assert!(handed_on.len() < 80, "{handed_on}");
    }

    #[test]
    fn a_child_keeps_its_trace_and_a_root_starts_one_x_ray_accepts() {
        let parent = from_traceparent(TRACEPARENT).unwrap();
        let child = new_span(Some(&parent));
        assert_eq!(child.trace_id(), parent.trace_id());
        assert_ne!(child.span_id(), parent.span_id());
        let root = new_span(None);
        assert_ne!(root.trace_id(), parent.trace_id());
        assert!(root.is_sampled());
        // X-Ray trace ids start with the epoch second the trace began.
        let started = u64::from_str_radix(&root.trace_id().to_string()[..8], 16).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(now.abs_diff(started) < 60, "{started} vs {now}");
        // The other 12 bytes are random: a thousand new traces share none of them.
        let randoms: std::collections::HashSet<[u8; 12]> = (0..1000)
            .map(|_| {
                new_span(None).trace_id().to_bytes()[4..]
                    .try_into()
                    .unwrap()
            })
            .collect();
        assert_eq!(randoms.len(), 1000);
    }

    #[tokio::test]
    async fn the_span_is_current_inside_in_span_only() {
        let span = new_span(None);
        assert_eq!(current(), None);
        let inside = in_span(&span, async { current() }).await;
        assert_eq!(inside, Some(span));
        assert_eq!(current(), None);
    }
}
