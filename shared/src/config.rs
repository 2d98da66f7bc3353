//! What a process reads from its environment, once, at start-up: parsing only; building the
//! client and store from it is [`crate::bootstrap`]'s job.
//!
//! Endpoint, region and credentials are left to the AWS SDK's own standard configuration
//! (`AWS_ENDPOINT_URL[_DYNAMODB]`, `AWS_REGION`, the credentials chain): no home-made variables
//! for what the SDK already reads.
//!
//! This module owns every variable of the service's own. Four reads live elsewhere, each where it
//! must happen before or beside a [`Config`]: the log format and level ([`crate::telemetry`],
//! set up first so that a bad configuration can be logged), the OpenTelemetry exporter's standard
//! `OTEL_*` variables ([`crate::otlp`], read with the subscriber), whether the SDK's own region
//! and credentials are set before defaulting them for a local server ([`crate::bootstrap`]), and
//! Lambda's reserved `AWS_LAMBDA_FUNCTION_NAME` as the metrics' `function` dimension
//! ([`crate::lambda`]). docs/configuration.md lists them all.

use std::time::Duration;

use crate::middleware::ResilienceConfig;
use crate::middleware::breaker::BreakerConfig;
use crate::store::dynamodb::DEFAULT_ID_BLOCK_SIZE;

/// Names of the variables read here, for documentation and tests.
pub const USERS_TABLE: &str = "USERS_TABLE";
pub const USERS_STORE: &str = "USERS_STORE";
pub const USER_ID_BLOCK_SIZE: &str = "USER_ID_BLOCK_SIZE";
pub const STORE_TIMEOUT_MS: &str = "STORE_TIMEOUT_MS";
pub const DYNAMODB_MAX_ATTEMPTS: &str = "DYNAMODB_MAX_ATTEMPTS";
pub const BREAKER_FAILURE_RATIO: &str = "BREAKER_FAILURE_RATIO";
pub const BREAKER_MIN_CALLS: &str = "BREAKER_MIN_CALLS";
pub const BREAKER_CONSECUTIVE_FAILURES: &str = "BREAKER_CONSECUTIVE_FAILURES";
pub const BREAKER_WINDOW_SECONDS: &str = "BREAKER_WINDOW_SECONDS";
pub const BREAKER_OPEN_SECONDS: &str = "BREAKER_OPEN_SECONDS";
pub const METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";
pub const METRICS_DIMENSIONS: &str = "METRICS_DIMENSIONS";
pub const TLS_TRUST_STORE: &str = "TLS_TRUST_STORE";
pub const AWS_CA_BUNDLE: &str = "AWS_CA_BUNDLE";
pub const IDEMPOTENCY_TTL_SECONDS: &str = "IDEMPOTENCY_TTL_SECONDS";
pub const EVENT_BUS_NAME: &str = "EVENT_BUS_NAME";
pub const EVENT_SOURCE: &str = "EVENT_SOURCE";
pub const EVENTS_INCLUDE_USER: &str = "EVENTS_INCLUDE_USER";
/// The SDK's endpoint overrides the functions use: the service's own, then the global one.
pub const AWS_ENDPOINT_URL_DYNAMODB: &str = "AWS_ENDPOINT_URL_DYNAMODB";
pub const AWS_ENDPOINT_URL_EVENTBRIDGE: &str = "AWS_ENDPOINT_URL_EVENTBRIDGE";
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// Set to `true` by `sam local` in every function container it runs.
pub const AWS_SAM_LOCAL: &str = "AWS_SAM_LOCAL";
/// Set by Lambda Managed Instances: how many invocations one process may be sent at once.
pub const AWS_LAMBDA_MAX_CONCURRENCY: &str = "AWS_LAMBDA_MAX_CONCURRENCY";

/// Everything a process reads at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub store: StoreConfig,
    pub resilience: ResilienceConfig,
    /// SDK attempts per DynamoDB call (first try included).
    pub dynamodb_max_attempts: u32,
    /// CloudWatch namespace of the metrics a function emits.
    pub metrics_namespace: String,
    /// Extra dimensions on every metric a function emits (`stage=prod,team=identity`).
    pub metrics_dimensions: Vec<(String, String)>,
    /// How long an `Idempotency-Key` on create is remembered.
    pub idempotency_ttl: Duration,
}

