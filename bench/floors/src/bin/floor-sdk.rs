//! The cold-start floor with AWS: the bare function plus aws-config and a DynamoDB client built at
//! start-up, on the same TLS stack and compiled-in trust roots as the real functions (rustls with
//! ring, `bootstrap::http_client`).

use std::convert::Infallible;

use lambda_http::{Body, Request, Response, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(shared::bootstrap::http_client(
            shared::config::TrustRoots::Builtin,
        ))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    lambda_http::run(service_fn(move |_: Request| {
        let _client = &client;
        async {
            let mut response = Response::new(Body::Text(r#"{"hello":"world"}"#.to_owned()));
            response
                .headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            Ok::<_, Infallible>(response)
        }
    }))
    .await
}
