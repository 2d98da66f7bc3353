//! `sam local`, as the README documents it: SAM's own API Gateway emulation and single
//! invocations over the arm64 bootstraps that `sam build` made, in Docker containers, with the
//! checked-in `sam-local/env.json` pointing them at a DynamoDB test server on Docker's bridge
//! address (reachable from this machine's containers only).

use std::path::Path;

use http::Method;
use integration_tests::contract::{all_users, create, get};
use integration_tests::contract_tests;
use integration_tests::dynamo::OwnServer;
use integration_tests::sam_local::{
    ONE_AT_A_TIME, SamLocalApi, create_table, docker_host_address, dynamodb_port, env_vars,
    env_vars_file, invoke, remove_users,
};
use integration_tests::{Target, TestRequest};
use serde_json::{Value, json};

/// An API Gateway HTTP API event from `sam local generate-event`, as the README shows it.
fn generated_event(dir: &Path, method: &str, path: &str, body: &Value) -> std::path::PathBuf {
    let output =
        std::process::Command::new(integration_tests::sam::repo_root().join(".venv-sam/bin/sam"))
            .env("SAM_CLI_TELEMETRY", "0")
            .args(["local", "generate-event", "apigateway", "http-api-proxy"])
            .args([
                "--method",
                method,
                "--path",
                path,
                "--body",
                &body.to_string(),
            ])
            .output()
            .expect("run sam local generate-event");
    assert!(output.status.success(), "{output:?}");
    let file = dir.join(format!("{method}-{}.json", path.replace('/', "_")));
    std::fs::write(&file, &output.stdout).expect("write the event");
    file
}

/// A directory of this test run's own under target/.
fn scratch_dir(purpose: &str) -> std::path::PathBuf {
    let dir = integration_tests::sam::repo_root()
        .join(format!("target/{purpose}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// The requests SAM's emulation answers itself, without running a function: the contract cases
/// left out above, and what SAM says instead. Deployed, API Gateway answers the first two kinds
/// (404 `{"message":"Not Found"}` for a request no route matches), and passes any body to the
/// function, base64-encoded when it is not text.
async fn where_sam_answers_itself(api: &SamLocalApi) {
    // No route of the template matches: 403 "Missing Authentication Token".
    for (method, path) in [
        (Method::GET, "/"),
        (Method::GET, "/user"),
        (Method::GET, "/users/1/friends"),
        (Method::GET, "/USERS"),
        (Method::DELETE, "/users"),
        (Method::POST, "/users/1"),
    ] {
        let reply = api.send(TestRequest::new(method.clone(), path)).await;
        assert_eq!(reply.status, 403, "{method} {path}");
        assert_eq!(
            reply.json(),
            json!({"message": "Missing Authentication Token"})
        );
    }
    // A body that is not UTF-8 fails inside SAM (UnicodeDecodeError in its log): 502.
    let reply = api
        .send(TestRequest::new(Method::POST, "/users").raw(&b"\xff\xfe{}"[..]))
        .await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json(), json!({"message": "Internal server error"}));
    assert!(api.log_text().contains("UnicodeDecodeError"));
    // SAM decodes the path before the function sees it (API Gateway passes it as sent, and the
    // function refuses `%31` as an id): `/users/%31%32` reaches the function as `/users/12`.
    let user = create(api, "Kept", "kept@example.com", 9).await;
    let id = user["id"].to_string();
    let encoded: String = id.bytes().map(|digit| format!("%{digit:02X}")).collect();
    let decoded = get(api, &format!("/users/{encoded}")).await;
    assert_eq!(
        decoded.status, 200,
        "{encoded} reached the function as {id}"
    );
    assert_eq!(decoded.json()["user"], user);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_sam_local_a_function_without_a_local_endpoint_refuses_to_start() {
    let _alone = ONE_AT_A_TIME.lock().await;
    docker_host_address();
    let dir = scratch_dir("sam-local-refusal");
    // What a user gets who passes no endpoint, or passes the SDK's global AWS_ENDPOINT_URL, which
    // the template does not declare and SAM therefore drops without a word.
    let env_file = dir.join("env.json");
    let dropped = json!({"Parameters": {"USERS_TABLE": "users", "AWS_ENDPOINT_URL": "http://host.docker.internal:8000"}});
    std::fs::write(&env_file, dropped.to_string()).unwrap();
    let event = generated_event(&dir, "GET", "users", &json!({}));
    let output = invoke("ListUsersFunction", &event, &env_file);
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(
        logs.contains("AWS_ENDPOINT_URL_DYNAMODB: empty under sam local (AWS_SAM_LOCAL=true)"),
        "the function names the variable to set:\n{logs}"
    );
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("\"statusCode\""),
        "the function answered instead of refusing to start: {output:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_holds_through_sam_local_on_the_dynamodb_test_server() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let host = docker_host_address();
    let env_file = env_vars_file();
    let vars = env_vars(&env_file);
    let table = vars["USERS_TABLE"]
        .as_str()
        .expect("USERS_TABLE")
        .to_owned();
    let server = OwnServer::start_at(host, dynamodb_port(&vars)).await;
    let client = create_table(&server.endpoint(), &table).await;

    // `sam local invoke` with an event from `sam local generate-event`.
    let dir = scratch_dir("sam-local-invoke");
    let body = json!({"name": "Ada Lovelace", "email": "ada@example.com", "age": 36});
    let event = generated_event(&dir, "POST", "users", &body);
    let output = invoke("CreateUserFunction", &event, &env_file);
    let answer: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("sam local invoke printed no answer ({e}): {output:?}"));
    assert_eq!(answer["statusCode"], 201, "{answer}");
    let created: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(created["user"]["email"], "ada@example.com");

    // Every contract case through `sam local start-api`, unsigned: SAM does not enforce the
    // template's IAM authorization (it says so when it starts).
    let api = SamLocalApi::start(&env_file).await;
    let user = get(&api, &format!("/users/{}", created["user"]["id"])).await;
    assert_eq!(user.status, 200, "{}", String::from_utf8_lossy(&user.body));
    assert_eq!(
        user.json()["user"],
        created["user"],
        "the invoke's user, read through start-api"
    );
    let ran = contract_tests!(
        in_order &api,
        remove_users(&client, &table),
        // What SAM answers instead: `where_sam_answers_itself`.
        except [
            unknown_routes_are_404,
            wrong_methods_are_405_with_allow,
            bodies_that_are_not_utf8_are_400,
            percent_encoded_ids_are_400,
        ]
    );
    println!("{ran} contract cases passed through sam local start-api");
    remove_users(&client, &table).await;
    where_sam_answers_itself(&api).await;
    assert_eq!(
        all_users(&api).await.len(),
        1,
        "of those requests, only the one user's create changed anything"
    );
    assert!(
        api.log_text()
            .contains("is not supported for local emulation, requests will not be authorized"),
        "SAM says the IAM authorizer is not emulated"
    );
    drop(api);
    drop(server);
}