/// Which certificate authorities the AWS clients trust: a root store, and the certificates of
/// `AWS_CA_BUNDLE` beside it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrustRoots {
    pub store: RootStore,
    /// A private certificate authority (a TLS-intercepting proxy, a VPC endpoint behind one),
    /// trusted in addition to `store`, so the store's roots still verify AWS's own endpoints.
    pub ca_bundle: Option<CaBundle>,
}

/// Where the trusted root certificates come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RootStore {
    /// Mozilla's root set compiled into the binary: no file read at start-up.
    #[default]
    Builtin,
    /// The operating system's store (`SSL_CERT_FILE`, `SSL_CERT_DIR`, else the distribution's
    /// bundle), read when the first store call builds the TLS connector.
    System,
}

/// The certificates of the PEM file `AWS_CA_BUNDLE` names (the variable the AWS CLI and the other
/// SDKs read for the same purpose), read and checked at start-up: the SDK's TLS stack panics on a
/// certificate it cannot parse when it builds its connector, so a bad file must stop the process
/// before it serves, naming the variable.
#[derive(Clone, PartialEq, Eq)]
pub struct CaBundle {
    pem: std::sync::Arc<[u8]>,
    certificates: usize,
}

impl CaBundle {
    /// Reads and checks the bundle at `path`: at least one certificate, every one parsable as a
    /// trust anchor.
    pub fn read(path: &std::path::Path) -> Result<Self, ConfigError> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let problem = |problem: String| ConfigError {
            variable: AWS_CA_BUNDLE,
            problem,
        };
        let pem =
            std::fs::read(path).map_err(|error| problem(format!("{}: {error}", path.display())))?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| problem(format!("{}: not PEM: {error}", path.display())))?;
        if certificates.is_empty() {
            return Err(problem(format!("{}: no certificate in it", path.display())));
        }
        let mut anchors = rustls::RootCertStore::empty();
        for (index, certificate) in certificates.into_iter().enumerate() {
            anchors.add(certificate).map_err(|error| {
                problem(format!(
                    "{}: certificate {}: {error}",
                    path.display(),
                    index + 1
                ))
            })?;
        }
        Ok(Self {
            pem: pem.into(),
            certificates: anchors.len(),
        })
    }

    /// The bundle as the SDK's trust store takes it.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CaBundle({} certificates)", self.certificates)
    }
}

impl TrustRoots {
    /// Reads `TLS_TRUST_STORE` (`builtin`, the default, or `system`) and `AWS_CA_BUNDLE`; public
    /// so the bench's SDK floor trusts exactly what the functions trust.
    pub fn from_env() -> Result<Self, ConfigError> {
        let store = match std::env::var(TLS_TRUST_STORE).as_deref().map(str::trim) {
            Err(_) | Ok("builtin") => RootStore::Builtin,
            Ok("system") => RootStore::System,
            Ok(other) => {
                return Err(ConfigError {
                    variable: TLS_TRUST_STORE,
                    problem: format!("{other:?} is neither builtin nor system"),
                });
            }
        };
        let ca_bundle = match std::env::var_os(AWS_CA_BUNDLE) {
            Some(path) if !path.is_empty() => Some(CaBundle::read(path.as_ref())?),
            _ => None,
        };
        Ok(Self { store, ca_bundle })
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = ResilienceConfig::default();
        let store_timeout = parse(STORE_TIMEOUT_MS, 10..=60_000)?
            .map_or(defaults.store_timeout, Duration::from_millis);
        let breaker = BreakerConfig {
            failure_ratio: parse::<f64>(BREAKER_FAILURE_RATIO, 0.01..=1.0)?
                .unwrap_or(defaults.breaker.failure_ratio),
            min_calls: parse(BREAKER_MIN_CALLS, 1..=100_000)?.unwrap_or(defaults.breaker.min_calls),
            consecutive_failures: parse(BREAKER_CONSECUTIVE_FAILURES, 1..=100_000)?
                .unwrap_or(defaults.breaker.consecutive_failures),
            window: parse(BREAKER_WINDOW_SECONDS, 0.1..=3600.0)?
                .map_or(defaults.breaker.window, Duration::from_secs_f64),
            open_for: parse(BREAKER_OPEN_SECONDS, 0.1..=3600.0)?
                .map_or(defaults.breaker.open_for, Duration::from_secs_f64),
        };
        let store = StoreConfig::from_env()?;
        if let StoreConfig::DynamoDb { .. } = store {
            refuse_aws_by_accident(AWS_ENDPOINT_URL_DYNAMODB, "dynamodb")?;
        }
        Ok(Self {
            store,
            resilience: ResilienceConfig {
                store_timeout,
                breaker,
            },
            dynamodb_max_attempts: parse(DYNAMODB_MAX_ATTEMPTS, 1..=10)?.unwrap_or(3),
            metrics_namespace: metrics_namespace(),
            metrics_dimensions: dimensions()?,
            idempotency_ttl: parse(IDEMPOTENCY_TTL_SECONDS, 60..=2_592_000)?
                .map_or(crate::service::DEFAULT_IDEMPOTENCY_TTL, Duration::from_secs),
        })
    }
}

