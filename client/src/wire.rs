//! Reading the API's answers: users, pages and errors, by status and error `code`.

use std::time::Duration;

use http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use shared::contract::{ErrorBody, ErrorCode, UserEnvelope, headers as contract_headers};
use shared::users::{ErrorKind, UserPage, UserRecord};

/// An error answer: the API's, or API Gateway's own (`{"message": "Forbidden"}`).
#[derive(Deserialize)]
struct Answer {
    #[serde(flatten)]
    api: ErrorBody,
    #[serde(default)]
    message: String,
}

/// The `x-request-id` the server gave the answer.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(contract_headers::REQUEST_ID)
        .or_else(|| headers.get("apigw-requestid"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `Retry-After` in seconds (the form this API and API Gateway send).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// A strong `ETag` (`"3"`) as the version it names.
fn version(headers: &HeaderMap) -> Option<u64> {
    shared::contract::version_of_etag(headers.get(header::ETAG)?.to_str().ok()?)
}

fn unexpected(status: StatusCode, body: &[u8]) -> ErrorKind {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    ErrorKind::Internal {
        message: format!("unexpected answer {status}: {text}"),
    }
}

/// A `{"user": ...}` answer, its version from the `ETag`.
pub(crate) fn user(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<UserRecord, ErrorKind> {
    let mut user = serde_json::from_slice::<UserEnvelope<UserRecord>>(body)
        .map_err(|_| unexpected(status, body))?
        .user;
    user.version = version(headers);
    Ok(user)
}

pub(crate) fn page(status: StatusCode, body: &[u8]) -> Result<UserPage, ErrorKind> {
    serde_json::from_slice(body).map_err(|_| unexpected(status, body))
}

/// The failure an error answer stands for: by the API's `code` when the answer is the API's, by
/// status when a gateway in front of it answered.
pub(crate) fn error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ErrorKind {
    let parsed: Option<Answer> = serde_json::from_slice(body).ok();
    let (code, message) = match parsed {
        Some(answer) => match ErrorCode::from_name(&answer.api.code) {
            Some(code) => (Some(code), answer.api.error),
            None => (None, answer.message),
        },
        None => (None, String::new()),
    };
    match code {
        Some(ErrorCode::InvalidArgument | ErrorCode::InvalidJson | ErrorCode::PayloadTooLarge) => {
            ErrorKind::InvalidArgument { message }
        }
        Some(ErrorCode::UserNotFound) => ErrorKind::NotFound,
        Some(ErrorCode::EmailTaken) => ErrorKind::EmailTaken,
        Some(ErrorCode::PreconditionFailed) => ErrorKind::PreconditionFailed,
        Some(ErrorCode::IdempotencyKeyReused) => ErrorKind::IdempotencyKeyReused,
        Some(ErrorCode::Unavailable) => ErrorKind::Unavailable {
            retry_after: retry_after(headers),
            reason: message,
        },
        Some(
            code @ (ErrorCode::Internal | ErrorCode::RouteNotFound | ErrorCode::MethodNotAllowed),
        ) => ErrorKind::Internal {
            message: format!("{}: {message}", code.name()),
        },
        None => match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ErrorKind::Forbidden {
                message: if message.is_empty() {
                    status.to_string()
                } else {
                    message
                },
            },
            StatusCode::REQUEST_TIMEOUT
            | StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => ErrorKind::Unavailable {
                retry_after: retry_after(headers),
                reason: status.to_string(),
            },
            _ => unexpected(status, body),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn every_error_code_of_the_contract_has_a_kind_other_than_unexpected() {
        for code in ErrorCode::ALL {
            let body = serde_json::json!({"error": "why", "code": code.name()}).to_string();
            let kind = error(
                StatusCode::from_u16(code.status()).unwrap(),
                &HeaderMap::new(),
                body.as_bytes(),
            );
            let unexpected = matches!(&kind, ErrorKind::Internal { message } if message.starts_with("unexpected"));
            assert!(!unexpected, "{code:?}: {kind:?}");
        }
    }

    #[test]
    fn errors_are_read_by_code_and_gateways_by_status() {
        let body =
            br#"{"error": "the user store is temporarily unavailable", "code": "unavailable"}"#;
        assert_eq!(
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                &headers(&[("retry-after", "2")]),
                body
            ),
            ErrorKind::Unavailable {
                retry_after: Some(Duration::from_secs(2)),
                reason: "the user store is temporarily unavailable".into()
            }
        );
        let taken = br#"{"error": "email is already taken", "code": "email_taken"}"#;
        assert_eq!(
            error(StatusCode::CONFLICT, &HeaderMap::new(), taken),
            ErrorKind::EmailTaken
        );
        assert_eq!(
            error(
                StatusCode::TOO_MANY_REQUESTS,
                &HeaderMap::new(),
                br#"{"message":"Too Many Requests"}"#
            ),
            ErrorKind::Unavailable {
                retry_after: None,
                reason: "429 Too Many Requests".into()
            }
        );
        assert_eq!(
            error(
                StatusCode::FORBIDDEN,
                &HeaderMap::new(),
                br#"{"message":"Forbidden"}"#
            ),
            ErrorKind::Forbidden {
                message: "Forbidden".into()
            }
        );
        assert!(matches!(
            error(StatusCode::BAD_REQUEST, &HeaderMap::new(), b"<html>"),
            ErrorKind::Internal { .. }
        ));
    }

    #[test]
    fn a_user_takes_its_version_from_the_etag() {
        let body = br#"{"user": {"id": 7, "name": "Ada", "email": "ada@example.com", "age": 36}}"#;
        let user = user(StatusCode::OK, &headers(&[("etag", "\"3\"")]), body).unwrap();
        assert_eq!((user.id.get(), user.version), (7, Some(3)));
    }
}
