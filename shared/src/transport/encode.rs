//! Turning results into JSON responses.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::contract::{
    self, Operation, PageEnvelope, UserEnvelope, UserRecord, encode_cursor, user_path,
};
use crate::domain::{Page, User};

/// A JSON response. Serialising our own plain types cannot fail; if it somehow did, the client
/// still gets a well-formed 500 rather than a panic.
pub(super) fn json_response(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let (status, text) = match serde_json::to_string(value) {
        Ok(text) => (status, text),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":"internal error","code":"internal"}"#.to_owned(),
        ),
    };
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The entity tag of a user at `version`, as a header: the tag's own bytes, not a copy.
fn etag(version: u64) -> HeaderValue {
    // Digits and quotes are always a valid header value.
    HeaderValue::try_from(contract::etag(version)).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// `user` as the wire shows it, borrowed; with `version` in the body only where the answer
/// carries it there.
fn record(user: &User, version: Option<u64>) -> UserRecord<&str> {
    UserRecord {
        id: user.id,
        name: &user.name,
        email: &user.email,
        age: user.age,
        version,
    }
}

/// A user, with its version as a strong `ETag`.
pub(super) fn user(status: StatusCode, user: &User) -> Response<Body> {
    let body = UserEnvelope {
        user: record(user, None),
    };
    let mut response = json_response(status, &body);
    response
        .headers_mut()
        .insert(header::ETAG, etag(user.version));
    response
}

/// 304: the client's copy (named by `If-None-Match`) is the current one.
pub(super) fn not_modified(version: u64) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    response.headers_mut().insert(header::ETAG, etag(version));
    response
}

/// A create's answer: the new user and where to find it.
pub(super) fn created(user: &User) -> Response<Body> {
    let mut response = self::user(Operation::CreateUser.success(), user);
    if let Ok(location) = HeaderValue::from_str(&user_path(user.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// A page: each user with its version in the body, which a single user's answer carries as its
/// `ETag` instead, so a client can list and then write with `If-Match` without a `GET` each.
pub(super) fn page(page: &Page) -> Response<Body> {
    let users = page
        .users
        .iter()
        .map(|user| record(user, Some(user.version)))
        .collect::<Vec<_>>();
    json_response(
        Operation::ListUsers.success(),
        &PageEnvelope {
            users,
            next_cursor: page.next_after.map(encode_cursor),
        },
    )
}

/// An answer with nothing to say beyond its status.
pub(super) fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response
}

#[derive(Serialize)]
struct Health<'a> {
    status: &'a str,
    store: &'a str,
}

pub(super) fn health(status: StatusCode, state: &str, store: &str) -> Response<Body> {
    json_response(
        status,
        &Health {
            status: state,
            store,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_strong_and_quoted() {
        assert_eq!(etag(1), "\"1\"");
        assert_eq!(etag(u64::MAX), format!("\"{}\"", u64::MAX));
    }
}
