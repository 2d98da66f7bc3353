//! A plain HTTP/1.1 client for talking to real servers over loopback.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::{Reply, TestRequest};

/// A pooled client; one per target keeps connections alive as real clients do.
#[derive(Clone)]
pub struct HttpClient {
    base_url: String,
    timeout: Duration,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl HttpClient {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            timeout: Duration::from_secs(30),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// The same client, waiting up to `timeout` for an answer (30 s by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends a request, or says why it could not (connection refused, timeout).
    pub async fn try_send(&self, request: TestRequest) -> Result<Reply, String> {
        let mut builder = http::Request::builder()
            .method(request.method)
            .uri(format!("{}{}", self.base_url, request.target));
        let typed = request
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        if request.body.is_some() && !typed {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let body = Full::new(Bytes::from(request.body.unwrap_or_default()));
        let http_request = builder.body(body).map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(self.timeout, self.client.request(http_request))
            .await
            .map_err(|_| format!("request timed out after {:?}", self.timeout))?
            .map_err(|e| format!("request failed: {e}"))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes()
            .to_vec();
        Ok(Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    pub async fn send(&self, request: TestRequest) -> Reply {
        let described = format!("{} {}", request.method, request.target);
        self.try_send(request)
            .await
            .unwrap_or_else(|e| panic!("{described} to {}: {e}", self.base_url))
    }
}
