//! A minimal Lambda Runtime API on loopback, so function binaries can be run as real processes:
//! the binary polls `invocation/next` exactly as it does on AWS, and posts its response back.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::processes::binary;

const PREFIX: &str = "/2018-06-01/runtime";

/// One queued event: its request id, the event and its `Lambda-Runtime-Trace-Id`.
type Invocation = (String, Value, String);

/// A trace header as Lambda's runtime API sends it, for a trace no other invocation is in.
pub fn new_trace_header() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let unique = (u64::from(std::process::id()) << 32) | NEXT.fetch_add(1, Ordering::Relaxed);
    format!("Root=1-{now:08x}-{unique:024x};Parent={unique:016x};Sampled=1")
}

/// What a function did with one event.
#[derive(Debug)]
pub enum Outcome {
    Response(Value),
    Error(String),
}

#[derive(Default)]
struct State {
    pending: std::sync::Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: std::sync::Mutex<Option<String>>,
    /// When the process first asked for an invocation: the end of its init phase.
    first_poll: std::sync::OnceLock<std::time::Instant>,
}

/// One Runtime API endpoint, serving one function process.
pub struct RuntimeApi {
    pub address: SocketAddr,
    events: mpsc::UnboundedSender<Invocation>,
    state: Arc<State>,
    next_id: AtomicU64,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind runtime API");
        let address = listener.local_addr().expect("runtime API address");
        let (events, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        let state = Arc::new(State::default());
        let server_state = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let receiver = receiver.clone();
                let state = server_state.clone();
                let service = service_fn(move |request| {
                    let receiver = receiver.clone();
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(route(request, &receiver, &state).await) }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Self {
            address,
            events,
            state,
            next_id: AtomicU64::new(1),
        }
    }

    /// Queues `event` for the function and waits for what it does with it.
    pub async fn try_invoke(&self, event: Value) -> Outcome {
        self.try_invoke_traced(event, &new_trace_header()).await
    }

    /// Like [`invoke`](Self::invoke), in the trace `trace_header` names.
    pub async fn invoke_traced(&self, event: Value, trace_header: &str) -> Value {
        match self.try_invoke_traced(event, trace_header).await {
            Outcome::Response(value) => value,
            Outcome::Error(error) => panic!("invocation failed: {error}"),
        }
    }

    /// Queues `event` in the trace `trace_header` names and waits for what the function does
    /// with it.
    pub async fn try_invoke_traced(&self, event: Value, trace_header: &str) -> Outcome {
        let id = format!(
            "test-request-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let (done, outcome) = oneshot::channel();
        self.state.pending.lock().unwrap().insert(id.clone(), done);
        self.events
            .send((id, event, trace_header.to_owned()))
            .expect("runtime API is running");
        match tokio::time::timeout(Duration::from_secs(60), outcome).await {
            Ok(Ok(outcome)) => outcome,
            _ => {
                let init = self.state.init_error.lock().unwrap().clone();
                panic!("no answer from the function within 60 s (init error: {init:?})")
            }
        }
    }

    /// When the process first polled for an invocation, as Lambda marks the end of init.
    pub fn first_poll(&self) -> Option<std::time::Instant> {
        self.state.first_poll.get().copied()
    }

    /// Like [`try_invoke`](Self::try_invoke), for events that must succeed.
    pub async fn invoke(&self, event: Value) -> Value {
        match self.try_invoke(event).await {
            Outcome::Response(value) => value,
            Outcome::Error(error) => panic!("invocation failed: {error}"),
        }
    }
}

async fn route(
    request: hyper::Request<Incoming>,
    events: &Mutex<mpsc::UnboundedReceiver<Invocation>>,
    state: &State,
) -> hyper::Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let rest = path.strip_prefix(PREFIX).unwrap_or_default();
    if method == Method::GET && rest == "/invocation/next" {
        let _ = state.first_poll.set(std::time::Instant::now());
        let Some((id, event, trace)) = events.lock().await.recv().await else {
            return reply(StatusCode::GONE, Bytes::new());
        };
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 30_000;
        let mut response = reply(StatusCode::OK, Bytes::from(event.to_string()));
        let headers = response.headers_mut();
        headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
        headers.insert(
            "lambda-runtime-deadline-ms",
            deadline.to_string().parse().unwrap(),
        );
        headers.insert(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:eu-west-1:123456789012:function:test"
                .parse()
                .unwrap(),
        );
        headers.insert("lambda-runtime-trace-id", trace.parse().unwrap());
        return response;
    }
    if method == Method::POST && rest == "/init/error" {
        *state.init_error.lock().unwrap() = Some(String::from_utf8_lossy(&body).into_owned());
        return reply(StatusCode::ACCEPTED, Bytes::new());
    }
    let invocation = rest
        .strip_prefix("/invocation/")
        .and_then(|r| r.split_once('/'));
    if let (&Method::POST, Some((id, kind))) = (&method, invocation) {
        let outcome = match kind {
            "response" => Outcome::Response(serde_json::from_slice(&body).unwrap_or(Value::Null)),
            _ => Outcome::Error(String::from_utf8_lossy(&body).into_owned()),
        };
        if let Some(done) = state.pending.lock().unwrap().remove(id) {
            let _ = done.send(outcome);
        }
        return reply(StatusCode::ACCEPTED, Bytes::new());
    }
    reply(StatusCode::NOT_FOUND, Bytes::new())
}

fn reply(status: StatusCode, body: Bytes) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}

