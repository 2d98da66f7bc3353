//! A front that throttles as API Gateway's stage throttling does: a token bucket of `burst`
//! requests refilled at `rate` per second; a request that finds it empty is answered
//! `429 {"message":"Too Many Requests"}` without reaching the server behind.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::proxy::{self, TokenBucket, exchange, read_http_message};

const TOO_MANY_REQUESTS: &str = r#"{"message":"Too Many Requests"}"#;

/// A running front on a loopback port; it stops with the test process.
#[derive(Clone)]
pub struct ThrottlingFront {
    address: std::net::SocketAddr,
    bucket: Arc<Mutex<TokenBucket>>,
    forwarded: Arc<AtomicUsize>,
    throttled: Arc<AtomicUsize>,
}

impl ThrottlingFront {
    /// A front for `upstream` (`host:port`) admitting `rate` requests per second, `burst` at once.
    pub async fn start(upstream: &str, rate: f64, burst: f64) -> Self {
        let make = |address| Self {
            address,
            bucket: Arc::new(Mutex::new(TokenBucket::full(rate, burst))),
            forwarded: Arc::default(),
            throttled: Arc::default(),
        };
        proxy::start(upstream, make, |front: Self, client, upstream| async move {
            front.serve(client, &upstream).await
        })
        .await
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Requests passed to the server behind.
    pub fn forwarded(&self) -> usize {
        self.forwarded.load(Ordering::Relaxed)
    }

    /// Requests answered 429.
    pub fn throttled(&self) -> usize {
        self.throttled.load(Ordering::Relaxed)
    }

    fn admit(&self) -> bool {
        self.bucket.lock().unwrap().try_take(1.0)
    }

    async fn serve(&self, mut client: TcpStream, upstream: &str) {
        while let Some(request) = read_http_message(&mut client).await {
            let answer = if self.admit() {
                self.forwarded.fetch_add(1, Ordering::Relaxed);
                let Some(answer) = exchange(upstream, &request).await else {
                    return;
                };
                answer
            } else {
                self.throttled.fetch_add(1, Ordering::Relaxed);
                format!(
                    "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\n\r\n{TOO_MANY_REQUESTS}",
                    TOO_MANY_REQUESTS.len()
                )
                .into_bytes()
            };
            if client.write_all(&answer).await.is_err() {
                return;
            }
        }
    }
}
