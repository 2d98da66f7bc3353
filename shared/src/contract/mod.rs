//! The HTTP contract's vocabulary, written once for both sides: the server's
//! [`transport`](crate::transport) encodes with it and the client in `client/` decodes with it, so a
//! change to a code, a header, a path or an envelope is one edit that the compiler carries to both.
//! Each [`Operation`] is described here once, for the server's routing and the client's calls.
//! It needs no HTTP stack (the `http` crate's method and status types, no server or client), so
//! the client builds without lambda_http.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::domain::UserId;

mod operation;
mod user;

pub use operation::{FIND_PATH, Operation, Route, USER_PATH_PATTERN};
pub use user::{UserFields, UserRecord};

/// Every error the API answers with: its stable wire name (the body's `code`) and its status.
/// `openapi.yaml` documents exactly these (tests/api/openapi.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorCode {
    InvalidJson,
    InvalidArgument,
    UserNotFound,
    RouteNotFound,
    MethodNotAllowed,
    EmailTaken,
    PreconditionFailed,
    PayloadTooLarge,
    IdempotencyKeyReused,
    Internal,
    Unavailable,
}

impl ErrorCode {
    /// Every code, in status order.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::InvalidJson,
        ErrorCode::InvalidArgument,
        ErrorCode::UserNotFound,
        ErrorCode::RouteNotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::EmailTaken,
        ErrorCode::PreconditionFailed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
    ];

    /// The name clients branch on.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::UserNotFound => "user_not_found",
            ErrorCode::RouteNotFound => "route_not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::EmailTaken => "email_taken",
            ErrorCode::PreconditionFailed => "precondition_failed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
        }
    }

    /// The HTTP status answered with it.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidJson | ErrorCode::InvalidArgument => 400,
            ErrorCode::UserNotFound | ErrorCode::RouteNotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::EmailTaken => 409,
            ErrorCode::PreconditionFailed => 412,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::IdempotencyKeyReused => 422,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }

    /// The code a wire name stands for; `None` for anything this version does not know.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.name() == name)
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorBody {
    /// For people: never a store or SDK detail.
    #[serde(default)]
    pub error: String,
    /// An [`ErrorCode`] name, for programs.
    #[serde(default)]
    pub code: String,
}

/// The body of an answer holding one user: `{"user": ...}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct UserEnvelope<U> {
    pub user: U,
}

/// The body of a find: the address whose user to answer. Sent in a body, not the URL, so that no
/// access log keeps it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindRequest<E> {
    pub email: E,
}

/// The body of a page: `{"users": [...], "next_cursor": ...}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PageEnvelope<L> {
    pub users: L,
    pub next_cursor: Option<String>,
}

/// Headers of the contract beyond HTTP's own, lower-cased as HTTP/2 sends them. As `HeaderName`s,
/// made at compile time: a header looked up or inserted by `&str` has its name parsed first,
/// every time.
pub mod headers {
    use http::HeaderName;

    /// Makes a create safe to retry: the same key replays the first create.
    pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
    /// On a create's answer: `true` when it replays an earlier create under the same key.
    pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
    /// The request's id, on every answer and in every log line of the request.
    pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
    /// The caller's trace and span (W3C Trace Context): the request joins that trace.
    pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
    /// On every answer: the trace the request was served in and the server's span in it, in
    /// `traceparent`'s format (W3C Trace Context level 2).
    pub const TRACERESPONSE: HeaderName = HeaderName::from_static("traceresponse");
    /// AWS X-Ray's trace header: read when no `traceparent` came, sent to DynamoDB.
    pub const AMZN_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");
}

/// The collection: `POST` creates, `GET` lists.
pub const USERS_PATH: &str = "/users";

/// Where one user lives.
pub fn user_path(id: UserId) -> String {
    format!("{USERS_PATH}/{id}")
}

/// The strong entity tag of a user at `version`: `"3"`. Written without `format!`, which was
/// ~1.5% of a `GET /users/{id}`'s instructions (docs/benchmarks.md section 4b).
pub fn etag(version: u64) -> String {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(version);
    let mut tag = String::with_capacity(digits.len() + 2);
    tag.push('"');
    tag.push_str(digits);
    tag.push('"');
    tag
}

/// The version a strong entity tag names; `None` for a weak or foreign tag.
pub fn version_of_etag(tag: &str) -> Option<u64> {
    tag.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

/// A listing cursor that [`encode_cursor`] did not make: a client error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cursor is invalid")]
pub struct InvalidCursor;

const CURSOR_VERSION: &str = "v1:";

/// The cursor that continues a listing after `last`. Opaque to clients (versioned base64), so the
/// pagination scheme can change without breaking them.
pub fn encode_cursor(last: UserId) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_VERSION}{last}"))
}

/// The id a cursor continues after.
pub fn decode_cursor(cursor: &str) -> Result<UserId, InvalidCursor> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(CURSOR_VERSION)?.parse().ok())
        .ok_or(InvalidCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_from_its_name_and_names_are_unique() {
        let names = ErrorCode::ALL.map(ErrorCode::name);
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_name(code.name()), Some(code));
        }
        assert_eq!(
            names
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            ErrorCode::ALL.len()
        );
        assert_eq!(ErrorCode::from_name("teapot"), None);
    }

    #[test]
    fn etags_name_versions_both_ways() {
        assert_eq!(etag(7), "\"7\"");
        assert_eq!(version_of_etag(&etag(u64::MAX)), Some(u64::MAX));
        assert_eq!(version_of_etag("W/\"7\""), None);
        assert_eq!(user_path(UserId::new(5).unwrap()), "/users/5");
    }

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let id = UserId::new(12345).unwrap();
        assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        let zero = URL_SAFE_NO_PAD.encode("v1:0");
        let negative = URL_SAFE_NO_PAD.encode("v1:-3");
        let unversioned = URL_SAFE_NO_PAD.encode("12");
        for bad in [
            "",
            "12",
            "!!!",
            "djE6",
            zero.as_str(),
            negative.as_str(),
            unversioned.as_str(),
        ] {
            assert_eq!(decode_cursor(bad), Err(InvalidCursor), "{bad:?}");
        }
    }
}
