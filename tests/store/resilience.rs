//! The store failing, hanging and coming back, through the HTTP contract: 503 with Retry-After
//! within the timeout, never a hang or a 500; a breaker that fails fast and recovers by itself;
//! and no half-written user after a write fault.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use integration_tests::contract::{assert_error, create, get, post};
use integration_tests::dynamo::{
    OwnServer, as_pairs, assert_users_and_claims_agree_with, client_for,
};
use integration_tests::faults::{Fault, FaultyStore};
use integration_tests::lambda_target::{LambdaTarget, fixture, reply_from_gateway_response};
use integration_tests::processes::LocalApi;
use integration_tests::runtime_api::FunctionProcess;
use integration_tests::{Target, TestRequest};
use lambda_http::{Body, Request};
use serde_json::json;
use shared::middleware::breaker::{BreakerConfig, BreakerState};
use shared::middleware::{GuardedStore, ResilienceConfig};
use shared::store::dynamodb::schema;

fn config(open_for: Duration) -> ResilienceConfig {
    ResilienceConfig {
        store_timeout: Duration::from_millis(200),
        breaker: BreakerConfig {
            failure_ratio: 0.5,
            min_calls: 4,
            consecutive_failures: 3,
            window: Duration::from_secs(10),
            open_for,
        },
    }
}

fn guarded(
    open_for: Duration,
) -> (
    Arc<FaultyStore>,
    Arc<GuardedStore<FaultyStore>>,
    LambdaTarget,
) {
    let faulty = Arc::new(FaultyStore::default());
    let store = Arc::new(GuardedStore::new(faulty.clone(), config(open_for)));
    let target = LambdaTarget::over(store.clone());
    (faulty, store, target)
}

#[tokio::test]
async fn a_hanging_store_is_a_503_within_the_timeout() {
    let (faulty, _, target) = guarded(Duration::from_secs(5));
    let user = create(&target, "Hang", "hang@example.com", 1).await;
    faulty.set(Fault::Hang);
    let started = Instant::now();
    let reply = get(&target, &format!("/users/{}", user["id"])).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert_error(&reply, 503, "unavailable");
    assert!(reply.header("retry-after").is_some());
    assert_error(
        &post(&target, json!({"name": "X", "email": "x@example.com"})).await,
        503,
        "unavailable",
    );
    faulty.set(Fault::None);
    assert_eq!(
        get(&target, &format!("/users/{}", user["id"])).await.status,
        200
    );
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_and_recovers_without_a_restart() {
    let (faulty, store, target) = guarded(Duration::from_millis(400));
    faulty.set(Fault::Unavailable);
    for _ in 0..4 {
        assert_error(&get(&target, "/users/1").await, 503, "unavailable");
    }
    assert_eq!(store.breaker_state(), BreakerState::Open);
    let calls_when_opened = faulty.calls();

    // While open: refused without touching the store (so without waiting for it), with the time
    // to come back.
    for _ in 0..20 {
        let request = Request::new(Body::Empty);
        let (mut parts, body) = request.into_parts();
        parts.uri = "/users/1".parse().unwrap();
        let (response, _) = target.api.handle(Request::from_parts(parts, body)).await;
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
    }
    assert_eq!(
        faulty.calls(),
        calls_when_opened,
        "the store was not called"
    );

    // The store comes back; after the open period one probe closes the breaker.
    faulty.set(Fault::None);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_error(&get(&target, "/users/1").await, 404, "user_not_found");
    assert_eq!(store.breaker_state(), BreakerState::Closed);
    create(&target, "Back", "back@example.com", 1).await;
}

#[tokio::test]
async fn retry_after_is_what_is_left_of_the_open_period() {
    let (faulty, _, target) = guarded(Duration::from_secs(5));
    faulty.set(Fault::Unavailable);
    for _ in 0..4 {
        get(&target, "/users/1").await;
    }
    let reply = get(&target, "/users/1").await;
    assert_error(&reply, 503, "unavailable");
    assert_eq!(reply.header("retry-after"), Some("5"));
}

#[tokio::test]
async fn client_errors_never_open_the_breaker() {
    let (_, store, target) = guarded(Duration::from_secs(5));
    create(&target, "Taken", "taken@example.com", 1).await;
    for _ in 0..10 {
        assert_eq!(get(&target, "/users/999").await.status, 404);
        assert_eq!(
            post(&target, json!({"name": "T", "email": "taken@example.com"}))
                .await
                .status,
            409
        );
        assert_eq!(get(&target, "/users/abc").await.status, 400);
    }
    assert_eq!(store.breaker_state(), BreakerState::Closed);
}

fn dynamo_env(server: &OwnServer, table: &str) -> Vec<(&'static str, String)> {
    vec![
        ("USERS_TABLE", table.to_owned()),
        ("AWS_ENDPOINT_URL", server.endpoint()),
        ("STORE_TIMEOUT_MS", "900".to_owned()),
        ("BREAKER_MIN_CALLS", "4".to_owned()),
        ("BREAKER_OPEN_SECONDS", "1".to_owned()),
    ]
}

/// Sends a mixed burst of writes and reads; every answer must be a contract answer, in time.
async fn burst(api: &LocalApi, round: usize, ids: &[u64]) -> Vec<u16> {
    let requests = (0..24).map(|i| {
        let id = ids[i % ids.len()];
        let path = format!("/users/{id}");
        let request = match i % 4 {
            0 => TestRequest::new(Method::POST, "/users")
                .json(&json!({"name": "B", "email": format!("b{round}-{i}@example.com")})),
            1 => TestRequest::new(Method::PUT, &path)
                .json(&json!({"email": format!("moved{round}-{i}@example.com")})),
            2 => TestRequest::new(Method::DELETE, &path),
            _ => TestRequest::new(Method::GET, &path),
        };
        async move {
            let started = Instant::now();
            let reply = api.send(request).await;
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "answered in {:?}",
                started.elapsed()
            );
            reply.status
        }
    });
    let statuses = futures::future::join_all(requests).await;
    for status in &statuses {
        assert!(
            [200, 201, 204, 404, 409, 503].contains(status),
            "status {status} in {statuses:?}"
        );
    }
    statuses
}