/// How many invocations Lambda sends this process at once: `AWS_LAMBDA_MAX_CONCURRENCY` on
/// Lambda Managed Instances, else 1 (on-demand Lambda leaves it unset). Read as lambda_runtime
/// reads it (a positive integer; anything else means 1), so the Tokio runtime built for the mode
/// and the runtime's worker count never disagree.
pub fn max_concurrency() -> u32 {
    std::env::var(AWS_LAMBDA_MAX_CONCURRENCY)
        .ok()
        .and_then(|value| value.parse::<u32>().ok())
        .filter(|&limit| limit > 0)
        .unwrap_or(1)
}

/// What `publish-events` reads at start-up. It has no store: the table reaches it as a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct EventsConfig {
    /// The EventBridge bus the events go to (name or ARN).
    pub bus_name: String,
    /// The events' `source`.
    pub source: String,
    /// Whether created and updated events carry the user's name, email and age.
    pub include_user: bool,
    pub metrics_namespace: String,
    pub metrics_dimensions: Vec<(String, String)>,
    pub trust_roots: TrustRoots,
}

impl EventsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let bus_name = std::env::var(EVENT_BUS_NAME)
            .ok()
            .map(|b| b.trim().to_owned())
            .filter(|b| !b.is_empty())
            .ok_or_else(|| ConfigError {
                variable: EVENT_BUS_NAME,
                problem: "not set: name the EventBridge bus the user events go to".into(),
            })?;
        refuse_aws_by_accident(AWS_ENDPOINT_URL_EVENTBRIDGE, "events")?;
        let source = std::env::var(EVENT_SOURCE)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| crate::events::contract::DEFAULT_SOURCE.to_owned());
        if source.starts_with("aws.") {
            return Err(ConfigError {
                variable: EVENT_SOURCE,
                problem: format!("{source:?}: sources starting with aws. are AWS's own"),
            });
        }
        let include_user = match std::env::var(EVENTS_INCLUDE_USER).as_deref().map(str::trim) {
            Err(_) | Ok("false") | Ok("") => false,
            Ok("true") => true,
            Ok(other) => {
                return Err(ConfigError {
                    variable: EVENTS_INCLUDE_USER,
                    problem: format!("{other:?} is neither true nor false"),
                });
            }
        };
        Ok(Self {
            bus_name,
            source,
            include_user,
            metrics_namespace: metrics_namespace(),
            metrics_dimensions: dimensions()?,
            trust_roots: TrustRoots::from_env()?,
        })
    }
}

/// The endpoint override for one service, read as the SDK reads it (the service's own variable,
/// `AWS_ENDPOINT_URL_DYNAMODB`, else `AWS_ENDPOINT_URL`), except that an empty value counts as
/// unset. `template.yaml` declares the service's variable empty, because `sam local --env-vars`
/// can only override variables the template declares; deployed, that empty value must mean AWS's
/// own endpoint, while the SDK would take it for an endpoint and fail every call.
pub(crate) fn endpoint_override(service_variable: &str) -> Option<String> {
    endpoint_override_in(|variable| std::env::var(variable).ok(), service_variable)
}

/// [`endpoint_override`] over any environment (`lookup` gives a variable's value).
pub fn endpoint_override_in(
    lookup: impl Fn(&str) -> Option<String>,
    service_variable: &str,
) -> Option<String> {
    [service_variable, AWS_ENDPOINT_URL]
        .into_iter()
        .find_map(|variable| {
            lookup(variable)
                .map(|url| url.trim().to_owned())
                .filter(|url| !url.is_empty())
        })
}

