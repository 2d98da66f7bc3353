//! The error half of the contract: every failure becomes `{"error", "code"}` with its status.

use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Response};

use super::encode::json_response;
use crate::service::ServiceError;
use crate::store::DEFAULT_RETRY_AFTER;

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    code: &'static str,
}

/// A `Retry-After` header value: whole seconds, rounded up, at least one.
pub(crate) fn retry_after_header(wait: std::time::Duration) -> HeaderValue {
    HeaderValue::from(wait.as_secs_f64().ceil().max(1.0) as u64)
}

/// Every way a request can fail, from routing to the store.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The body is not JSON, or not JSON of the expected shape and types.
    #[error("{0}")]
    InvalidJson(String),
    #[error("no route matches this path")]
    RouteNotFound,
    #[error("method not allowed on this path")]
    MethodNotAllowed { allow: Vec<Method> },
    #[error("request body is larger than 64 KiB")]
    PayloadTooLarge,
    /// The server already has as many requests in flight as it admits: refused at once, rather
    /// than queued without bound behind them.
    #[error("the server is at its limit of {limit} requests in flight; retry shortly")]
    Overloaded { limit: usize },
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Service(ServiceError::InvalidArgument(_)) | ApiError::InvalidJson(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Service(ServiceError::NotFound(_)) | ApiError::RouteNotFound => {
                StatusCode::NOT_FOUND
            }
            ApiError::Service(ServiceError::EmailTaken) => StatusCode::CONFLICT,
            ApiError::Service(ServiceError::PreconditionFailed) => StatusCode::PRECONDITION_FAILED,
            ApiError::Service(ServiceError::IdempotencyKeyReused) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Service(ServiceError::Unavailable { .. }) | ApiError::Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Service(ServiceError::Internal(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// A stable, machine-readable name for the failure, for clients to branch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Service(ServiceError::InvalidArgument(_)) => "invalid_argument",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::Service(ServiceError::NotFound(_)) => "user_not_found",
            ApiError::RouteNotFound => "route_not_found",
            ApiError::Service(ServiceError::EmailTaken) => "email_taken",
            ApiError::Service(ServiceError::PreconditionFailed) => "precondition_failed",
            ApiError::Service(ServiceError::IdempotencyKeyReused) => "idempotency_key_reused",
            ApiError::Service(ServiceError::Unavailable { .. }) | ApiError::Overloaded { .. } => {
                "unavailable"
            }
            ApiError::Service(ServiceError::Internal(_)) => "internal",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
        }
    }

    /// The response a client sees. Only `Display` text is used, never the error's `source`: store
    /// and SDK details stay in the logs.
    pub fn into_response(self) -> Response<Body> {
        let body = ErrorBody {
            error: &self.to_string(),
            code: self.code(),
        };
        let mut response = json_response(self.status(), &body);
        let headers = response.headers_mut();
        match &self {
            ApiError::MethodNotAllowed { allow } => {
                let allow = allow
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                if let Ok(value) = HeaderValue::from_str(&allow) {
                    headers.insert(header::ALLOW, value);
                }
            }
            ApiError::Service(ServiceError::Unavailable { retry_after, .. }) => {
                headers.insert(header::RETRY_AFTER, retry_after_header(*retry_after));
            }
            ApiError::Overloaded { .. } => {
                headers.insert(header::RETRY_AFTER, retry_after_header(DEFAULT_RETRY_AFTER));
            }
            _ => {}
        }
        response
    }
}
