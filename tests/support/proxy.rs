//! The kit every front in the tests is built of: a loopback listener whose connections are each
//! served on a task of their own, HTTP/1.1 messages read whole and exchanged with the server
//! behind over a connection per request, a request's kind, and the token bucket of the fronts
//! that ration (API Gateway's throttle, DynamoDB's partition capacity).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// Starts a front for `upstream` (`host:port`) on a free loopback port: `make` builds it from its
/// address, and each connection a client opens is served by `serve` on a clone of it, until the
/// test process ends.
pub async fn start<T, F, Fut>(upstream: &str, make: impl FnOnce(SocketAddr) -> T, serve: F) -> T
where
    T: Clone + Send + 'static,
    F: Fn(T, TcpStream, String) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (listener, address) = bind().await;
    let front = make(address);
    let serving = front.clone();
    accept_each(listener, upstream, move |client, upstream| {
        serve(serving.clone(), client, upstream)
    });
    front
}

/// Tokens refilled at `rate` per second up to `capacity`, starting full. A charge may take more
/// than there is (a bucket may go below zero: the debt is repaid before it admits again).
pub struct TokenBucket {
    tokens: f64,
    refilled: Instant,
    rate: f64,
    capacity: f64,
}

impl TokenBucket {
    pub fn full(rate: f64, capacity: f64) -> Self {
        Self {
            tokens: capacity,
            refilled: Instant::now(),
            rate,
            capacity,
        }
    }

    /// The tokens there are now, refilled for the time since the last look.
    pub fn available(&mut self) -> f64 {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.refilled = now;
        self.tokens
    }

    pub fn take(&mut self, tokens: f64) {
        self.tokens -= tokens;
    }

    /// Takes `tokens` if there are that many now.
    pub fn try_take(&mut self, tokens: f64) -> bool {
        let enough = self.available() >= tokens;
        if enough {
            self.take(tokens);
        }
        enough
    }
}

/// A listener on a free loopback port, and its address.
async fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let address = listener.local_addr().expect("listener address");
    (listener, address)
}

/// Serves each connection `listener` accepts with `serve` (given the upstream `host:port`), on a
/// task of its own, until the test process ends.
fn accept_each<F, Fut>(listener: TcpListener, upstream: &str, serve: F)
where
    F: Fn(TcpStream, String) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let upstream = upstream.to_owned();
    tokio::spawn(async move {
        while let Ok((downstream, _)) = listener.accept().await {
            tokio::spawn(serve(downstream, upstream.clone()));
        }
    });
}

/// Sends `request` to `upstream` over a connection of its own and reads the answer; `None` when
/// the server cannot be reached or closes without answering.
pub async fn exchange(upstream: &str, request: &[u8]) -> Option<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).await.ok()?;
    server.write_all(request).await.ok()?;
    read_http_message(&mut server).await
}

/// A request's kind: its DynamoDB operation, else its method and path.
pub fn kind_of(request: &[u8]) -> String {
    let head = String::from_utf8_lossy(request);
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let target = lines.take_while(|line| !line.is_empty()).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("x-amz-target").then(|| {
            value
                .trim()
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
    });
    target.unwrap_or_else(|| {
        let mut words = request_line.split_whitespace();
        let method = words.next().unwrap_or_default();
        let path = words.next().unwrap_or_default();
        format!("{method} {}", path.split('?').next().unwrap_or_default())
    })
}

/// Reads one HTTP/1.1 message: its head, then a `content-length` body, or everything up to the end
/// of the stream when a response has no length. `None` when the stream ends before a message.
pub async fn read_http_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_string();
            let length = head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            });
            let is_request = !head.starts_with("HTTP/");
            match length {
                Some(length) if buffer.len() >= end + 4 + length => return Some(buffer),
                None if is_request => return Some(buffer),
                _ => {}
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                // A response without a length ends with its connection.
                let complete = find(&buffer, b"\r\n\r\n").is_some() && buffer.starts_with(b"HTTP/");
                return complete.then_some(buffer);
            }
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
