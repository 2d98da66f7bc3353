//! The five function binaries as real processes, each fed API Gateway HTTP API fixture events
//! through a loopback Lambda Runtime API, exactly as the Lambda service drives them.

use std::process::Stdio;
use std::time::Duration;

use integration_tests::lambda_target::{fixture, reply_from_gateway_response, with_user_id};
use integration_tests::processes::EVENTS_FUNCTION;
use integration_tests::runtime_api::{FunctionProcess, RuntimeApi, lambda_command};
use integration_tests::{IN_MEMORY, Reply};
use serde_json::json;

async fn invoke(function: &FunctionProcess, fixture_name: &str) -> Reply {
    reply_from_gateway_response(&function.runtime.invoke(fixture(fixture_name)).await)
}

fn assert_code(reply: &Reply, status: u16, code: &str) {
    assert_eq!(
        reply.status,
        status,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["code"], code);
}

#[tokio::test]
async fn create_user_binary_creates_from_text_and_base64_bodies() {
    let function = FunctionProcess::start("create-user", IN_MEMORY).await;
    let created = invoke(&function, "create-user.json").await;
    assert_eq!(created.status, 201);
    assert_eq!(created.header("content-type"), Some("application/json"));
    assert_eq!(created.header("location"), Some("/users/1"));
    assert_eq!(
        created.json(),
        json!({"user": {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com", "age": 36}})
    );
    let second = invoke(&function, "create-user-base64.json").await;
    assert_eq!(second.status, 201);
    assert_eq!(second.json()["user"]["name"], "Grace Hopper");
    assert_code(
        &invoke(&function, "create-user.json").await,
        409,
        "email_taken",
    );
    // A function serves its own operation only, even if sent another route's event.
    assert_code(
        &invoke(&function, "get-user.json").await,
        404,
        "route_not_found",
    );
}

#[tokio::test]
async fn get_user_binary_routes_by_path_with_or_without_a_named_stage_or_iam_context() {
    let function = FunctionProcess::start("get-user", IN_MEMORY).await;
    // Each function process has its own in-memory store, so the user is not there: but the
    // answer is "no such user", proving the route (and the stage prefix) was understood.
    assert_code(
        &invoke(&function, "get-user.json").await,
        404,
        "user_not_found",
    );
    assert_code(
        &invoke(&function, "get-user-named-stage.json").await,
        404,
        "user_not_found",
    );
    // The deployed API authorizes with IAM, so its events carry the caller's identity.
    assert_code(
        &invoke(&function, "get-user-iam.json").await,
        404,
        "user_not_found",
    );
    assert_code(
        &invoke(&function, "list-users.json").await,
        404,
        "route_not_found",
    );
}

#[tokio::test]
async fn update_and_delete_binaries_answer_their_routes() {
    let update = FunctionProcess::start("update-user", IN_MEMORY).await;
    assert_code(
        &invoke(&update, "update-user.json").await,
        404,
        "user_not_found",
    );
    let delete = FunctionProcess::start("delete-user", IN_MEMORY).await;
    assert_code(
        &invoke(&delete, "delete-user.json").await,
        404,
        "user_not_found",
    );
    assert_code(
        &invoke(&delete, "create-user.json").await,
        404,
        "route_not_found",
    );
}

#[tokio::test]
async fn list_users_binary_lists() {
    let function = FunctionProcess::start("list-users", IN_MEMORY).await;
    let reply = invoke(&function, "list-users.json").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"users": [], "next_cursor": null}));
}

#[tokio::test]
async fn a_warm_function_serves_many_invocations() {
    let function = FunctionProcess::start("create-user", IN_MEMORY).await;
    for i in 0..50 {
        let mut event = fixture("create-user.json");
        event["body"] = json!({"name": "Warm", "email": format!("warm{i}@example.com")})
            .to_string()
            .into();
        let reply = reply_from_gateway_response(&function.runtime.invoke(event).await);
        assert_eq!(reply.status, 201);
        assert_eq!(reply.json()["user"]["id"], i + 1);
    }
}

