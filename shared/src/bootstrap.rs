//! Wiring, once per process: the SDK client, the store backend and the middleware around it, from
//! a parsed [`Config`]. Parsing the environment is [`crate::config`]'s job; this module only builds.

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{
    Credentials, HttpClient, Region, RuntimeComponents, SharedHttpClient,
};
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpConnectorSettings, SharedHttpConnector};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::config::{self, Config, EventsConfig, RootStore, StoreConfig, TrustRoots};
use crate::middleware::GuardedStore;
use crate::store::{Backend, DynamoStore, MemoryStore};

/// The store every binary serves from: the configured backend behind the resilience middleware.
pub type Store = GuardedStore<Backend>;

/// The store every request of this process uses: the configured backend behind the
/// resilience middleware. Built once per process.
pub async fn store(config: &Config) -> Arc<Store> {
    let backend = match &config.store {
        StoreConfig::Memory => Backend::Memory(MemoryStore::new()),
        StoreConfig::DynamoDb {
            table,
            id_block_size,
            trust_roots,
        } => Backend::DynamoDb(DynamoStore::new(
            dynamodb_client(config, trust_roots).await,
            table,
            *id_block_size,
        )),
    };
    Arc::new(GuardedStore::new(
        Arc::new(backend),
        config.resilience.clone(),
    ))
}

/// The DynamoDB client for this configuration, trusting `trust_roots` (the DynamoDB store's).
///
/// TLS is rustls on *ring* rather than the SDK's default aws-lc: smaller binaries and a faster
/// build, with the same protocol support for DynamoDB endpoints. Retries use the SDK's
/// standard mode (exponential backoff with full jitter, bounded attempts, a retry quota shared
/// by the process); adaptive mode's client-side rate limiting needs a long-lived, busy client
/// to learn a rate, which a Lambda instance serving one request at a time is not. The whole
/// call, retries included, is bounded by the store timeout, each attempt by its share of it.
pub async fn dynamodb_client(
    config: &Config,
    trust_roots: &TrustRoots,
) -> aws_sdk_dynamodb::Client {
    let endpoint = config::endpoint_override(config::AWS_ENDPOINT_URL_DYNAMODB);
    let sdk_config = sdk_config(
        endpoint.as_deref(),
        trust_roots,
        config.dynamodb_max_attempts,
        config.resilience.store_timeout,
    )
    .await;
    aws_sdk_dynamodb::Client::from_conf(dynamodb_client_config(&sdk_config, endpoint))
}

/// The DynamoDB client's configuration: the shared SDK configuration, with the endpoint override
/// as [`config::endpoint_override`] reads it (`None`: AWS's own endpoint for the region) in place
/// of the SDK's reading of the same variables, which takes an empty one for an endpoint.
pub fn dynamodb_client_config(
    sdk_config: &aws_config::SdkConfig,
    endpoint: Option<String>,
) -> aws_sdk_dynamodb::Config {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk_config);
    builder.set_endpoint_url(endpoint);
    builder
        .interceptor(crate::store::dynamodb::AttemptMetrics)
        .interceptor(crate::store::dynamodb::TraceHeader)
        .build()
}

/// The EventBridge client of `publish-events`: the same HTTP client, retries and timeouts as
/// DynamoDB's, with a budget sized for a stream batch rather than an API request.
pub async fn eventbridge_client(config: &EventsConfig) -> aws_sdk_eventbridge::Client {
    let endpoint = config::endpoint_override(config::AWS_ENDPOINT_URL_EVENTBRIDGE);
    let sdk_config = sdk_config(
        endpoint.as_deref(),
        &config.trust_roots,
        EVENTBRIDGE_MAX_ATTEMPTS,
        EVENTBRIDGE_CALL_TIMEOUT,
    )
    .await;
    let mut builder = aws_sdk_eventbridge::config::Builder::from(&sdk_config);
    builder.set_endpoint_url(endpoint);
    aws_sdk_eventbridge::Client::from_conf(builder.build())
}

/// SDK attempts per `PutEvents` call (first try included).
const EVENTBRIDGE_MAX_ATTEMPTS: u32 = 3;
/// One `PutEvents` call, its SDK retries included: well inside the function's timeout even when
/// a batch needs a few calls.
const EVENTBRIDGE_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The SDK configuration every client shares: our HTTP client, standard retries with
/// `attempts`, each attempt bounded by its share of `total`, and local defaults when the
/// service's `endpoint` override is a local server.
async fn sdk_config(
    endpoint: Option<&str>,
    trust_roots: &TrustRoots,
    attempts: u32,
    total: Duration,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if endpoint.is_some_and(is_local_server) {
        // A local AWS-compatible server ignores region and credentials, but the SDK still needs
        // both, and would otherwise look for them on the EC2 metadata service (slow, and absent
        // on a laptop). Explicit settings still win.
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            loader = loader.region(Region::from_static("us-east-1"));
        }
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
            && std::env::var_os("AWS_PROFILE").is_none()
        {
            loader = loader.credentials_provider(Credentials::new(
                "local",
                "local",
                None,
                None,
                "local-endpoint",
            ));
        }
    }
    loader
        .http_client(http_client(trust_roots))
        .retry_config(RetryConfig::standard().with_max_attempts(attempts))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1).min(total))
                .operation_attempt_timeout(total / attempts)
                .operation_timeout(total)
                .build(),
        )
        .load()
        .await
}

/// Whether `endpoint` is a server on this machine or on a private network next to it (a
/// container's host at Docker's bridge address, 172.17.0.1): never AWS itself, whose endpoints
/// are public names.
fn is_local_server(endpoint: &str) -> bool {
    let Ok(uri) = endpoint.parse::<http::Uri>() else {
        return false;
    };
    match uri.host() {
        Some("localhost") => true,
        Some(host) => match host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
        {
            Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private(),
            Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback(),
            Err(_) => false,
        },
        None => false,
    }
}

