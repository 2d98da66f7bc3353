//! The cold-start floor with AWS: the bare function plus aws-config and a DynamoDB client built at
//! start-up, on the same TLS stack and trust roots as the real functions (rustls with ring,
//! `bootstrap::http_client`, `TLS_TRUST_STORE` and `AWS_CA_BUNDLE` read by `TrustRoots::from_env`).
//!
//! Like get-user, it answers a request whose last path segment is not a number without touching
//! the store, and reads any other with one strongly consistent `GetItem` of that user's key: the
//! floor of a first GET, with none of our code around the call.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let roots = shared::config::TrustRoots::from_env()?;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(shared::bootstrap::http_client(&roots))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = std::env::var("USERS_TABLE").unwrap_or_default();
    lambda_http::run(service_fn(|request: Request| {
        let (client, table) = (&client, &table);
        async move {
            let id = request.uri().path().rsplit('/').next().unwrap_or_default();
            let body = match id.parse::<u64>() {
                Ok(id) => {
                    use aws_sdk_dynamodb::types::AttributeValue;
                    let item = client
                        .get_item()
                        .table_name(table)
                        .key("pk", AttributeValue::S(format!("USER#{id}")))
                        .key("sk", AttributeValue::N(id.to_string()))
                        .consistent_read(true)
                        .send()
                        .await?
                        .item;
                    format!(r#"{{"found":{}}}"#, item.is_some())
                }
                Err(_) => r#"{"hello":"world"}"#.to_owned(),
            };
            let mut response = Response::new(Body::Text(body));
            response
                .headers_mut()
                .insert("content-type", "application/json".parse()?);
            Ok::<_, Error>(response)
        }
    }))
    .await
}
