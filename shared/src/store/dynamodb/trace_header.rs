//! The trace header on every DynamoDB request, so AWS's side of a call joins the request's trace.

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use http::HeaderValue;

use crate::contract::headers;
use crate::trace;

/// Sets `X-Amzn-Trace-Id` on each attempt to the span of the request being answered
/// ([`trace::current`]). Under Lambda the SDK would otherwise send the invocation's header, read
/// from a process-wide variable (`_X_AMZN_TRACE_ID`), and elsewhere none: this one is the request's
/// own span, per task, whatever the runtime.
#[derive(Debug)]
pub(crate) struct TraceHeader;

impl Intercept for TraceHeader {
    fn name(&self) -> &'static str {
        "TraceHeader"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let header = trace::current().as_ref().and_then(trace::to_xray);
        if let Some(value) = header.and_then(|h| HeaderValue::from_str(&h).ok()) {
            context
                .request_mut()
                .headers_mut()
                .insert(headers::AMZN_TRACE_ID, value);
        }
        Ok(())
    }
}