/// Under `sam local`, a function whose endpoint override is missing would talk to the real AWS
/// service with whatever credentials the laptop has: it refuses to start instead, saying what to
/// set. Naming AWS's endpoint in the override is how to use AWS from `sam local` on purpose.
fn refuse_aws_by_accident(
    service_variable: &'static str,
    service_host: &str,
) -> Result<(), ConfigError> {
    let under_sam_local = std::env::var(AWS_SAM_LOCAL).is_ok_and(|v| v.trim() == "true");
    if !under_sam_local || endpoint_override(service_variable).is_some() {
        return Ok(());
    }
    Err(ConfigError {
        variable: service_variable,
        problem: format!(
            "empty under sam local ({AWS_SAM_LOCAL}=true), so this function would use AWS itself: \
             set it in the --env-vars file to your local server (sam-local/env.json), or to \
             https://{service_host}.<region>.amazonaws.com to use AWS on purpose"
        ),
    })
}

/// Reads `METRICS_NAMESPACE`, `UsersApi` by default.
fn metrics_namespace() -> String {
    std::env::var(METRICS_NAMESPACE)
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "UsersApi".to_owned())
}

/// Reads `METRICS_DIMENSIONS`: comma-separated `name=value` pairs.
fn dimensions() -> Result<Vec<(String, String)>, ConfigError> {
    let Ok(raw) = std::env::var(METRICS_DIMENSIONS) else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() && !value.trim().is_empty() => {
                Ok((name.trim().to_owned(), value.trim().to_owned()))
            }
            _ => Err(ConfigError {
                variable: METRICS_DIMENSIONS,
                problem: format!("{pair:?} is not name=value"),
            }),
        })
        .collect()
}

/// Reads an optional variable that must parse and lie in `range`.
fn parse<T>(
    variable: &'static str,
    range: std::ops::RangeInclusive<T>,
) -> Result<Option<T>, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Debug,
{
    let Ok(raw) = std::env::var(variable) else {
        return Ok(None);
    };
    raw.trim()
        .parse::<T>()
        .ok()
        .filter(|value| range.contains(value))
        .map(Some)
        .ok_or_else(|| ConfigError {
            variable,
            problem: format!(
                "{raw:?} is not a number from {:?} to {:?}",
                range.start(),
                range.end()
            ),
        })
}

/// A setting that is present but unusable: the process refuses to start rather than guess.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    variable: &'static str,
    problem: String,
}

/// Which backend holds the users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// Users live in this process only: local development and tests.
    Memory,
    /// Users live in a DynamoDB table: every deployed function, and `local-api` when asked.
    DynamoDb {
        table: String,
        id_block_size: u64,
        /// Which certificate authorities the DynamoDB client trusts. Read with the table, so
        /// the in-memory store, which opens no connection, never reads `AWS_CA_BUNDLE` (a
        /// developer's shell may point it at a bundle of hundreds) nor stops on it.
        trust_roots: TrustRoots,
    },
}

impl StoreConfig {
    /// DynamoDB when `USERS_TABLE` is set and not empty; in-memory when `USERS_STORE=memory` asks
    /// for it, or, outside Lambda, when no table is named.
    ///
    /// Under Lambda a missing table is an error, not a quiet fallback: a deploy that lost the
    /// variable would answer `201` to creates and keep the users in one instance's memory, to
    /// vanish with it.
    pub fn from_env() -> Result<Self, ConfigError> {
        let table = std::env::var(USERS_TABLE)
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        let wanted = std::env::var(USERS_STORE).ok();
        match (wanted.as_deref().map(str::trim), table) {
            (Some("memory"), None) => Ok(StoreConfig::Memory),
            (Some("memory"), Some(_)) => Err(ConfigError {
                variable: USERS_STORE,
                problem: "memory, but USERS_TABLE names a table: set one or the other".into(),
            }),
            (Some("dynamodb") | None, Some(table)) => Ok(StoreConfig::DynamoDb {
                table,
                id_block_size: parse(USER_ID_BLOCK_SIZE, 1..=10_000)?
                    .unwrap_or(DEFAULT_ID_BLOCK_SIZE),
                trust_roots: TrustRoots::from_env()?,
            }),
            (None, None) if !under_lambda() => Ok(StoreConfig::Memory),
            (Some("dynamodb") | None, None) => Err(ConfigError {
                variable: USERS_TABLE,
                problem: "not set: name the DynamoDB table that holds the users (or set \
                          USERS_STORE=memory to keep them in this process's memory, lost when it \
                          stops)"
                    .into(),
            }),
            (Some(other), _) => Err(ConfigError {
                variable: USERS_STORE,
                problem: format!("{other:?} is neither memory nor dynamodb"),
            }),
        }
    }

