//! The error half of the contract: every failure becomes `{"error", "code"}` with its status.

use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Response};

use super::encode::json_response;
use crate::contract::{ErrorBody, ErrorCode};
use crate::service::ServiceError;
use crate::store::DEFAULT_RETRY_AFTER;

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
        StatusCode::from_u16(self.code().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The contract's name for the failure, for clients to branch on.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Service(ServiceError::InvalidArgument(_)) => ErrorCode::InvalidArgument,
            ApiError::InvalidJson(_) => ErrorCode::InvalidJson,
            ApiError::Service(ServiceError::NotFound(_) | ServiceError::NoUserWithEmail) => {
                ErrorCode::UserNotFound
            }
            ApiError::RouteNotFound => ErrorCode::RouteNotFound,
            ApiError::Service(ServiceError::EmailTaken) => ErrorCode::EmailTaken,
            ApiError::Service(ServiceError::PreconditionFailed) => ErrorCode::PreconditionFailed,
            ApiError::Service(ServiceError::IdempotencyKeyReused) => {
                ErrorCode::IdempotencyKeyReused
            }
            ApiError::Service(ServiceError::Unavailable(_)) | ApiError::Overloaded { .. } => {
                ErrorCode::Unavailable
            }
            ApiError::Service(ServiceError::Internal(_)) => ErrorCode::Internal,
            ApiError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            ApiError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
        }
    }

    /// The response a client sees. Only `Display` text is used, never the error's `source`: store
    /// and SDK details stay in the logs.
    pub fn into_response(self) -> Response<Body> {
        let body = ErrorBody {
            error: self.to_string(),
            code: self.code().name().to_owned(),
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
            ApiError::Service(ServiceError::Unavailable(unavailable)) => {
                headers.insert(
                    header::RETRY_AFTER,
                    retry_after_header(unavailable.retry_after),
                );
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
    use crate::store::Unavailable;

    /// One error of every kind. The match below has no wildcard: a new variant does not compile
    /// until it is listed here, and so checked against [`ErrorCode::ALL`].
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
            ApiError::Service(ServiceError::NoUserWithEmail),
            ApiError::Service(ServiceError::EmailTaken),
            ApiError::Service(ServiceError::PreconditionFailed),
            ApiError::Service(ServiceError::IdempotencyKeyReused),
            ApiError::Service(ServiceError::Unavailable(Unavailable {
                retry_after: DEFAULT_RETRY_AFTER,
                source: "x".into(),
            })),
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
                    | ServiceError::NoUserWithEmail
                    | ServiceError::EmailTaken
                    | ServiceError::PreconditionFailed
                    | ServiceError::IdempotencyKeyReused
                    | ServiceError::Unavailable(_)
                    | ServiceError::Internal(_) => {}
                },
            }
        }
        examples
    }

    #[test]
    fn the_error_list_is_exactly_what_the_errors_produce() {
        let produced: std::collections::BTreeSet<ErrorCode> =
            one_of_each().iter().map(ApiError::code).collect();
        assert_eq!(produced, ErrorCode::ALL.into_iter().collect());
    }
}
