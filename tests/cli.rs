//! The `users` CLI end to end: the real binary against real `local-api` processes.

use std::collections::BTreeSet;
use std::process::Output;

use integration_tests::processes::{LocalApi, binary};
use integration_tests::{IN_MEMORY, free_port};
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
    let cases: [(&[&str], i32, &str); 5] = [
        (&["get", "99"], 4, "user not found"),
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
    for word in ["create", "import", "export", "Exit codes", "Examples"] {
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