/// Panics unless `response`, as a function posted it, is an HTTP response below 500: a figure or a
/// trace taken from a server error would describe a failure, not the path being measured.
pub fn assert_not_server_error(response: &Value, what: &str) {
    let status = response["statusCode"].as_u64().unwrap_or(0);
    assert!((200..500).contains(&status), "{what} answered {response}");
}

/// The command that runs the `name` binary as the Lambda service would: only the variables it
/// sets (plus `PATH` and `env`), pointed at `runtime`.
pub fn lambda_command(name: &str, runtime: &RuntimeApi, env: &[(&str, &str)]) -> Command {
    lambda_command_under(&[], name, runtime, env)
}

/// [`lambda_command`], with the binary started by `launcher` (a tracer such as `strace -o FILE`),
/// which gets the binary's path as its last argument.
pub fn lambda_command_under(
    launcher: &[&str],
    name: &str,
    runtime: &RuntimeApi,
    env: &[(&str, &str)],
) -> Command {
    let mut command = match launcher.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(binary(name));
            command
        }
        None => Command::new(binary(name)),
    };
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime.address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/24/[$LATEST]test")
        // Quiet unless a test asks for more.
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied());
    command
}

type Lines = Arc<std::sync::Mutex<Vec<String>>>;

/// Collects the lines `stream` yields into a shared buffer, in the background.
fn collect_lines(stream: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> Lines {
    let collected = Lines::default();
    let sink = collected.clone();
    let mut lines = BufReader::new(stream).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    collected
}

/// A function binary running against its own [`RuntimeApi`], killed when dropped. Its stdout
/// (where metrics go) and stderr (logs) are collected line by line.
pub struct FunctionProcess {
    pub runtime: RuntimeApi,
    pub child: Child,
    stdout: Lines,
    stderr: Lines,
}

impl FunctionProcess {
    /// Starts the `name` binary with the variables the Lambda service sets, plus `env`.
    pub async fn start(name: &str, env: &[(&str, &str)]) -> Self {
        let runtime = RuntimeApi::start().await;
        let mut child = lambda_command(name, &runtime, env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout = collect_lines(child.stdout.take().expect("piped stdout"));
        let stderr = collect_lines(child.stderr.take().expect("piped stderr"));
        Self {
            runtime,
            child,
            stdout,
            stderr,
        }
    }

    /// Takes the stdout lines printed so far.
    pub fn take_stdout(&self) -> Vec<String> {
        std::mem::take(&mut self.stdout.lock().unwrap())
    }

    /// Takes the stderr lines (logs) printed so far.
    pub fn take_stderr(&self) -> Vec<String> {
        std::mem::take(&mut self.stderr.lock().unwrap())
    }
}
