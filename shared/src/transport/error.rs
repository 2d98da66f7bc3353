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

/// Every error of the contract as (status, code): what `openapi.yaml` documents. tests/openapi.rs
/// holds the two together; the unit test below holds this list and [`ApiError`] together.
pub const ERROR_CODES: &[(u16, &str)] = &[
    (400, "invalid_json"),
    (400, "invalid_argument"),
    (404, "user_not_found"),
    (404, "route_not_found"),
    (405, "method_not_allowed"),
    (409, "email_taken"),
    (412, "precondition_failed"),
    (413, "payload_too_large"),
    (422, "idempotency_key_reused"),
    (500, "internal"),
    (503, "unavailable"),
];

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

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every kind. The match below has no wildcard: a new variant does not compile
    /// until it is listed here, and so checked against `ERROR_CODES`.
    fn one_of_each() -> Vec<ApiError> {
        let examples = vec![
            ApiError::InvalidJson("x".into()),
            ApiError::RouteNotFound,
            ApiError::MethodNotAllowed { allow: vec![] },
            ApiError::PayloadTooLarge,
            ApiError::Overloaded { limit: 1 },
            ApiError::Service(ServiceError::InvalidArgument("x".into())),
            ApiError::Service(ServiceError::NotFound(
                crate::domain::UserId::new(1).unwrap(),
            )),
            ApiError::Service(ServiceError::EmailTaken),
            ApiError::Service(ServiceError::PreconditionFailed),
            ApiError::Service(ServiceError::IdempotencyKeyReused),
            ApiError::Service(ServiceError::Unavailable {
                retry_after: DEFAULT_RETRY_AFTER,
                source: "x".into(),
            }),
            ApiError::Service(ServiceError::Internal("x".into())),
        ];
        for example in &examples {
            match example {
                ApiError::InvalidJson(_)
                | ApiError::RouteNotFound
                | ApiError::MethodNotAllowed { .. }
                | ApiError::PayloadTooLarge
                | ApiError::Overloaded { .. } => {}
                ApiError::Service(service) => match service {
                    ServiceError::InvalidArgument(_)
                    | ServiceError::NotFound(_)
                    | ServiceError::EmailTaken
                    | ServiceError::PreconditionFailed
                    | ServiceError::IdempotencyKeyReused
                    | ServiceError::Unavailable { .. }
                    | ServiceError::Internal(_) => {}
                },
            }
        }
        examples
    }

    #[test]
    fn the_error_list_is_exactly_what_the_errors_produce() {
        let produced: std::collections::BTreeSet<(u16, &str)> = one_of_each()
            .iter()
            .map(|error| (error.status().as_u16(), error.code()))
            .collect();
        let listed: std::collections::BTreeSet<(u16, &str)> = ERROR_CODES.iter().copied().collect();
        assert_eq!(produced, listed);
    }
}
