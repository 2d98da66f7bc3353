//! SigV4 signing for `execute-api`: the deployed API accepts only requests signed by an IAM
//! principal allowed to invoke it.
//!
//! The signature itself is the AWS SDK's own implementation (`aws-sigv4`); this module supplies
//! what it needs: credentials from the standard chain (environment, profile, SSO, web identity,
//! container and instance roles; session tokens included), refreshed before they expire, and the
//! region the API lives in.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;

/// The service name API Gateway's IAM authorization checks signatures for.
pub const SERVICE: &str = "execute-api";

/// Credentials are refreshed this long before they expire, so no request leaves with credentials
/// that expire in flight.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("no AWS credentials: {0}")]
    NoCredentials(String),
    #[error("no AWS region: set AWS_REGION, or use the API's execute-api URL")]
    NoRegion,
    #[error("cannot sign the request: {0}")]
    Sign(String),
}

/// Signs requests with the standard chain's credentials.
#[derive(Debug)]
pub struct Signer {
    provider: SharedCredentialsProvider,
    default_region: Option<String>,
    cached: Mutex<Option<Credentials>>,
}

impl Signer {
    /// Signs with the credentials chain and region of `config` ([`crate::aws_config`]).
    pub fn from_config(config: &SdkConfig) -> Result<Self, SigningError> {
        let provider = config.credentials_provider().ok_or_else(|| {
            SigningError::NoCredentials("the AWS configuration has no credentials provider".into())
        })?;
        Ok(Self {
            provider,
            default_region: config.region().map(|r| r.to_string()),
            cached: Mutex::new(None),
        })
    }

    /// A signer with fixed credentials (tests, or a caller that manages its own).
    pub fn with_credentials(credentials: Credentials, region: Option<String>) -> Self {
        Self {
            provider: SharedCredentialsProvider::new(credentials),
            default_region: region,
            cached: Mutex::new(None),
        }
    }

    async fn credentials(&self) -> Result<Credentials, SigningError> {
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|expiry| expiry > SystemTime::now() + REFRESH_BEFORE_EXPIRY)
        };
        if let Some(cached) = self.lock().as_ref().filter(|c| fresh(c)) {
            return Ok(cached.clone());
        }
        let credentials = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| SigningError::NoCredentials(e.to_string()))?;
        *self.lock() = Some(credentials.clone());
        Ok(credentials)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Credentials>> {
        self.cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Signs `request` now, for the region in its execute-api host (else the configured one).
    pub async fn sign(&self, request: &mut http::Request<Bytes>) -> Result<(), SigningError> {
        let region = request
            .uri()
            .host()
            .and_then(region_of_execute_api_host)
            .or_else(|| self.default_region.clone())
            .ok_or(SigningError::NoRegion)?;
        let credentials = self.credentials().await?;
        sign_request(request, &credentials, &region, SystemTime::now())
    }
}

/// `abc123.execute-api.eu-west-1.amazonaws.com` -> `eu-west-1`.
pub fn region_of_execute_api_host(host: &str) -> Option<String> {
    let mut labels = host.split('.');
    let (_id, service, region) = (labels.next()?, labels.next()?, labels.next()?);
    let rest: Vec<&str> = labels.collect();
    let aws = matches!(
        rest.as_slice(),
        ["amazonaws", "com"] | ["amazonaws", "com", "cn"]
    );
    (service == SERVICE && aws && !region.is_empty()).then(|| region.to_owned())
}

/// Adds the SigV4 headers (`authorization`, `x-amz-date`, and `x-amz-security-token` with a
/// session token) to `request`, for `region` at `time`.
pub fn sign_request(
    request: &mut http::Request<Bytes>,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<(), SigningError> {
    let identity: Identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SigningError::Sign(e.to_string()))?
        .into();
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let uri = request.uri().to_string();
    let signable = SignableRequest::new(
        request.method().as_str(),
        &uri,
        headers.into_iter(),
        SignableBody::Bytes(request.body()),
    )
    .map_err(|e| SigningError::Sign(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| SigningError::Sign(e.to_string()))?
        .into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_an_execute_api_host() {
        assert_eq!(
            region_of_execute_api_host("abc123.execute-api.eu-west-1.amazonaws.com").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region_of_execute_api_host("abc.execute-api.cn-north-1.amazonaws.com.cn").as_deref(),
            Some("cn-north-1")
        );
        for other in [
            "127.0.0.1",
            "api.example.com",
            "abc.lambda-url.eu-west-1.on.aws",
        ] {
            assert_eq!(region_of_execute_api_host(other), None, "{other}");
        }
    }
}