/// Runs `name` under the loopback Runtime API with `env` and expects it to refuse to start:
/// returns what it printed on stderr.
pub(crate) async fn refused_start(name: &str, env: &[(&str, &str)]) -> String {
    let runtime = RuntimeApi::start().await;
    let output = lambda_command(name, &runtime, env)
        .stdin(Stdio::null())
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), output)
        .await
        .expect("the function exits instead of serving")
        .expect("run the function");
    assert!(!output.status.success(), "{name} started with {env:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn under_lambda_a_function_without_a_table_refuses_to_start() {
    // A deploy that lost USERS_TABLE must not answer 201 and keep users in one instance's memory.
    let stderr = refused_start("create-user", &[]).await;
    assert!(
        stderr.contains("USERS_TABLE") && stderr.contains("not set"),
        "{stderr}"
    );
    // Conflicting or unknown choices are refused too, naming the variable.
    let both = [("USERS_STORE", "memory"), ("USERS_TABLE", "users")];
    assert!(
        refused_start("get-user", &both)
            .await
            .contains("USERS_STORE")
    );
    let unknown = [("USERS_STORE", "redis")];
    assert!(
        refused_start("get-user", &unknown)
            .await
            .contains("USERS_STORE")
    );
    // Asked for explicitly, the in-memory store is served (the other tests here run so).
    let function = FunctionProcess::start("list-users", IN_MEMORY).await;
    assert_eq!(invoke(&function, "list-users.json").await.status, 200);
}

#[tokio::test]
async fn under_sam_local_a_function_reaches_aws_only_when_its_endpoint_says_so() {
    // What template.yaml declares, as `sam local` passes it when no env-vars file overrides it.
    let sam_local = [
        ("AWS_SAM_LOCAL", "true"),
        ("USERS_TABLE", "users"),
        ("AWS_ENDPOINT_URL_DYNAMODB", ""),
    ];
    let stderr = refused_start("get-user", &sam_local).await;
    assert!(
        stderr.contains("AWS_ENDPOINT_URL_DYNAMODB: empty under sam local (AWS_SAM_LOCAL=true)")
            && stderr.contains("sam-local/env.json"),
        "{stderr}"
    );
    let events = [
        ("AWS_SAM_LOCAL", "true"),
        ("EVENT_BUS_NAME", "users"),
        ("AWS_ENDPOINT_URL_EVENTBRIDGE", ""),
    ];
    assert!(
        refused_start(EVENTS_FUNCTION, &events)
            .await
            .contains("AWS_ENDPOINT_URL_EVENTBRIDGE: empty under sam local")
    );
    // An endpoint named on purpose, AWS's own included, is served (no request is made here).
    for endpoint in [
        "http://host.docker.internal:8000",
        "https://dynamodb.us-east-1.amazonaws.com",
    ] {
        let mut env = sam_local;
        env[2].1 = endpoint;
        let function = FunctionProcess::start("get-user", &env).await;
        let invalid_id = with_user_id(fixture("get-user.json"), "abc");
        let reply = reply_from_gateway_response(&function.runtime.invoke(invalid_id).await);
        assert_eq!(reply.status, 400, "{endpoint}");
    }
    // The in-memory store needs no endpoint.
    let memory = [("AWS_SAM_LOCAL", "true"), ("USERS_STORE", "memory")];
    let function = FunctionProcess::start("list-users", &memory).await;
    assert_eq!(invoke(&function, "list-users.json").await.status, 200);
}

#[tokio::test]
async fn the_events_function_refuses_to_start_without_a_bus_or_with_unclear_settings() {
    let stderr = refused_start(EVENTS_FUNCTION, &[]).await;
    assert!(
        stderr.contains("EVENT_BUS_NAME") && stderr.contains("not set"),
        "{stderr}"
    );
    let unclear = [("EVENT_BUS_NAME", "users"), ("EVENTS_INCLUDE_USER", "yes")];
    assert!(
        refused_start(EVENTS_FUNCTION, &unclear)
            .await
            .contains("EVENTS_INCLUDE_USER")
    );
    let aws_source = [("EVENT_BUS_NAME", "users"), ("EVENT_SOURCE", "aws.users")];
    assert!(
        refused_start(EVENTS_FUNCTION, &aws_source)
            .await
            .contains("EVENT_SOURCE")
    );
}
