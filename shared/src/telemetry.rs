//! Log output and span export set-up, shared by every binary.

use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets, filter_fn};
use tracing_subscriber::layer::SubscriberExt;

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
    !is_wire_trace(metadata.level(), metadata.target())
}

fn is_wire_trace(level: &Level, target: &str) -> bool {
    *level == Level::TRACE
        && WIRE_LOGGING_CRATES
            .iter()
            .any(|krate| target.starts_with(krate))
}

/// The level filter: `RUST_LOG` if set and valid, else Lambda's `AWS_LAMBDA_LOG_LEVEL` (which
/// Lambda spells in capitals), else `info`.
///
/// A directive must be a level or `target=level`. `Targets` alone would read a bare word such as a
/// misspelt `inof` as a target enabled at every level, and so silence every other log line.
fn level_filter(rust_log: Option<&str>, lambda_log_level: Option<&str>) -> Targets {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let valid = |directives: &str| {
        directives
            .split(',')
            .map(str::trim)
            .all(|d| d.contains('=') || LEVELS.contains(&d))
    };
    rust_log
        .or(lambda_log_level)
        .map(str::to_lowercase)
        .filter(|directives| valid(directives))
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO))
}

/// Installs the global subscriber. The level comes from `RUST_LOG`, else Lambda's
/// `AWS_LAMBDA_LOG_LEVEL`, else `info`. Logs go to stderr so stdout stays free for output that
/// programs read (the local API's address line, metrics).
///
/// `RUST_LOG` is read as a list of `target=level` directives and a default level (`info`,
/// `shared=debug,warn`): tracing-subscriber's `Targets`, not `EnvFilter`, whose regex engine
/// made every function binary ~1 MB larger and its start-up slower for span-field filters that a
/// Lambda function's log level has no use for.
///
/// With an OTLP endpoint configured (`OTEL_EXPORTER_OTLP_ENDPOINT`), spans are also exported
/// ([`crate::otlp`]); `service` names this process in them where `OTEL_SERVICE_NAME` does not.
pub fn init(format: LogFormat, service: &str) {
    let level = level_filter(
        std::env::var("RUST_LOG").ok().as_deref(),
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
    );
    // A second init (tests run several servers in one process) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber(format, level, service));
}

/// The logs at `level`, and the span exporter when a collector is configured.
///
/// What no layer wants is never made: the level filter carries a hint, so `tracing` skips
/// whatever is above it at the callsite (a `debug` span at `info`), and without a collector
/// there is no span layer at all ([`crate::otlp::with_spans`]). Otherwise each span the logs do
/// not want is made, recorded into and closed on every request (about a tenth of `local-api`'s
/// CPU per `GET`, docs/benchmarks.md).
fn subscriber(
    format: LogFormat,
    level: Targets,
    service: &str,
) -> Box<dyn Subscriber + Send + Sync> {
    let filter =
        level.and(filter_fn(free_of_personal_data).with_max_level_hint(LevelFilter::TRACE));
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
    crate::otlp::with_spans(tracing_subscriber::registry().with(layer), service)
}

#[cfg(test)]
mod tests {
    use tracing::{Level, Subscriber};
    use tracing_subscriber::filter::LevelFilter;

    use super::{LogFormat, is_wire_trace, level_filter, subscriber};

    #[test]
    fn without_a_collector_a_span_the_logs_do_not_want_is_never_made() {
        let quiet = subscriber(LogFormat::Json, level_filter(Some("warn"), None), "test");
        // Above the hint, a callsite is skipped before the subscriber is asked.
        assert_eq!(quiet.max_level_hint(), Some(LevelFilter::WARN));
        tracing::subscriber::with_default(quiet, || {
            assert!(tracing::info_span!("request").is_disabled());
            assert!(tracing::debug_span!("store.call").is_disabled());
            assert!(!tracing::warn_span!("kept").is_disabled());
        });
        let by_target = subscriber(
            LogFormat::Text,
            level_filter(Some("shared=debug,warn"), None),
            "test",
        );
        tracing::subscriber::with_default(by_target, || {
            assert!(tracing::info_span!(target: "hyper", "connection").is_disabled());
            assert!(!tracing::debug_span!(target: "shared::store", "store.call").is_disabled());
        });
    }

    #[test]
    fn rust_log_wins_then_lambdas_level_then_info() {
        let filter = level_filter(Some("shared=debug,warn"), Some("ERROR"));
        assert!(filter.would_enable("shared::transport", &Level::DEBUG));
        assert!(!filter.would_enable("hyper", &Level::INFO));
        // Lambda's application log level comes in capitals.
        let filter = level_filter(None, Some("DEBUG"));
        assert!(filter.would_enable("shared", &Level::DEBUG));
        assert!(!filter.would_enable("shared", &Level::TRACE));
        // A typo falls back to info rather than silencing everything.
        for (rust_log, lambda) in [(None, None), (Some("inof"), None), (Some("x=y=z"), None)] {
            let filter = level_filter(rust_log, lambda);
            assert!(filter.would_enable("shared", &Level::INFO), "{rust_log:?}");
            assert!(
                !filter.would_enable("shared", &Level::DEBUG),
                "{rust_log:?}"
            );
        }
    }

    #[test]
    fn wire_traces_are_dropped_and_nothing_else() {
        for target in [
            "aws_smithy_runtime::client",
            "hyper::proto",
            "rustls::conn",
            "h2",
        ] {
            assert!(is_wire_trace(&Level::TRACE, target), "{target}");
            assert!(!is_wire_trace(&Level::DEBUG, target), "{target}");
        }
        assert!(!is_wire_trace(&Level::TRACE, "shared::transport"));
    }
}
