//! The typed client against real processes: the same cases in process and through the client
//! (both stores), endpoints killed and restarted under load, a lost answer to a create, a
//! `Retry-After`, and signatures checked against botocore's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use client::discovery::{self, BaseUrl};
use client::signing::sign_request;
use client::{ClientConfig, CreateUser, ErrorKind, Precondition, UserUpdate, Users, UsersClient};
use futures::future::join_all;
use integration_tests::dynamo::{as_pairs, fresh_store, fresh_table, process_env};
use integration_tests::lossy_hop::{Loss, LossyHop, Rule};
use integration_tests::processes::LocalApi;
use integration_tests::sam::repo_root;
use integration_tests::{IN_MEMORY, free_port};
use shared::domain::UserId;
use shared::middleware::breaker::{BreakerConfig, BreakerState};
use shared::store::MemoryStore;
use shared::users::InProcess;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn client_for(urls: &[String]) -> UsersClient {
    UsersClient::new(ClientConfig::new(discovery::from_list(urls).unwrap()), None).unwrap()
}

fn ada() -> CreateUser {
    CreateUser {
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        age: Some(36),
    }
}

/// One walk through every operation and its errors, as a transcript of outcomes: equal
/// transcripts mean a caller cannot tell one implementation from another.
async fn walk(users: &dyn Users) -> Vec<String> {
    let mut seen = Vec::new();
    let mut note = |what: &str, outcome: String| seen.push(format!("{what}: {outcome}"));
    let created = users.create(ada(), None).await.unwrap();
    assert_eq!(created.version, Some(1));
    note("create", format!("{created:?}"));
    let id = created.id;
    note("get", format!("{:?}", users.get(id).await));
    let missing = UserId::new(999_999).unwrap();
    note(
        "get missing",
        format!("{:?}", users.get(missing).await.map_err(|e| e.kind)),
    );
    let taken = CreateUser {
        email: "ADA@example.com".into(),
        ..ada()
    };
    note(
        "taken",
        format!("{:?}", users.create(taken, None).await.map_err(|e| e.kind)),
    );
    let invalid = CreateUser {
        email: "not an email".into(),
        ..ada()
    };
    note(
        "invalid",
        format!(
            "{:?}",
            users.create(invalid, None).await.map_err(|e| e.kind)
        ),
    );
    let older = UserUpdate {
        age: Some(37),
        ..UserUpdate::default()
    };
    let updated = users
        .update(id, older.clone(), Precondition::Version(1))
        .await
        .unwrap();
    assert_eq!((updated.age, updated.version), (37, Some(2)));
    note("update", format!("{updated:?}"));
    note(
        "stale update",
        format!(
            "{:?}",
            users
                .update(id, older, Precondition::Version(1))
                .await
                .map_err(|e| e.kind)
        ),
    );
    let keyed = CreateUser {
        name: "Bob".into(),
        email: "bob@example.com".into(),
        age: None,
    };
    let first = users
        .create(keyed.clone(), Some("bob-signup"))
        .await
        .unwrap();
    let replay = users.create(keyed, Some("bob-signup")).await.unwrap();
    assert_eq!(first, replay);
    let reused = CreateUser {
        name: "Carl".into(),
        email: "carl@example.com".into(),
        age: None,
    };
    note(
        "reused key",
        format!(
            "{:?}",
            users
                .create(reused, Some("bob-signup"))
                .await
                .map_err(|e| e.kind)
        ),
    );
    for n in 0..3 {
        let user = CreateUser {
            name: format!("User {n}"),
            email: format!("user{n}@example.com"),
            age: Some(n),
        };
        users.create(user, None).await.unwrap();
    }
    let mut listed = Vec::new();
    let mut cursor = None;
    loop {
        let page = users.list(Some(2), cursor.as_deref()).await.unwrap();
        listed.extend(page.users.iter().map(|u| (u.id, u.version)));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    // Ids are the store's to give (DynamoDB burns the ids of failed creates): the listing is
    // compared by size, order and what it says of versions.
    assert!(
        listed.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "{listed:?}"
    );
    let versions: Vec<Option<u64>> = listed.iter().map(|(_, version)| *version).collect();
    note("listed", format!("{versions:?}"));
    note(
        "bad limit",
        format!("{:?}", users.list(Some(0), None).await.map_err(|e| e.kind)),
    );
    note(
        "bad cursor",
        format!(
            "{:?}",
            users.list(None, Some("nope")).await.map_err(|e| e.kind)
        ),
    );
    note(
        "stale delete",
        format!(
            "{:?}",
            users
                .delete(id, Precondition::Version(1))
                .await
                .map_err(|e| e.kind)
        ),
    );
    note(
        "delete",
        format!("{:?}", users.delete(id, Precondition::Version(2)).await),
    );
    note(
        "deleted",
        format!("{:?}", users.get(id).await.map_err(|e| e.kind)),
    );
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn callers_cannot_tell_in_process_from_the_client_on_either_store() {
    let in_memory = walk(&InProcess::new(Arc::new(MemoryStore::new()))).await;
    let on_dynamodb = walk(&InProcess::new(Arc::new(fresh_store(50).await))).await;
    let local = LocalApi::start(IN_MEMORY).await;
    let remote_memory = walk(&client_for(&[local.client.base_url().to_owned()])).await;
    let env = process_env(&fresh_table("client-walk").await);
    let local_dynamodb = LocalApi::start(&as_pairs(&env)).await;
    let remote_dynamodb = walk(&client_for(&[local_dynamodb.client.base_url().to_owned()])).await;
    assert_eq!(in_memory, on_dynamodb);
    assert_eq!(in_memory, remote_memory);
    assert_eq!(in_memory, remote_dynamodb);
    let expected_errors = [
        "get missing: Err(NotFound)",
        "taken: Err(EmailTaken)",
        "invalid: Err(InvalidArgument { message: \"email must be a valid email address\" })",
        "stale update: Err(PreconditionFailed)",
        "reused key: Err(IdempotencyKeyReused)",
        "bad cursor: Err(InvalidArgument { message: \"cursor is invalid\" })",
        "stale delete: Err(PreconditionFailed)",
        "deleted: Err(NotFound)",
    ];
    for expected in expected_errors {
        assert!(
            in_memory.iter().any(|line| line == expected),
            "{expected} in {in_memory:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_carry_the_request_id_of_the_answer() {
    let local = LocalApi::start(IN_MEMORY).await;
    let users = client_for(&[local.client.base_url().to_owned()]);
    let error = users.get(UserId::new(42).unwrap()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotFound);
    let id = error.request_id.clone().expect("a request id");
    assert!(!id.is_empty());
    assert!(error.to_string().contains(&id));
}

/// `local-api` on a port of its choosing, on `table`.
async fn instance(port: u16, env: &[(&'static str, String)]) -> LocalApi {
    LocalApi::launch(&as_pairs(env), &["--port", &port.to_string()]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_endpoint_costs_no_call_and_gets_its_traffic_back_after_a_restart() {
    // What is under test is the client's view of a killed endpoint. The survivors share one
    // DynamoDB test server, which serialises every request: on a loaded machine it can stall for
    // seconds, and the defaults would rightly turn that into 503s and timeouts that open the
    // survivors' circuits too. Generous store and attempt timeouts keep such a stall latency.
    let mut env = process_env(&fresh_table("client-kill").await);
    env.push(("STORE_TIMEOUT_MS", "20000".to_owned()));
    let ports = [free_port(), free_port(), free_port()];
    let mut instances = Vec::new();
    for port in ports {
        instances.push(Some(instance(port, &env).await));
    }
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let mut config = ClientConfig::new(discovery::from_list(&urls).unwrap());
    config.breaker = BreakerConfig {
        open_for: Duration::from_millis(300),
        ..BreakerConfig::default()
    };
    config.attempt_timeout = Duration::from_secs(20);
    config.retry.budget = Duration::from_secs(60);
    let users = Arc::new(UsersClient::new(config, None).unwrap());
    let created = users.create(ada(), None).await.unwrap();
    let failed = Arc::new(AtomicUsize::new(0));
    let run = |calls: usize| {
        let users = users.clone();
        let failed = failed.clone();
        async move {
            let workers = (0..8).map(|_| {
                let users = users.clone();
                let failed = failed.clone();
                async move {
                    for _ in 0..calls / 8 {
                        if let Err(error) = users.get(created.id).await {
                            eprintln!("failed call: {error}");
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
            join_all(workers).await;
        }
    };
    run(800).await;
    instances[1].take().unwrap().kill().await;
    run(1600).await;
    let stats = users.endpoint_stats();
    assert!(stats[1].opened >= 1, "{stats:?}");
    assert_eq!(stats[1].state, BreakerState::Open, "{stats:?}");
    let served_before_restart = stats[1].served;
    instances[1] = Some(instance(ports[1], &env).await);
    tokio::time::sleep(Duration::from_millis(400)).await;
    run(800).await;
    let stats = users.endpoint_stats();
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "every call succeeded: {stats:?}"
    );
    assert!(
        stats[1].closed >= 1,
        "its probe succeeded after the restart: {stats:?}"
    );
    assert_eq!(stats[1].state, BreakerState::Closed, "{stats:?}");
    assert!(
        stats[1].served > served_before_restart + 100,
        "traffic back on the restarted endpoint: {stats:?}"
    );

    // Everything down: every call fails as unavailable, within its budget, none hangs.
    for instance in instances.iter_mut() {
        instance.take().unwrap().kill().await;
    }
    // Each call stops after its attempts, every connection refused at once; the guard only
    // catches a hang.
    let outcomes = tokio::time::timeout(
        Duration::from_secs(30),
        join_all((0..20).map(|_| users.get(created.id))),
    )
    .await
    .expect("no call hangs");
    for outcome in outcomes {
        assert!(
            matches!(outcome, Err(ref e) if matches!(e.kind, ErrorKind::Unavailable { .. })),
            "{outcome:?}"
        );
    }
}

/// A hop in front of `local` that drops the answer to the first request of `kind` it forwards.
async fn losing_the_first(local: &LocalApi, kind: &'static str) -> LossyHop {
    let upstream = local
        .client
        .base_url()
        .trim_start_matches("http://")
        .to_owned();
    let lose_the_first = Rule {
        kind,
        count: 1,
        loss: Loss::Drop,
    };
    LossyHop::start(&upstream, vec![lose_the_first]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_whose_answer_is_lost_is_retried_into_exactly_one_user() {
    let local = LocalApi::start(IN_MEMORY).await;
    let hop = losing_the_first(&local, "POST /users").await;
    let users = client_for(&[hop.endpoint()]);
    let created = users.create(ada(), None).await.unwrap();
    assert_eq!(hop.lost("POST /users"), 1, "the first answer was lost");
    assert_eq!(hop.seen("POST /users"), 2, "and the create was sent again");
    let direct = client_for(&[local.client.base_url().to_owned()]);
    let page = direct.list(None, None).await.unwrap();
    assert_eq!(page.users.len(), 1, "{page:?}");
    assert_eq!(page.users[0].id, created.id);
}

/// Whether `error` says the call may or may not have taken effect: what a retry that meets its
/// own earlier attempt's effect must answer, rather than `404` or `412`.
fn is_indeterminate(error: &client::UsersError) -> bool {
    matches!(&error.kind, ErrorKind::Unavailable { reason, .. }
        if reason.contains("may or may not have taken effect"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_that_meets_its_own_lost_effect_is_indeterminate_not_404_or_412() {
    let local = LocalApi::start(IN_MEMORY).await;
    let direct = client_for(&[local.client.base_url().to_owned()]);
    let id = direct.create(ada(), None).await.unwrap().id;
    assert_eq!(id.get(), 1, "the first user of a fresh store");
    let age = |age| UserUpdate {
        age: Some(age),
        ..UserUpdate::default()
    };

    // The conditional update was applied (version 2); its retry meets version 2, not 1: a 412.
    let hop = losing_the_first(&local, "PATCH /users/1").await;
    let users = client_for(&[hop.endpoint()]);
    let error = users
        .update(id, age(40), Precondition::Version(1))
        .await
        .unwrap_err();
    assert!(is_indeterminate(&error), "{error:?}");
    assert_eq!(hop.seen("PATCH /users/1"), 2, "it was retried");
    assert_eq!(direct.get(id).await.unwrap().version, Some(2));

    // `If-Match: *` would match again and apply twice: it is sent once, and the loss reported.
    let hop = losing_the_first(&local, "PATCH /users/1").await;
    let users = client_for(&[hop.endpoint()]);
    let error = users
        .update(id, age(41), Precondition::Exists)
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind, ErrorKind::Unavailable { .. }),
        "{error:?}"
    );
    assert_eq!(hop.seen("PATCH /users/1"), 1, "never resent");
    let user = direct.get(id).await.unwrap();
    assert_eq!((user.version, user.age), (Some(3), 41), "applied once");

    // The delete was applied; its retry finds no user: a 404 about a change that happened.
    let hop = losing_the_first(&local, "DELETE /users/1").await;
    let users = client_for(&[hop.endpoint()]);
    let error = users.delete(id, Precondition::None).await.unwrap_err();
    assert!(is_indeterminate(&error), "{error:?}");
    assert_eq!(hop.seen("DELETE /users/1"), 2, "it was retried");
    let gone = direct.get(id).await.unwrap_err();
    assert_eq!(gone.kind, ErrorKind::NotFound);

    // Where no attempt was lost, a 404 is a 404.
    let error = direct.delete(id, Precondition::None).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_call_is_one_trace_and_each_call_its_own() {
    let log = std::env::temp_dir().join(format!(
        "users-api-retried-trace-{}.log",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&log);
    let env = [IN_MEMORY, &[("LOG_FORMAT", "json"), ("RUST_LOG", "info")]].concat();
    let local = LocalApi::start_logging_to(&env, &log).await;
    let hop = losing_the_first(&local, "POST /users").await;
    let users = client_for(&[hop.endpoint()]);
    let created = users.create(ada(), None).await.unwrap();
    users.get(created.id).await.unwrap();
    assert_eq!(hop.seen("POST /users"), 2, "the create was sent twice");
    assert!(local.terminate().await.success());
    let traces: Vec<(String, String)> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["message"] == "request completed")
        .map(|l| {
            let field = |name: &str| l["span"][name].as_str().unwrap_or_default().to_owned();
            (field("operation"), field("trace_id"))
        })
        .collect();
    let [(create, first), (create_again, second), (get, third)] = &traces[..] else {
        panic!("three requests: {traces:?}");
    };
    assert_eq!(
        (create.as_str(), create_again.as_str(), get.as_str()),
        ("create-user", "create-user", "get-user")
    );
    assert_eq!(first.len(), 32, "{traces:?}");
    assert_eq!(
        first, second,
        "both attempts of the create are in one trace"
    );
    assert_ne!(first, third, "another call, another trace");
}

/// A server answering `503` with `Retry-After: 2` once, then a user; it records when each request
/// arrived.
async fn unavailable_once() -> (String, Arc<std::sync::Mutex<Vec<Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = arrivals.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                loop {
                    let mut chunk = [0u8; 4096];
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let count = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(Instant::now());
                        seen.len()
                    };
                    let answer = if count == 1 {
                        let body = r#"{"error":"the user store is temporarily unavailable","code":"unavailable"}"#;
                        format!(
                            "HTTP/1.1 503 Service Unavailable\r\nretry-after: 2\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        )
                    } else {
                        let body =
                            r#"{"user":{"id":1,"name":"Ada","email":"ada@example.com","age":36}}"#;
                        format!(
                            "HTTP/1.1 200 OK\r\netag: \"1\"\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        )
                    };
                    if stream.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{address}"), arrivals)
}

#[tokio::test]
async fn a_retry_after_is_honoured() {
    let (url, arrivals) = unavailable_once().await;
    let mut config = ClientConfig::new(discovery::from_list(&[url]).unwrap());
    config.retry.budget = Duration::from_secs(5);
    let users = UsersClient::new(config, None).unwrap();
    let user = users.get(UserId::new(1).unwrap()).await.unwrap();
    assert_eq!(user.version, Some(1));
    let arrivals = arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 2);
    let waited = arrivals[1] - arrivals[0];
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");

    // With a budget shorter than the wait, the call ends with the server's answer instead.
    let (url, _) = unavailable_once().await;
    let mut config = ClientConfig::new(discovery::from_list(&[url]).unwrap());
    config.retry.budget = Duration::from_secs(1);
    let error = UsersClient::new(config, None)
        .unwrap()
        .get(UserId::new(1).unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        error.kind,
        ErrorKind::Unavailable {
            retry_after: Some(Duration::from_secs(2)),
            reason: "the user store is temporarily unavailable".into()
        }
    );
}

/// botocore's `SigV4Auth` on the same request, credentials and time.
fn botocore_authorization(
    method: &str,
    url: &str,
    body: &str,
    token: Option<&str>,
) -> (String, Option<String>) {
    let script = r#"
import datetime, json, sys
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

class Fixed(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return cls(2026, 11, 25, 12, 0, 0)
    @classmethod
    def now(cls, tz=None):
        return cls(2026, 11, 25, 12, 0, 0, tzinfo=tz)

botocore.auth.datetime.datetime = Fixed
args = json.loads(sys.argv[1])
credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", args["token"])
headers = {"content-type": "application/json"} if args["body"] else {}
request = AWSRequest(method=args["method"], url=args["url"], data=args["body"].encode(), headers=headers)
botocore.auth.SigV4Auth(credentials, "execute-api", "eu-west-1").add_auth(request)
print(json.dumps({"authorization": request.headers["Authorization"],
                  "token": request.headers.get("X-Amz-Security-Token")}))
"#;
    let args = serde_json::json!({"method": method, "url": url, "body": body, "token": token});
    let python = repo_root().join(".venv/bin/python");
    let output = std::process::Command::new(&python)
        .args(["-c", script, &args.to_string()])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; ./scripts/test installs botocore there",
                python.display()
            )
        });
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    (
        answer["authorization"].as_str().unwrap().to_owned(),
        answer["token"].as_str().map(str::to_owned),
    )
}

#[test]
fn signatures_are_the_ones_botocore_computes() {
    let time = std::time::UNIX_EPOCH + Duration::from_secs(1_795_608_000); // 2026-11-25T12:00:00Z
    let base = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1";
    let cases = [
        ("GET", "/users/42", ""),
        ("GET", "/users?limit=2&cursor=djE6MTA", ""),
        (
            "POST",
            "/users",
            r#"{"name":"Ada","email":"ada@example.com"}"#,
        ),
        ("DELETE", "/users/42", ""),
    ];
    for token in [None, Some("FwoGZXIvYXdzEXAMPLETOKEN//+=")] {
        let credentials = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_owned),
            None,
            "test",
        );
        for (method, path, body) in cases {
            let url = format!("{base}{path}");
            let mut request = http::Request::builder().method(method).uri(&url);
            if !body.is_empty() {
                request = request.header("content-type", "application/json");
            }
            let mut request = request.body(bytes::Bytes::from(body)).unwrap();
            sign_request(&mut request, &credentials, "eu-west-1", time).unwrap();
            let ours = request.headers()["authorization"]
                .to_str()
                .unwrap()
                .to_owned();
            let (theirs, their_token) = botocore_authorization(method, &url, body, token);
            assert_eq!(
                ours,
                theirs,
                "{method} {path} (session token: {})",
                token.is_some()
            );
            assert_eq!(
                request
                    .headers()
                    .get("x-amz-security-token")
                    .map(|v| v.to_str().unwrap().to_owned()),
                their_token
            );
        }
    }
}

#[tokio::test]
async fn the_api_url_is_discovered_from_a_stack_output() {
    let local = LocalApi::start(IN_MEMORY).await;
    let stack = integration_tests::dynamo::unique_table("users-stack");
    let template = serde_json::json!({
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"ApiUrl": {"Value": local.client.base_url()}},
    });
    let cloudformation = integration_tests::moto_client!(aws_sdk_cloudformation);
    cloudformation
        .create_stack()
        .stack_name(&stack)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    // What `users --stack` loads, pointed at the test server.
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(integration_tests::dynamo::endpoint())
        .credentials_provider(aws_credential_types::Credentials::for_tests())
        .http_client(shared::bootstrap::http_client(
            &shared::config::TrustRoots::default(),
        ))
        .load()
        .await;
    let found = discovery::from_stack(&config, &stack).await.unwrap();
    assert_eq!(found, [BaseUrl::parse(local.client.base_url()).unwrap()]);
    let missing = discovery::from_stack(&config, "no-such-stack")
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("no-such-stack"), "{missing}");

    // The CLI, with the standard AWS variables: the stack wins over USERS_API_URL, and the API
    // (a loopback URL) is called unsigned.
    let env = integration_tests::dynamo::sdk_env();
    let output = tokio::process::Command::new(integration_tests::processes::binary("users"))
        .args([
            "--stack",
            &stack,
            "create",
            "--name",
            "Stacked",
            "--email",
            "stack@example.com",
        ])
        .env("USERS_API_URL", "http://127.0.0.1:9")
        .envs(env)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let user: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(user["email"], "stack@example.com");
}

#[test]
fn a_program_using_the_client_compiles_no_dynamodb_sdk_nor_lambda_http() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args([
            "tree", "-p", "client", "-e", "normal", "--prefix", "none", "--locked",
        ])
        .args(["--format", "{p}"])
        .current_dir(repo_root())
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    assert!(tree.lines().any(|l| l.starts_with("shared ")), "{tree}");
    for forbidden in [
        "aws-sdk-dynamodb ",
        "lambda_http ",
        "aws_lambda_events ",
        "aws-sdk-eventbridge ",
    ] {
        assert!(
            !tree.lines().any(|l| l.starts_with(forbidden)),
            "the client depends on {forbidden}"
        );
    }
}

/// A server that accepts connections and never answers; counts the connections.
async fn silent_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::Relaxed);
            held.push(stream);
        }
    });
    (format!("http://{address}"), accepted)
}

#[tokio::test]
async fn a_silent_server_costs_one_timed_out_attempt_each_then_its_circuit_fails_fast() {
    let (url, connections) = silent_server().await;
    let mut config = ClientConfig::new(discovery::from_list(&[url]).unwrap());
    config.attempt_timeout = Duration::from_millis(200);
    // Room for all three attempts however slow the machine: the evidence is counted, not timed.
    config.retry.budget = Duration::from_secs(10);
    let users = UsersClient::new(config, None).unwrap();
    let id = UserId::new(1).unwrap();
    let error = users.get(id).await.unwrap_err();
    assert!(
        matches!(&error.kind, ErrorKind::Unavailable { reason, .. } if reason.contains("timed out")),
        "{error:?}"
    );
    // Each attempt timed out on its own connection (a connection with a request left unanswered
    // is never reused): three attempts, three connections.
    assert_eq!(connections.load(Ordering::Relaxed), 3);
    // Three failures in a row opened the endpoint's circuit: the next call fails at once,
    // saying when to try again, without a connection.
    let before = connections.load(Ordering::Relaxed);
    let error = users.get(id).await.unwrap_err();
    assert_eq!(
        connections.load(Ordering::Relaxed),
        before,
        "no connection while open"
    );
    assert!(
        matches!(&error.kind, ErrorKind::Unavailable { retry_after: Some(wait), reason }
            if reason.contains("circuit is open")
                && *wait > Duration::ZERO
                && *wait <= BreakerConfig::default().open_for),
        "{error:?}"
    );
    assert_eq!(users.endpoint_stats()[0].opened, 1);
}
