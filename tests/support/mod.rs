//! Test support shared by the integration tests: ways to send a request to the API (through
//! lambda_http in-process, to a real `local-api` over TCP, to a real function binary through a
//! Lambda Runtime API), the contract every one of them must satisfy, and process helpers.

/// A client of the test server for one SDK crate, configured explicitly rather than through
/// process variables.
#[macro_export]
macro_rules! moto_client {
    ($sdk:ident) => {
        $sdk::Client::from_conf(
            $sdk::Config::builder()
                .behavior_version($sdk::config::BehaviorVersion::latest())
                .region($sdk::config::Region::new("us-east-1"))
                .credentials_provider($sdk::config::Credentials::for_tests())
                .endpoint_url($crate::dynamo::endpoint())
                .http_client(shared::bootstrap::http_client(
                    &shared::config::TrustRoots::default(),
                ))
                .build(),
        )
    };
}

pub mod browser;
pub mod capacity;
pub mod client_store;
pub mod conformance;
pub mod contract;
pub mod dynamo;
pub mod emulator;
pub mod events;
pub mod faults;
pub mod history;
pub mod http_client;
pub mod lambda_target;
pub mod lossy_hop;
pub mod openapi;
pub mod otlp;
pub mod processes;
pub mod proxy;
pub mod recording;
pub mod runtime_api;
pub mod sam;
pub mod sam_local;
pub mod throttle;
pub mod tls;

use http::{HeaderMap, Method};
use serde_json::Value;

/// A request as a client writes it; targets turn it into their own wire form.
#[derive(Debug, Clone)]
pub struct TestRequest {
    pub method: Method,
    /// Path and query string, e.g. `/users?limit=5`.
    pub target: String,
    pub body: Option<Vec<u8>>,
    /// Headers beyond the ones every target sets (a body's `Content-Type` is JSON unless given).
    pub headers: Vec<(String, String)>,
}

impl TestRequest {
    pub fn new(method: Method, target: impl Into<String>) -> Self {
        Self {
            method,
            target: target.into(),
            body: None,
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.body = Some(serde_json::to_vec(body).expect("JSON values serialise"));
        self
    }

    pub fn raw(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON; panics with the raw body if it is not JSON, which is a contract breach.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The environment that asks a function for the in-memory store: under Lambda a function refuses
/// to start without a table unless asked so explicitly.
pub const IN_MEMORY: &[(&str, &str)] = &[("USERS_STORE", "memory")];

/// A loopback port that was free a moment ago: for servers that must be told their port, and for
/// a port where nothing listens.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a loopback port")
        .port()
}

/// Anything the contract can be run against.
pub trait Target: Sync {
    fn send(&self, request: TestRequest) -> impl std::future::Future<Output = Reply> + Send;
}
