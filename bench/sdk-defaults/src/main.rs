//! `GET /users/{id}` written the obvious way: the SDK's defaults, a client made at start-up, one
//! strongly consistent `GetItem` per request, the runtime's default tracing subscriber.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Error, Request, RequestExt, Response, run, service_fn, tracing};

async fn get_user(client: &Client, table: &str, request: Request) -> Result<Response<Body>, Error> {
    let Some(id) = request
        .path_parameters_ref()
        .and_then(|parameters| parameters.first("id"))
        .and_then(|id| id.parse::<u64>().ok())
    else {
        return Ok(Response::builder().status(400).body("bad id".into())?);
    };
    let item = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("USER#{id}")))
        .key("sk", AttributeValue::N(id.to_string()))
        .consistent_read(true)
        .send()
        .await?
        .item;
    let status = if item.is_some() { 200 } else { 404 };
    let body = serde_json::json!({ "found": item.is_some() }).to_string();
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.into())?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = Client::new(&config);
    let table = std::env::var("USERS_TABLE")?;
    run(service_fn(|request| get_user(&client, &table, request))).await
}
