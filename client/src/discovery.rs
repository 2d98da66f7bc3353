//! Where the API is: a list of base URLs (`--endpoint`, repeated, or `USERS_API_URL`,
//! comma-separated), or the `ApiUrl` output of the CloudFormation stack `sam deploy` made.

use aws_config::SdkConfig;
use http::Uri;

/// The variable holding comma-separated base URLs.
pub const USERS_API_URL: &str = "USERS_API_URL";

/// The stack output `template.yaml` publishes the API's URL as.
pub const API_URL_OUTPUT: &str = "ApiUrl";

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{0:?} is not an http:// or https:// URL")]
    InvalidUrl(String),
    #[error("no endpoint: pass --endpoint URL, set {USERS_API_URL}, or pass --stack NAME")]
    NoEndpoint,
    #[error("stack {stack}: {problem}")]
    Stack { stack: String, problem: String },
}

/// An API base URL: scheme, host, port and an optional path prefix (a named stage, `/v1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    scheme: String,
    authority: String,
    prefix: String,
}

impl BaseUrl {
    pub fn parse(raw: &str) -> Result<Self, DiscoveryError> {
        let invalid = || DiscoveryError::InvalidUrl(raw.to_owned());
        let uri: Uri = raw.trim().parse().map_err(|_| invalid())?;
        let scheme = uri.scheme_str().filter(|s| matches!(*s, "http" | "https"));
        let (Some(scheme), Some(authority)) = (scheme, uri.authority()) else {
            return Err(invalid());
        };
        if uri.query().is_some() {
            return Err(invalid());
        }
        Ok(Self {
            scheme: scheme.to_owned(),
            authority: authority.to_string(),
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// The URL of `path_and_query` (`/users/1`) under this base.
    pub fn join(&self, path_and_query: &str) -> Uri {
        format!(
            "{}://{}{}{}",
            self.scheme, self.authority, self.prefix, path_and_query
        )
        .parse()
        .expect("a base URL and an API path make a URL")
    }

    pub fn host(&self) -> &str {
        let host = self
            .authority
            .rsplit_once('@')
            .map_or(&*self.authority, |(_, h)| h);
        match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => host.split(':').next().unwrap_or(host),
        }
    }

    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }

    /// Whether the host is this machine: a `local-api`, never signed by default.
    pub fn is_loopback(&self) -> bool {
        let host = self.host();
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// Whether this is an API Gateway URL, signed by default.
    pub fn is_api_gateway(&self) -> bool {
        crate::signing::region_of_execute_api_host(self.host()).is_some()
    }
}

impl std::fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.prefix)
    }
}

/// Base URLs from a list of URLs, each possibly comma-separated.
pub fn from_list<S: AsRef<str>>(urls: &[S]) -> Result<Vec<BaseUrl>, DiscoveryError> {
    let parsed: Vec<BaseUrl> = urls
        .iter()
        .flat_map(|entry| entry.as_ref().split(','))
        .filter(|url| !url.trim().is_empty())
        .map(BaseUrl::parse)
        .collect::<Result<_, _>>()?;
    if parsed.is_empty() {
        return Err(DiscoveryError::NoEndpoint);
    }
    Ok(parsed)
}

/// The `ApiUrl` output of `stack`, read with `DescribeStacks` with `config`'s region and
/// credentials ([`crate::aws_config`]; `AWS_ENDPOINT_URL[_CLOUDFORMATION]` when set).
pub async fn from_stack(config: &SdkConfig, stack: &str) -> Result<Vec<BaseUrl>, DiscoveryError> {
    let failed = |problem: String| DiscoveryError::Stack {
        stack: stack.to_owned(),
        problem,
    };
    let output = aws_sdk_cloudformation::Client::new(config)
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| failed(format!("DescribeStacks failed: {}", shared::ErrorChain(&e))))?;
    let url = output
        .stacks()
        .iter()
        .flat_map(|s| s.outputs())
        .find(|o| o.output_key() == Some(API_URL_OUTPUT))
        .and_then(|o| o.output_value())
        .ok_or_else(|| failed(format!("no {API_URL_OUTPUT} output")))?;
    Ok(vec![BaseUrl::parse(url)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_keep_their_stage_and_know_what_they_point_at() {
        let stage = BaseUrl::parse("https://abc.execute-api.eu-west-1.amazonaws.com/v1/").unwrap();
        assert_eq!(
            stage.join("/users?limit=2").to_string(),
            "https://abc.execute-api.eu-west-1.amazonaws.com/v1/users?limit=2"
        );
        assert!(stage.is_api_gateway() && stage.is_https() && !stage.is_loopback());
        let local = BaseUrl::parse("http://127.0.0.1:3000").unwrap();
        assert_eq!(
            local.join("/users/1").to_string(),
            "http://127.0.0.1:3000/users/1"
        );
        assert!(local.is_loopback() && !local.is_api_gateway());
        assert!(BaseUrl::parse("http://[::1]:3000").unwrap().is_loopback());
        assert!(
            BaseUrl::parse("http://localhost:3000")
                .unwrap()
                .is_loopback()
        );
        for bad in ["", "localhost:3000", "ftp://x", "http://x/?a=1", "/users"] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lists_are_repeated_or_comma_separated() {
        let urls = from_list(&["http://a:1,http://b:2", " http://c:3 "]).unwrap();
        let hosts: Vec<&str> = urls.iter().map(BaseUrl::host).collect();
        assert_eq!(hosts, ["a", "b", "c"]);
        assert!(matches!(
            from_list::<&str>(&[]),
            Err(DiscoveryError::NoEndpoint)
        ));
        assert!(matches!(
            from_list(&["http://a:1,nope"]),
            Err(DiscoveryError::InvalidUrl(_))
        ));
    }
}
