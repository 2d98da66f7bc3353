//! Log output set-up, shared by every binary.

use tracing::{Level, Metadata};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterExt, Targets, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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
///
/// `RUST_LOG` is read as a list of `target=level` directives and a default level (`info`,
/// `shared=debug,warn`): tracing-subscriber's `Targets`, not `EnvFilter`, whose regex engine
/// made every function binary ~1 MB larger and its start-up slower for span-field filters that a
/// Lambda function's log level has no use for.
pub fn init(format: LogFormat) {
    let level = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| std::env::var("AWS_LAMBDA_LOG_LEVEL").ok())
        .and_then(|level| level.to_lowercase().parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO));
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

#[cfg(test)]
mod tests {
    use tracing::Level;
    use tracing::metadata::LevelFilter;
    use tracing_subscriber::filter::Targets;

    #[test]
    fn rust_log_directives_parse_as_targets() {
        let targets: Targets = "shared=debug,warn".parse().unwrap();
        assert!(targets.would_enable("shared::transport", &Level::DEBUG));
        assert!(!targets.would_enable("hyper", &Level::INFO));
        assert!(targets.would_enable("hyper", &Level::WARN));
        let plain: Targets = "info".parse().unwrap();
        assert_eq!(plain.default_level(), Some(LevelFilter::INFO));
    }
}
