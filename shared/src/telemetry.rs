//! Log output set-up, shared by every binary.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line: what CloudWatch Logs Insights queries.
    Json,
    /// Human-readable lines for a terminal.
    Text,
}

impl LogFormat {
    /// `LOG_FORMAT=json|text` if set, otherwise JSON under Lambda and text elsewhere.
    pub fn from_env() -> Self {
        match std::env::var("LOG_FORMAT").as_deref() {
            Ok("json") => LogFormat::Json,
            Ok("text") => LogFormat::Text,
            _ if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() => LogFormat::Json,
            _ => LogFormat::Text,
        }
    }
}

/// Crates whose trace-level events print raw HTTP requests and responses, bodies included, and
/// so names and emails. Their trace events are dropped whatever `RUST_LOG` asks for.
const WIRE_LOGGING_CRATES: &[&str] = &[
    "aws_smithy",
    "aws_sdk",
    "aws_runtime",
    "aws_config",
    "hyper",
    "h2",
    "rustls",
];

/// Whether an event may be written: everything the level filter allows, except wire-level traces.
fn free_of_personal_data(metadata: &Metadata<'_>) -> bool {
    *metadata.level() != Level::TRACE
        || !WIRE_LOGGING_CRATES
            .iter()
            .any(|krate| metadata.target().starts_with(krate))
}

/// Installs the global subscriber. The level comes from `RUST_LOG`, else Lambda's
/// `AWS_LAMBDA_LOG_LEVEL`, else `info`. Logs go to stderr so stdout stays free for output that
/// programs read (the local API's address line, metrics).
pub fn init(format: LogFormat) {
    let level = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| std::env::var("AWS_LAMBDA_LOG_LEVEL").ok())
        .and_then(|level| EnvFilter::try_new(level.to_lowercase()).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let filter = level.and(filter_fn(free_of_personal_data));
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let layer = match format {
        LogFormat::Json => layer
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => layer.with_ansi(false).with_filter(filter).boxed(),
    };
    // A second init (tests run several servers in one process) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