/// The HTTP client under the SDK: rustls with the *ring* provider, trusting `roots`, its TLS
/// connector built on the first store call ([`ConnectOnFirstUse`]).
pub fn http_client(roots: &TrustRoots) -> SharedHttpClient {
    let tls = TlsContext::builder()
        .with_trust_store(trust_store(roots))
        .build()
        .expect("a TLS context with only a trust store is always valid");
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https();
    SharedHttpClient::new(ConnectOnFirstUse(client))
}

/// The SDK's HTTP client without its start-up warm-up.
///
/// When an SDK client is built, the smithy HTTP client builds a TLS connector once "so that
/// native certs load at client initialization time", and throws it away: the connector the first
/// request uses is built again for that request's timeout settings. Each build parses the whole
/// root set into rustls' store, so the warm-up parsed ~150 certificates at every cold start for
/// nothing, even for an invocation that never reaches the store. Skipping it (the trait's default
/// validation does nothing) leaves one build, on the first store call.
#[derive(Debug)]
struct ConnectOnFirstUse(SharedHttpClient);

impl HttpClient for ConnectOnFirstUse {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// `roots` as the SDK's TLS stack takes them: the store, then `AWS_CA_BUNDLE`'s certificates
/// beside it. The DynamoDB and EventBridge clients and the OTLP exporter all trust through it.
pub(crate) fn trust_store(roots: &TrustRoots) -> TrustStore {
    let mut trust_store = match roots.store {
        RootStore::Builtin => TrustStore::empty().with_pem_certificate(builtin_roots_pem()),
        // The SDK's default: the operating system's store (rustls-native-certs, which honours
        // SSL_CERT_FILE and SSL_CERT_DIR).
        RootStore::System => TrustStore::default(),
    };
    if let Some(bundle) = &roots.ca_bundle {
        trust_store.add_pem_certificate(bundle.pem());
    }
    trust_store
}

/// Mozilla's root certificates, compiled into the binary (`webpki-root-certs`, the set rustls
/// recommends where the system store is not wanted), as one PEM bundle: the form the SDK's trust
/// store takes.
///
/// Why not the system store by default: loading it is most of a DynamoDB cold start. The SDK reads
/// the distribution's bundle and then every file of its certificate directory (147 files opened
/// on Debian) and parses each certificate, before the first request is read; on
/// `provided.al2023` the bundle is read twice (`/etc/pki/tls/certs/ca-bundle.crt` is also in the
/// directory searched). Encoding ~150 certificates from memory costs a fraction of that, and the
/// DynamoDB endpoints' roots (Amazon Root CA 1 to 4, Starfield Services G2) are in the set.
pub(crate) fn builtin_roots_pem() -> Vec<u8> {
    let mut pem = String::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2_100);
    for certificate in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let encoded = STANDARD.encode(certificate.as_ref());
        for line in encoded.as_bytes().chunks(64) {
            // Base64 output is ASCII, so every chunk is valid UTF-8.
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use rustls::RootCertStore;
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    use super::builtin_roots_pem;

    fn builtin_roots() -> RootCertStore {
        let mut roots = RootCertStore::empty();
        for certificate in CertificateDer::pem_slice_iter(&builtin_roots_pem()) {
            roots.add(certificate.unwrap()).unwrap();
        }
        roots
    }

    /// Verifies the fixture chain (`shared/testdata/public-chain`) as the SDK's TLS client would:
    /// rustls's WebPKI verifier on *ring*, at a time the chain was valid.
    fn verify_public_chain(roots: RootCertStore) -> Result<(), rustls::Error> {
        let leaf = CertificateDer::from(&include_bytes!("../testdata/public-chain/leaf.der")[..]);
        let intermediate =
            CertificateDer::from(&include_bytes!("../testdata/public-chain/intermediate.der")[..]);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        let server = ServerName::try_from("testssl.kamusm.gov.tr").unwrap();
        let when = UnixTime::since_unix_epoch(Duration::from_secs(1_493_668_479));
        verifier
            .verify_server_cert(&leaf, &[intermediate], &server, &[], when)
            .map(|_| ())
    }

    #[test]
    fn the_builtin_roots_verify_a_real_public_chain() {
        verify_public_chain(builtin_roots()).unwrap();
        // And the verification means something: with other roots only, the chain is refused.
        let mut others = builtin_roots();
        others.roots.retain(|anchor| {
            let name = b"TUBITAK";
            !anchor
                .subject
                .as_ref()
                .windows(name.len())
                .any(|w| w == name)
        });
        assert_eq!(others.len(), builtin_roots().len() - 1);
        let error = verify_public_chain(others).unwrap_err();
        assert!(error.to_string().contains("UnknownIssuer"), "{error}");
    }

    #[test]
    fn the_builtin_roots_are_mozillas_set_with_the_dynamodb_endpoints_roots() {
        let pem = builtin_roots_pem();
        let count = CertificateDer::pem_slice_iter(&pem).count();
        assert_eq!(count, webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(count > 100, "{count} roots");
        assert_eq!(
            builtin_roots().len(),
            count,
            "every certificate is a usable root"
        );
        let subjects: Vec<Vec<u8>> = builtin_roots()
            .roots
            .iter()
            .map(|anchor| anchor.subject.as_ref().to_vec())
            .collect();
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 3",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            assert!(
                subjects
                    .iter()
                    .any(|s| s.windows(name.len()).any(|w| w == name.as_bytes())),
                "{name} is not among the builtin roots"
            );
        }
    }
}
