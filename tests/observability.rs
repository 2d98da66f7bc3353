//! Logs and metrics as operators see them: no personal data in any log line at any level,
//! structured request logs, Prometheus metrics and health in local-api, EMF from the functions.

use std::path::PathBuf;

use integration_tests::contract;
use integration_tests::dynamo::{as_pairs, process_env, unreachable_env};
use integration_tests::lambda_target::{fixture, reply_from_gateway_response};
use integration_tests::processes::LocalApi;
use integration_tests::runtime_api::FunctionProcess;
use serde_json::{Value, json};

fn log_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("users-api-test-logs");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}-{}.log", std::process::id()))
}

/// Names and emails the contract cases below send, in requests both valid and invalid.
const PERSONAL_DATA: &[&str] = &[
    "@example.com",
    "Ada Lovelace",
    "Grace Hopper",
    "Readable",
    "Patchy",
    "Before",
    "Typed",
];

/// Runs contract cases, each on a fresh `local-api` (and table, for DynamoDB) with
/// `RUST_LOG=trace`, all logging to one file, and returns the file's text.
async fn log_of_a_contract_run(backend: Option<&str>) -> String {
    let log = log_path(&format!("pii-{}", backend.unwrap_or("memory")));
    let _ = std::fs::remove_file(&log);
    macro_rules! run_cases {
        ($($case:ident),* $(,)?) => {$(
            let mut env: Vec<(&'static str, String)> = vec![("RUST_LOG", "trace".to_owned())];
            if backend.is_some() {
                let table = integration_tests::dynamo::fresh_table("pii").await;
                env.extend(process_env(&table));
                env.push(("LOG_FORMAT", "json".to_owned()));
            }
            let api = LocalApi::start_logging_to(&as_pairs(&env), &log).await;
            contract::$case(&api).await;
            let status = api.terminate().await;
            assert!(status.success(), "local-api exit: {status}");
        )*};
    }
    run_cases!(
        create_returns_201_location_and_the_user,
        create_defaults_age_and_trims_fields,
        get_returns_the_user_or_404,
        put_changes_only_present_fields,
        patch_is_an_alias_of_put,
        wrong_types_and_malformed_json_are_400,
        create_validates_every_field,
        duplicate_email_is_409_ignoring_case,
        update_to_a_taken_email_is_409,
        delete_is_204_then_404_and_frees_the_email,
        list_pages_by_number_and_limit,
    );
    std::fs::read_to_string(&log).unwrap()
}

fn assert_no_personal_data(text: &str) {
    assert!(
        text.lines().count() > 50,
        "trace logging produced output: {} lines",
        text.lines().count()
    );
    assert!(text.contains("request completed"));
    for needle in PERSONAL_DATA {
        let hit = text.lines().find(|line| line.contains(needle));
        assert!(hit.is_none(), "{needle:?} appears in the log: {hit:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_name_or_email_reaches_the_logs_in_memory() {
    assert_no_personal_data(&log_of_a_contract_run(None).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_name_or_email_reaches_the_logs_with_dynamodb_even_at_trace() {
    assert_no_personal_data(&log_of_a_contract_run(Some("dynamodb")).await);
}

#[tokio::test]
async fn json_logs_carry_one_structured_line_per_request() {
    let log = log_path("json");
    let api =
        LocalApi::start_logging_to(&[("LOG_FORMAT", "json"), ("RUST_LOG", "info")], &log).await;
    let created = contract::create(&api, "Json", "json@example.com", 1).await;
    let reply = contract::get(&api, &format!("/users/{}", created["id"])).await;
    let request_id = reply
        .header("x-request-id")
        .expect("x-request-id header")
        .to_owned();
    contract::get(&api, "/users/abc").await;
    assert!(api.terminate().await.success());
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let completed: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "request completed")
        .collect();
    assert_eq!(completed.len(), 3);
    let first = &completed[0]["span"];
    assert_eq!(first["operation"], "create-user");
    assert_eq!(first["method"], "POST");
    assert_eq!(first["route"], "/users");
    assert_eq!(first["status"], 201);
    assert_eq!(first["cold_start"], true);
    assert_eq!(first["store"], "memory");
    assert!(first["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
    assert!(
        first["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    let second = &completed[1]["span"];
    assert_eq!(second["request_id"], request_id.as_str());
    assert_eq!(
        second["route"], "/users/{id}",
        "routes are patterns, never raw ids"
    );
    assert_eq!(second["cold_start"], false);
    assert_eq!(completed[2]["span"]["status"], 400);
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn the_metrics_endpoint_reflects_requests() {
    let api = LocalApi::start(&[]).await;
    let scrape =
        || async { String::from_utf8(contract::get(&api, "/metrics").await.body).unwrap() };
    let created = r#"http_requests_total{operation="create-user",outcome="ok"}"#;
    let conflicts = r#"http_requests_total{operation="create-user",outcome="client_error"}"#;
    let before = scrape().await;
    contract::create(&api, "M", "m@example.com", 1).await;
    contract::create(&api, "M2", "m2@example.com", 1).await;
    contract::post(&api, json!({"name": "M", "email": "m@example.com"})).await;
    let after = scrape().await;
    assert_eq!(
        metric(&after, created) - metric(&before, created),
        2.0,
        "{after}"
    );
    assert_eq!(metric(&after, conflicts) - metric(&before, conflicts), 1.0);
    assert!(
        after.contains(r#"store_calls_total{call="create",outcome="ok"} 3"#),
        "{after}"
    );
    assert!(after.contains("http_request_duration_seconds"));
    assert!(after.contains("store_call_duration_seconds"));
    let reply = contract::get(&api, "/metrics").await;
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4")
    );
}

#[tokio::test]
async fn health_reports_whether_the_store_answers() {
    let api = LocalApi::start(&[]).await;
    let reply = contract::get(&api, "/health").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"status": "ok", "store": "memory"}));

    let mut env = unreachable_env("users");
    env.push(("STORE_TIMEOUT_MS", "500".to_owned()));
    let down = LocalApi::start(&as_pairs(&env)).await;
    let reply = contract::get(&down, "/health").await;
    assert_eq!(reply.status, 503);
    assert_eq!(
        reply.json(),
        json!({"status": "unavailable", "store": "dynamodb"})
    );
    assert!(reply.header("retry-after").is_some());
}

/// Checks one line against the CloudWatch Embedded Metric Format specification and returns the
/// names of the metrics it carries.
fn emf_metric_names(line: &Value, namespace: &str) -> Vec<String> {
    let aws = &line["_aws"];
    assert!(
        aws["Timestamp"].as_u64().is_some(),
        "Timestamp in ms: {line}"
    );
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .expect("CloudWatchMetrics array");
    let mut names = Vec::new();
    for directive in directives {
        assert_eq!(directive["Namespace"], namespace);
        for dimension_set in directive["Dimensions"].as_array().expect("Dimensions") {
            for dimension in dimension_set.as_array().expect("dimension set") {
                let key = dimension.as_str().expect("dimension name");
                assert!(
                    line[key].is_string(),
                    "dimension {key} has a string value: {line}"
                );
            }
        }
        for metric in directive["Metrics"].as_array().expect("Metrics") {
            let name = metric["Name"].as_str().expect("metric Name");
            assert!(
                line[name].is_number() || line[name].is_array(),
                "value of {name}: {line}"
            );
            names.push(name.to_owned());
        }
    }
    names
}

#[tokio::test]
async fn functions_print_valid_emf_for_every_invocation() {
    let function = FunctionProcess::start(
        "create-user",
        &[
            ("USERS_STORE", "memory"),
            ("METRICS_NAMESPACE", "UsersApiTest"),
            ("METRICS_DIMENSIONS", "stage=test"),
        ],
    )
    .await;
    let mut seen = Vec::new();
    // The third invocation repeats the second's outcome: the metric handles registered by the
    // second must still reach the output after a flush.
    for round in 0..3 {
        let reply = reply_from_gateway_response(
            &function.runtime.invoke(fixture("create-user.json")).await,
        );
        assert_eq!(reply.status, if round == 0 { 201 } else { 409 });
        // Metrics are flushed before the response is posted, so they are already out.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let emf: Vec<Value> = function
            .take_stdout()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("_aws").is_some())
            .collect();
        assert!(!emf.is_empty(), "no EMF line after invocation {round}");
        let names: Vec<String> = emf
            .iter()
            .flat_map(|l| emf_metric_names(l, "UsersApiTest"))
            .collect();
        for expected in [
            "http_requests_total",
            "http_request_duration_seconds",
            "store_calls_total",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} missing in {names:?}"
            );
        }
        let request_line = emf
            .iter()
            .find(|l| l.get("http_requests_total").is_some())
            .unwrap();
        assert_eq!(request_line["function"], "create-user");
        assert_eq!(
            request_line["stage"], "test",
            "configured dimension: {request_line}"
        );
        let dimensions = request_line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0].to_string();
        assert!(
            dimensions.contains("stage") && dimensions.contains("operation"),
            "{dimensions}"
        );
        assert_eq!(request_line["operation"], "create-user");
        assert_eq!(
            request_line["outcome"],
            if round == 0 { "ok" } else { "client_error" }
        );
        assert!(
            request_line["request_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("test-request-"))
        );
        seen.push(names.iter().any(|n| n == "cold_start"));
    }
    assert_eq!(
        seen,
        [true, false, false],
        "cold_start only on the first invocation"
    );
}