/// Store calls the breaker refused so far, from `local-api`'s `/metrics`.
async fn rejected_store_calls(api: &LocalApi) -> f64 {
    let metrics = get(api, "/metrics").await;
    String::from_utf8_lossy(&metrics.body)
        .lines()
        .filter(|line| {
            line.starts_with("store_calls_total{") && line.contains("outcome=\"rejected\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_dynamodb_gives_503s_leaves_no_partial_writes_and_recovers() {
    let server = OwnServer::start().await;
    let table = "users-freeze";
    let api = LocalApi::launch(
        &as_pairs(&dynamo_env(&server, table)),
        &["--port", "0", "--create-table"],
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            create(&api, "F", &format!("f{i}@example.com"), 1).await["id"]
                .as_u64()
                .unwrap(),
        );
    }
    // Freeze the server while a burst of writes is in flight.
    let freezer = async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        server.freeze();
    };
    let (statuses, ()) = tokio::join!(burst(&api, 0, &ids), freezer);
    assert!(statuses.contains(&503), "the freeze was felt: {statuses:?}");
    // Open breaker: answered without calling the store, so without waiting for its timeout.
    let rejected_before = rejected_store_calls(&api).await;
    let reply = get(&api, "/users/1").await;
    assert_error(&reply, 503, "unavailable");
    assert_eq!(rejected_store_calls(&api).await, rejected_before + 1.0);

    server.thaw();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let back = create(&api, "Back", "back@example.com", 1).await;
    assert_eq!(
        get(&api, &format!("/users/{}", back["id"])).await.status,
        200
    );
    // Writes cut off by the freeze either happened whole or not at all.
    let client = client_for(&server.endpoint());
    let users = assert_users_and_claims_agree_with(&client, table).await;
    assert!(users >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_dynamodb_gives_503s_and_a_restarted_one_serves_again() {
    let server = OwnServer::start().await;
    let table = "users-kill";
    let api = LocalApi::launch(
        &as_pairs(&dynamo_env(&server, table)),
        &["--port", "0", "--create-table"],
    )
    .await;
    let user = create(&api, "K", "k@example.com", 1).await;
    let mut server = server;
    server.kill();
    // Down: every request is a 503 within the timeout, never a 500 or a hang.
    let down = burst(&api, 1, &[user["id"].as_u64().unwrap()]).await;
    assert!(down.iter().all(|s| *s == 503), "{down:?}");
    // Back (empty, as a restarted DynamoDB-compatible server is) with its table: local-api serves
    // again without a restart once the breaker lets a probe through.
    server.restart().await;
    let client = client_for(&server.endpoint());
    schema::create_table(&client, table).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = create(&api, "Again", "again@example.com", 1).await;
    assert_eq!(
        get(&api, &format!("/users/{}", again["id"])).await.json()["user"],
        again
    );
    assert_users_and_claims_agree_with(&client, table).await;
}

/// The store calls of the EMF lines a function printed for its last invocation, as
/// (call, outcome), waiting briefly for the lines to come through the pipe.
async fn store_calls(function: &FunctionProcess) -> Vec<(String, String)> {
    for _ in 0..100 {
        let calls: Vec<(String, String)> = function
            .take_stdout()
            .iter()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| line.get("store_calls_total").is_some())
            .map(|line| {
                let field = |name: &str| line[name].as_str().unwrap_or_default().to_owned();
                (field("call"), field("outcome"))
            })
            .collect();
        if !calls.is_empty() {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no store_calls_total in the function's EMF output");
}

/// Lambda's shape of traffic: one function process, one invocation at a time, against a store
/// that accepts connections and never answers. The window never sees the breaker's minimum
/// volume; the run of failures must open it all the same.
#[tokio::test(flavor = "multi_thread")]
async fn on_lambda_the_breaker_opens_after_consecutive_failures_and_recovers() {
    let server = OwnServer::start().await;
    let table = "users-lambda-breaker";
    schema::create_table(&client_for(&server.endpoint()), table)
        .await
        .unwrap();
    let endpoint = server.endpoint();
    let function = FunctionProcess::start(
        "get-user",
        &[
            ("USERS_TABLE", table),
            ("AWS_ENDPOINT_URL", &endpoint),
            ("STORE_TIMEOUT_MS", "400"),
            ("DYNAMODB_MAX_ATTEMPTS", "1"),
            ("BREAKER_OPEN_SECONDS", "1"),
        ],
    )
    .await;
    let get_user = || async {
        let event = fixture("get-user.json");
        reply_from_gateway_response(&function.runtime.invoke(event).await)
    };
    assert_error(&get_user().await, 404, "user_not_found");
    assert_eq!(store_calls(&function).await, [("get".into(), "ok".into())]);

    server.freeze();
    for _ in 0..3 {
        assert_error(&get_user().await, 503, "unavailable");
        let calls = store_calls(&function).await;
        assert_eq!(calls, [("get".into(), "unavailable".into())]);
    }
    // Three in a row: open. The store is not called at all (no timeout to wait out), and the
    // client is told when to come back.
    for _ in 0..3 {
        let reply = get_user().await;
        assert_error(&reply, 503, "unavailable");
        assert_eq!(reply.header("retry-after"), Some("1"));
        let calls = store_calls(&function).await;
        assert_eq!(calls, [("get".into(), "rejected".into())]);
    }

    server.thaw();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..2 {
        assert_error(&get_user().await, 404, "user_not_found");
        assert_eq!(store_calls(&function).await, [("get".into(), "ok".into())]);
    }
}

/// Throttling is the store at its capacity, not a failing store: every throttled call is a 503
/// with Retry-After, and the breaker stays closed, so calls keep reaching DynamoDB (throttling is
/// one partition's or index's: an open breaker would refuse the calls that are not at a limit).
#[tokio::test]
async fn throttling_never_opens_the_breaker() {
    let (faulty, store, target) = guarded(Duration::from_secs(5));
    faulty.set(Fault::Throttled);
    for _ in 0..20 {
        let reply = get(&target, "/users/1").await;
        assert_error(&reply, 503, "unavailable");
        assert_eq!(reply.header("retry-after"), Some("1"));
    }
    assert_eq!(store.breaker_state(), BreakerState::Closed);
    assert_eq!(faulty.calls(), 20, "every call reached the store");
}
