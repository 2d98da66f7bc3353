//! End to end under `cargo lambda watch`: the five real API function binaries, each in its own
//! process behind the emulated function URLs, sharing one table on the DynamoDB-compatible test
//! server (the real lambda_http event path as cargo-lambda drives it), and `publish-events` driven
//! with `cargo lambda invoke --data-file`, as the README tells (the watcher has no stream trigger).

use std::process::Stdio;
use std::time::{Duration, Instant};

use http::Method;
use integration_tests::dynamo::{endpoint, fresh_table};
use integration_tests::events::Subscription;
use integration_tests::http_client::HttpClient;
use integration_tests::sam::repo_root;
use integration_tests::{Reply, TestRequest};
use serde_json::json;
use tokio::process::{Child, Command};

/// `cargo lambda watch` and everything it starts, killed as one process group when dropped.
struct Watch {
    child: Child,
    client: HttpClient,
    port: u16,
}

impl Drop for Watch {
    /// Stops cargo-lambda and the function processes it started with SIGKILL, children first.
    /// No SIGINT: cargo-lambda's Ctrl-C handling was seen to signal far beyond its own children.
    fn drop(&mut self) {
        let Some(pid) = self.child.id() else { return };
        for descendant in descendants(pid) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &descendant.to_string()])
                .status();
        }
        let _ = self.child.start_kill();
    }
}

/// Every process below `root`, deepest first, read from /proc.
fn descendants(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The parent pid is the second field after the parenthesised command name.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, _) in parents.iter().filter(|(_, ppid)| *ppid == parent) {
            found.push(*pid);
            frontier.push(*pid);
        }
    }
    found.reverse();
    found
}

impl Watch {
    async fn start(env: &[(&str, &str)]) -> Self {
        let port = integration_tests::free_port();
        let env_vars = env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let repo = repo_root();
        let child = Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
                "--env-var",
                &env_vars,
            ])
            .current_dir(repo)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // Its own process group: cargo-lambda's Ctrl-C handling must not reach the test runner.
            .process_group(0)
            .spawn()
            .expect("`cargo lambda` must be installed: ./scripts/test installs it into .venv");
        let watch = Self {
            child,
            // The first request to a function builds it (apart from the workspace build: cargo
            // unifies features for that one package) and starts it.
            client: HttpClient::new(format!("http://127.0.0.1:{port}"))
                .with_timeout(Duration::from_secs(300)),
            port,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "cargo lambda watch did not listen"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        watch
    }

    /// Sends `request` to `function`'s URL (`/lambda-url/<function>/<path>`).
    async fn send(&self, function: &str, request: TestRequest) -> Reply {
        let request = TestRequest {
            target: format!("/lambda-url/{function}{}", request.target),
            ..request
        };
        self.client.send(request).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_functions_run_under_cargo_lambda_over_one_store_and_bus() {
    let table = fresh_table("watch").await;
    let endpoint = endpoint();
    let subscription = Subscription::create("watch-events", "users-api").await;
    let watch = Watch::start(&[
        ("USERS_TABLE", &table),
        ("EVENT_BUS_NAME", &subscription.bus),
        ("AWS_ENDPOINT_URL", &endpoint),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("RUST_LOG", "warn"),
    ])
    .await;

    let created = watch
        .send(
            "create-user",
            TestRequest::new(Method::POST, "/users")
                .json(&json!({"name": "Watch", "email": "watch@example.com", "age": 3})),
        )
        .await;
    assert_eq!(
        created.status,
        201,
        "{:?}",
        String::from_utf8_lossy(&created.body)
    );
    let user = created.json()["user"].clone();
    let path = format!("/users/{}", user["id"]);
    assert_eq!(created.header("location"), Some(path.as_str()));

    let fetched = watch
        .send("get-user", TestRequest::new(Method::GET, &path))
        .await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json()["user"], user);
    let found = watch
        .send(
            "find-user",
            TestRequest::new(Method::POST, "/users/find")
                .json(&json!({"email": "WATCH@example.com"})),
        )
        .await;
    assert_eq!(found.status, 200);
    assert_eq!(found.json()["user"], user);

    let updated = watch
        .send(
            "update-user",
            TestRequest::new(Method::PUT, &path).json(&json!({"age": 4})),
        )
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.json()["user"]["age"], 4);
    let patched = watch
        .send(
            "update-user",
            TestRequest::new(Method::PATCH, &path).json(&json!({"name": "Patched"})),
        )
        .await;
    assert_eq!(patched.json()["user"]["name"], "Patched");

    let listed = watch
        .send(
            "list-users",
            TestRequest::new(Method::GET, "/users?limit=10"),
        )
        .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()["users"][0]["name"], "Patched");
    assert_eq!(listed.json()["users"].as_array().unwrap().len(), 1);

    let duplicate = watch
        .send(
            "create-user",
            TestRequest::new(Method::POST, "/users")
                .json(&json!({"name": "Dup", "email": "WATCH@example.com"})),
        )
        .await;
    assert_eq!(duplicate.status, 409);

    let deleted = watch
        .send("delete-user", TestRequest::new(Method::DELETE, &path))
        .await;
    assert_eq!(deleted.status, 204);
    let gone = watch
        .send("get-user", TestRequest::new(Method::GET, &path))
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["code"], "user_not_found");

    // Each function answers only its own route, even at its own URL.
    let wrong = watch
        .send("get-user", TestRequest::new(Method::GET, "/users"))
        .await;
    assert_eq!(wrong.status, 404);
    assert_eq!(wrong.json()["code"], "route_not_found");

    let fixture = "tests/fixtures/dynamodb-stream/users-table.json";
    let invoked = Command::new("cargo")
        .args(["lambda", "invoke", "publish-events", "--data-file", fixture])
        .args(["-A", "127.0.0.1", "-P", &watch.port.to_string()])
        .current_dir(repo_root())
        .output();
    let invoked = tokio::time::timeout(Duration::from_secs(300), invoked)
        .await
        .expect("publish-events did not answer")
        .expect("run cargo lambda invoke");
    assert!(
        invoked.status.success(),
        "{}",
        String::from_utf8_lossy(&invoked.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&invoked.stdout).unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let kinds: Vec<serde_json::Value> = subscription
        .receive(4)
        .await
        .into_iter()
        .map(|event| event["detail-type"].clone())
        .collect();
    assert_eq!(
        kinds,
        ["UserCreated", "UserUpdated", "UserUpdated", "UserDeleted"]
    );
}
