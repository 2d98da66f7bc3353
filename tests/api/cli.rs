//! The `users` CLI end to end: the real binary against real `local-api` processes.

use std::collections::BTreeSet;
use std::process::Output;

use std::time::Duration;

use http::Method;
use integration_tests::dynamo::{
    assert_users_and_claims_agree, endpoint as dynamo_endpoint, fresh_table,
};
use integration_tests::lossy_hop::{Loss, LossyHop, Rule};
use integration_tests::processes::{LocalApi, binary};
use integration_tests::throttle::ThrottlingFront;
use integration_tests::{IN_MEMORY, TestRequest, free_port};
use serde_json::Value;
use tokio::process::Command;

/// Runs `users` with `args` (and `env`), its output captured.
async fn users(env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(binary("users"))
        .args(args)
        .env_remove("USERS_API_URL")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run users")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    assert!(output.status.success(), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(output)))
}

fn lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_subcommand_works_and_failures_exit_by_class() {
    let api = LocalApi::start(IN_MEMORY).await;
    let url = api.client.base_url().to_owned();
    let env = [("USERS_API_URL", url.as_str())];
    let run = |args: &'static [&'static str]| users(&env, args);

    let created = json(
        &run(&[
            "create",
            "--name",
            "Ada Lovelace",
            "--email",
            "ada@example.com",
            "--age",
            "36",
        ])
        .await,
    );
    assert_eq!(created["id"], 1);
    assert_eq!(created["version"], 1);
    assert_eq!(json(&run(&["get", "1"]).await), created);
    let updated = json(&run(&["update", "1", "--age", "37", "--if-match", "1"]).await);
    assert_eq!(
        (updated["age"].clone(), updated["version"].clone()),
        (37.into(), 2.into())
    );
    let table = run(&["get", "1", "--output", "table"]).await;
    assert!(stdout(&table).starts_with("ID  NAME"), "{}", stdout(&table));
    assert!(stdout(&table).contains("ada@example.com"));
    let found = json(&run(&["find", "--email", "ADA@Example.com"]).await);
    assert_eq!(found, updated);
    json(&run(&["create", "--name", "Bob", "--email", "bob@example.com"]).await);
    json(&run(&["create", "--name", "Cy", "--email", "cy@example.com"]).await);
    let page = json(&run(&["list", "--limit", "2"]).await);
    assert_eq!(page["users"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let rest = users(&env, &["list", "--limit", "2", "--cursor", &cursor]).await;
    assert_eq!(json(&rest)["users"][0]["name"], "Cy");
    let all = run(&["list", "--all", "--limit", "1"]).await;
    assert_eq!(lines(&all).len(), 3, "{}", stdout(&all));
    let csv = run(&["export", "--format", "csv"]).await;
    assert_eq!(
        stdout(&csv),
        "id,name,email,age\n1,Ada Lovelace,ada@example.com,37\n2,Bob,bob@example.com,0\n3,Cy,cy@example.com,0\n"
    );
    assert_eq!(lines(&run(&["export"]).await).len(), 3);

    // One clear line per error, and an exit code per class.
    let cases: [(&[&str], i32, &str); 7] = [
        (&["get", "99"], 4, "user not found"),
        (
            &["find", "--email", "nobody@example.com"],
            4,
            "user not found",
        ),
        (
            &["find", "--email", "nobody@"],
            3,
            "email must be a valid email address",
        ),
        (&["get", "abc"], 3, "user id must be a positive integer"),
        (
            &["create", "--name", "A", "--email", "ADA@example.com"],
            5,
            "email is already taken",
        ),
        (
            &["update", "1", "--age", "1", "--if-match", "1"],
            5,
            "changed since",
        ),
        (
            &["create", "--name", "A", "--email", "nope"],
            3,
            "email must be a valid email address",
        ),
    ];
    for (args, code, message) in cases {
        let output = users(&env, args).await;
        assert_eq!(
            output.status.code(),
            Some(code),
            "{args:?}: {}",
            stderr(&output)
        );
        let error = stderr(&output);
        assert_eq!(error.lines().count(), 1, "{error}");
        assert!(error.contains(message), "{args:?}: {error}");
    }
    assert!(run(&["delete", "2"]).await.status.success());
    assert_eq!(run(&["get", "2"]).await.status.code(), Some(4));

    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let down = users(
        &[],
        &["--endpoint", &nowhere, "--budget-ms", "500", "get", "1"],
    )
    .await;
    assert_eq!(down.status.code(), Some(6), "{}", stderr(&down));
    assert!(
        stderr(&down).contains("cannot connect"),
        "{}",
        stderr(&down)
    );

    let help = users(&[], &["--help"]).await;
    assert!(help.status.success());
    for word in [
        "create",
        "find",
        "import",
        "export",
        "Exit codes",
        "Examples",
    ] {
        assert!(stdout(&help).contains(word), "{word}");
    }
}

/// `rows` users as CSV, the row at `bad` (0-based) with an invalid email.
fn csv_file(rows: usize, bad: usize) -> tempfile_path::TempPath {
    let mut text = String::from("name,email,age\n");
    for i in 0..rows {
        if i == bad {
            text.push_str(&format!("Bad Row,not-an-email,{}\n", i % 100));
        } else {
            text.push_str(&format!("User {i},user{i}@example.com,{}\n", i % 100));
        }
    }
    tempfile_path::TempPath::with(".csv", &text)
}

/// A file removed when dropped.
mod tempfile_path {
    pub struct TempPath(pub std::path::PathBuf);

    impl TempPath {
        pub fn with(extension: &str, contents: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "users-cli-{}-{}{extension}",
                std::process::id(),
                fastrand_suffix()
            ));
            std::fs::write(&path, contents).unwrap();
            Self(path)
        }

        pub fn as_str(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    fn fastrand_suffix() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

async fn count_users(env: &[(&str, &str)]) -> usize {
    let all = users(env, &["list", "--all", "--limit", "100"]).await;
    assert!(all.status.success(), "{}", stderr(&all));
    stdout(&all).lines().count()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_reports_bad_rows_is_safe_to_rerun_and_round_trips_through_export() {
    let api = LocalApi::start(IN_MEMORY).await;
    let url = api.client.base_url().to_owned();
    let env = [("USERS_API_URL", url.as_str())];
    let file = csv_file(10_000, 4_321);

    let first = users(&env, &["import", file.as_str()]).await;
    assert_eq!(first.status.code(), Some(8), "{}", stderr(&first));
    // The header is line 1: row 4,321 (0-based) is line 4,323.
    let report = stderr(&first);
    let failures: Vec<&str> = report.lines().filter(|l| l.contains(".csv:")).collect();
    assert_eq!(failures.len(), 1, "{report}");
    assert!(
        failures[0].contains(".csv:4323: invalid request: email"),
        "{report}"
    );
    assert!(
        report.contains("9999 of 10000 rows imported, 1 failed"),
        "{report}"
    );
    assert_eq!(count_users(&env).await, 9_999);

    let again = users(&env, &["import", file.as_str()]).await;
    assert_eq!(again.status.code(), Some(8));
    assert_eq!(
        count_users(&env).await,
        9_999,
        "a rerun creates nothing new"
    );

    let exported = users(&env, &["export", "--format", "csv"]).await;
    assert!(exported.status.success());
    let export_file = tempfile_path::TempPath::with(".csv", &stdout(&exported));
    let empty = LocalApi::start(IN_MEMORY).await;
    let empty_url = empty.client.base_url().to_owned();
    let empty_env = [("USERS_API_URL", empty_url.as_str())];
    let imported = users(&empty_env, &["import", export_file.as_str()]).await;
    assert!(imported.status.success(), "{}", stderr(&imported));
    let people = |output: &Output| -> BTreeSet<(String, String, u64)> {
        lines(output)
            .iter()
            .map(|u| {
                (
                    u["name"].as_str().unwrap().to_owned(),
                    u["email"].as_str().unwrap().to_owned(),
                    u["age"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let before = users(&env, &["export"]).await;
    let after = users(&empty_env, &["export"]).await;
    assert_eq!(people(&after), people(&before));
    assert_eq!(people(&after).len(), 9_999);
}

#[tokio::test(flavor = "multi_thread")]
async fn https_endpoints_are_verified_against_the_systems_certificate_authorities() {
    let api = LocalApi::start(IN_MEMORY).await;
    let address: std::net::SocketAddr = api
        .client
        .base_url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let front = integration_tests::tls::TlsFront::start(address).await;
    let dir = std::env::temp_dir().join(format!("users-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = front.write_ca(&dir);
    let url = front.url();
    // The test's private CA is trusted once the system's store (SSL_CERT_FILE) holds it...
    let trusted = users(
        &[("SSL_CERT_FILE", ca.to_str().unwrap())],
        &[
            "--endpoint",
            &url,
            "create",
            "--name",
            "Tls",
            "--email",
            "tls@example.com",
        ],
    )
    .await;
    assert!(trusted.status.success(), "{}", stderr(&trusted));
    assert_eq!(json(&trusted)["email"], "tls@example.com");
    // ...and refused otherwise: never an unverified connection.
    let refused = users(
        &[("SSL_CERT_FILE", "/nonexistent")],
        &["--endpoint", &url, "get", "1"],
    )
    .await;
    assert_eq!(refused.status.code(), Some(6), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("certificate"),
        "{}",
        stderr(&refused)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `rows` valid users as CSV.
fn valid_csv(rows: usize) -> tempfile_path::TempPath {
    csv_file(rows, usize::MAX)
}

/// `users import` with `args`, given at most `limit` seconds (a hang is a failure, not a wait).
async fn import(env: &[(&str, &str)], args: &[&str], limit: u64) -> Output {
    let mut command = vec!["import"];
    command.extend_from_slice(args);
    tokio::time::timeout(Duration::from_secs(limit), users(env, &command))
        .await
        .unwrap_or_else(|_| panic!("users import {args:?} did not end within {limit} s"))
}

fn assert_all_imported(output: &Output, rows: usize) {
    let report = stderr(output);
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert!(
        report.contains(&format!("{rows} of {rows} rows imported, 0 failed")),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_through_a_throttling_front_imports_every_row_at_its_rate() {
    let api = LocalApi::start(IN_MEMORY).await;
    let upstream = api
        .client
        .base_url()
        .trim_start_matches("http://")
        .to_owned();
    let front = ThrottlingFront::start(&upstream, 200.0, 20.0).await;
    let output = import(
        &[],
        &["--endpoint", &front.url(), valid_csv(600).as_str()],
        300,
    )
    .await;
    assert_all_imported(&output, 600);
    assert!(front.throttled() > 0, "the front throttled the import");
    let url = api.client.base_url().to_owned();
    assert_eq!(count_users(&[("USERS_API_URL", url.as_str())]).await, 600);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_into_a_dead_api_ends_after_its_patience_saying_which_rows_are_not_imported() {
    let dead = [
        format!("http://127.0.0.1:{}", free_port()),
        format!("http://127.0.0.1:{}", free_port()),
    ];
    let file = valid_csv(50);
    let output = import(
        &[],
        &[
            "--endpoint",
            &dead[0],
            "--endpoint",
            &dead[1],
            "--patience",
            "2",
            file.as_str(),
        ],
        60,
    )
    .await;
    let report = stderr(&output);
    assert_eq!(output.status.code(), Some(6), "{report}");
    assert!(
        report.contains("0 of 50 rows imported, 50 failed"),
        "{report}"
    );
    assert!(
        report.contains("the API did not answer for 2 s"),
        "{report}"
    );
    let listed = report.lines().filter(|l| l.contains(".csv:")).count();
    assert_eq!(listed, 50, "every row is reported by line: {report}");
    assert!(
        report.contains(": not sent: "),
        "rows never sent say so: {report}"
    );
}

/// Two `local-api` processes over one fresh table of the DynamoDB test server, as two instances of
/// the API are: the rows one accepts, the other sees. `args` are given to both.
async fn two_apis_over_one_table(purpose: &str, args: &[&str]) -> (String, LocalApi, LocalApi) {
    let table = fresh_table(purpose).await;
    let endpoint = dynamo_endpoint();
    let env = [
        ("USERS_TABLE", table.as_str()),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
    ];
    let mut args = args.to_vec();
    args.extend(["--port", "0"]);
    let first = LocalApi::launch(&env, &args).await;
    let second = LocalApi::launch(&env, &args).await;
    (table, first, second)
}

fn host_and_port(api: &LocalApi) -> String {
    api.client
        .base_url()
        .trim_start_matches("http://")
        .to_owned()
}

/// A slow API: answers later than the client's attempt timeout trip both endpoints' breakers; the
/// job waits them out and retries those rows with their idempotency keys, so each row becomes
/// exactly one user although the server had already created it once.
#[tokio::test(flavor = "multi_thread")]
async fn an_import_whose_answers_come_too_late_imports_every_row_once() {
    // Each endpoint's first answers arrive 3 s late, after the attempt timeout (2 s): most of the
    // first round of calls (32 in flight, 16 per endpoint) times out at once and opens both
    // breakers, as in the run that found this. Not many more: each late probe keeps a circuit
    // open another period, and an API that answers nothing in time for --patience (60 s) is a
    // dead one (tested below).
    const LATE: usize = 12;
    let (table, first, second) = two_apis_over_one_table("import-slow", &[]).await;
    let late = |count| {
        vec![Rule {
            kind: "POST /users",
            count,
            loss: Loss::Delay(Duration::from_secs(3)),
        }]
    };
    let hops = [
        LossyHop::start(&host_and_port(&first), late(LATE)).await,
        LossyHop::start(&host_and_port(&second), late(LATE)).await,
    ];
    let output = import(
        &[],
        &[
            "--endpoint",
            &hops[0].endpoint(),
            "--endpoint",
            &hops[1].endpoint(),
            valid_csv(2_000).as_str(),
        ],
        600,
    )
    .await;
    assert_all_imported(&output, 2_000);
    for hop in &hops {
        let opened = format!("endpoint circuit opened endpoint={}", hop.endpoint());
        assert!(stderr(&output).contains(&opened), "{}", stderr(&output));
        assert_eq!(
            hop.lost("POST /users"),
            LATE,
            "answers held past the timeout"
        );
    }
    assert_eq!(assert_users_and_claims_agree(&table).await, 2_000);
}

/// `local-api` admitting two requests at once sheds the rest with 503 + Retry-After; the import
/// settles at what it admits and finishes.
#[tokio::test(flavor = "multi_thread")]
async fn an_import_into_an_api_that_sheds_load_imports_every_row() {
    let (table, api, _) = two_apis_over_one_table("import-shed", &["--max-in-flight", "2"]).await;
    let output = import(
        &[],
        &["--endpoint", api.client.base_url(), valid_csv(500).as_str()],
        300,
    )
    .await;
    assert_all_imported(&output, 500);
    let shed = api.metric("http_requests_shed_total").await;
    assert!(shed > 0.0, "the API shed some of the import's requests");
    assert_eq!(assert_users_and_claims_agree(&table).await, 500);
}

/// One of two endpoints dies mid-import (SIGKILL: its requests in flight are lost, some after
/// their write) and comes back on the same port; the job carries on over the other and finishes
/// with each row imported once.
#[tokio::test(flavor = "multi_thread")]
async fn an_import_survives_an_endpoint_killed_and_restarted() {
    let (table, survivor, _) = two_apis_over_one_table("import-kill", &[]).await;
    let endpoint = dynamo_endpoint();
    let env = [
        ("USERS_TABLE", table.as_str()),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
    ];
    let port = free_port().to_string();
    let victim = LocalApi::launch(&env, &["--port", &port]).await;
    let victim_url = victim.client.base_url().to_owned();
    let file = valid_csv(2_000);
    let args = [
        "--endpoint",
        &victim_url,
        "--endpoint",
        survivor.client.base_url(),
        file.as_str(),
    ]
    .map(str::to_owned);
    let job = tokio::spawn(async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        import(&[], &args, 600).await
    });
    // Kill once the import is well under way: the first page of the listing is full.
    loop {
        let page = survivor
            .client
            .send(TestRequest::new(Method::GET, "/users?limit=100"))
            .await;
        if page.json()["users"].as_array().map_or(0, Vec::len) == 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    victim.kill().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _restarted = LocalApi::launch(&env, &["--port", &port]).await;
    let output = job.await.expect("the import job");
    assert_all_imported(&output, 2_000);
    assert_eq!(assert_users_and_claims_agree(&table).await, 2_000);
}
