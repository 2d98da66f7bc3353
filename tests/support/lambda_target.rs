//! The API as API Gateway sees it: requests become HTTP API (payload 2.0) events, go through
//! lambda_http's own event -> request -> response -> API Gateway response conversion (the
//! `Adapter` that `lambda_http::run` wraps around every handler), and the serialised API Gateway
//! response is read back.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, HeaderValue};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent, Service};
use serde_json::Value;
use shared::store::{MemoryStore, UserStore};
use shared::transport::Api;

use crate::{Reply, Target, TestRequest};

/// Path of a fixture event under `tests/fixtures/apigw-v2/`.
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/apigw-v2")
        .join(name)
}

/// A fixture event as JSON.
pub fn fixture(name: &str) -> Value {
    let path = fixture_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// `event`, an API Gateway event for `/users/{id}`, addressed to user `id` instead, as API Gateway
/// would send it: raw path, request context path and path parameter alike.
pub fn with_user_id(mut event: Value, id: &str) -> Value {
    let path = format!("/users/{id}");
    event["rawPath"] = path.as_str().into();
    event["requestContext"]["http"]["path"] = path.as_str().into();
    event["pathParameters"]["id"] = id.into();
    event
}

/// Builds an HTTP API event for `request` from the template fixture.
pub fn event_for(request: &TestRequest) -> Value {
    let mut event = fixture("template.json");
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((&request.target, ""));
    let method = request.method.as_str();
    event["rawPath"] = path.into();
    event["rawQueryString"] = query.into();
    event["requestContext"]["http"]["method"] = method.into();
    event["requestContext"]["http"]["path"] = path.into();
    for (name, value) in &request.headers {
        // API Gateway lower-cases header names in payload 2.0 events.
        event["headers"][name.to_ascii_lowercase()] = value.as_str().into();
    }
    if let Some(body) = &request.body {
        // API Gateway passes text bodies as-is and anything else base64-encoded.
        match std::str::from_utf8(body) {
            Ok(text) => {
                event["body"] = text.into();
                event["isBase64Encoded"] = false.into();
            }
            Err(_) => {
                event["body"] = STANDARD.encode(body).into();
                event["isBase64Encoded"] = true.into();
            }
        }
    }
    event
}

/// Runs an event through lambda_http's adapter around `api`, served as the functions serve it
/// (`shared::lambda::http_service`), and returns the API Gateway response
/// JSON that the runtime would post back.
pub async fn invoke(api: &Api, event: Value) -> Value {
    let payload: LambdaRequest =
        serde_json::from_value(event).expect("fixture is an event lambda_http accepts");
    let mut adapter = Adapter::from(shared::lambda::http_service(api.clone()));
    let response = adapter
        .call(LambdaEvent::new(payload, Context::default()))
        .await
        .expect("handler is infallible");
    serde_json::to_value(response).expect("API Gateway responses serialise")
}

/// Reads an API Gateway v2 response (as the runtime posts it) into a [`Reply`].
pub fn reply_from_gateway_response(response: &Value) -> Reply {
    let status = response["statusCode"].as_u64().expect("statusCode") as u16;
    let mut headers = HeaderMap::new();
    for (name, value) in response["headers"].as_object().into_iter().flatten() {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("header name");
        headers.insert(
            name,
            HeaderValue::from_str(value.as_str().expect("header value")).unwrap(),
        );
    }
    let body = match response["body"].as_str() {
        None => Vec::new(),
        Some(text) if response["isBase64Encoded"].as_bool() == Some(true) => {
            STANDARD.decode(text).expect("base64 body")
        }
        Some(text) => text.as_bytes().to_vec(),
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// The whole API in-process behind the Lambda adapter, over a chosen store.
pub struct LambdaTarget {
    pub api: Api,
}

impl LambdaTarget {
    pub fn in_memory() -> Self {
        Self::over(Arc::new(MemoryStore::new()))
    }

    pub fn over<S: UserStore + 'static>(store: Arc<S>) -> Self {
        Self {
            api: Api::all_routes(store),
        }
    }
}

impl Target for LambdaTarget {
    async fn send(&self, request: TestRequest) -> Reply {
        reply_from_gateway_response(&invoke(&self.api, event_for(&request)).await)
    }
}