    /// A short name for logs and health output.
    pub fn backend_name(&self) -> &'static str {
        match self {
            StoreConfig::Memory => "memory",
            StoreConfig::DynamoDb { .. } => "dynamodb",
        }
    }
}

/// Whether this process runs as a Lambda function (the Runtime API, or `cargo lambda watch`,
/// which sets the function name).
fn under_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
        || std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn override_in(env: &[(&str, &str)], service_variable: &str) -> Option<String> {
        endpoint_override_in(
            |variable| {
                env.iter()
                    .find(|(name, _)| *name == variable)
                    .map(|(_, value)| (*value).to_owned())
            },
            service_variable,
        )
    }

    #[test]
    fn the_service_endpoint_wins_and_an_empty_one_counts_as_unset() {
        let dynamodb = AWS_ENDPOINT_URL_DYNAMODB;
        assert_eq!(override_in(&[], dynamodb), None);
        // What template.yaml declares for a deployed function: AWS's own endpoint.
        assert_eq!(override_in(&[(dynamodb, "")], dynamodb), None);
        assert_eq!(override_in(&[(dynamodb, "  ")], dynamodb), None);
        let local = "http://host.docker.internal:8000";
        assert_eq!(
            override_in(&[(dynamodb, local)], dynamodb).as_deref(),
            Some(local)
        );
        // The global override applies when the service's own is unset or empty, as for the SDK.
        let global = [(AWS_ENDPOINT_URL, "http://127.0.0.1:5000")];
        assert_eq!(
            override_in(&global, dynamodb).as_deref(),
            Some("http://127.0.0.1:5000")
        );
        let both = [(dynamodb, ""), (AWS_ENDPOINT_URL, "http://127.0.0.1:5000")];
        assert_eq!(
            override_in(&both, dynamodb).as_deref(),
            Some("http://127.0.0.1:5000")
        );
        let service_first = [(AWS_ENDPOINT_URL, "http://a:1"), (dynamodb, "http://b:2")];
        assert_eq!(
            override_in(&service_first, dynamodb).as_deref(),
            Some("http://b:2")
        );
        // Another service's override is not this one's.
        let other = [(AWS_ENDPOINT_URL_EVENTBRIDGE, "http://127.0.0.1:5000")];
        assert_eq!(override_in(&other, dynamodb), None);
    }

    /// A scratch file holding `contents`, unique to this test process and name.
    fn scratch_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("users-api-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn a_ca_bundle_is_read_and_checked_at_start_up() {
        // Two CA certificates in one file, as a proxy vendor's bundle often is.
        let roots = String::from_utf8(crate::bootstrap::builtin_roots_pem()).unwrap();
        let two: String = roots
            .split_inclusive("-----END CERTIFICATE-----\n")
            .take(2)
            .collect();
        let two = two.into_bytes();
        let bundle = CaBundle::read(&scratch_file("two.pem", &two)).unwrap();
        assert_eq!(format!("{bundle:?}"), "CaBundle(2 certificates)");
        assert_eq!(bundle.pem(), two.as_slice());

        // Every bad file is a start-up error naming the variable, never a panic on the first
        // store call.
        let missing = std::env::temp_dir().join("users-api-no-such-bundle.pem");
        let not_pem = scratch_file("garbage.pem", b"-----BEGIN CERTIFICATE-----\n!!!\n");
        let empty = scratch_file("empty.pem", b"# no certificate here\n");
        let not_a_certificate = scratch_file(
            "bad-der.pem",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        for (path, says) in [
            (missing, "No such file"),
            (not_pem, "not PEM"),
            (empty, "no certificate"),
            (not_a_certificate, "certificate 1"),
        ] {
            let error = CaBundle::read(&path).unwrap_err();
            assert_eq!(error.variable, AWS_CA_BUNDLE);
            assert!(error.to_string().contains(says), "{path:?}: {error}");
        }
    }
}
