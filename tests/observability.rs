//! Logs and metrics as operators see them: no personal data in any log line at any level,
//! structured request logs, Prometheus metrics and health in local-api, EMF from the functions.

use std::path::PathBuf;

use http::Method;
use integration_tests::contract;
use integration_tests::dynamo::{as_pairs, process_env, unreachable_env, xray_root};
use integration_tests::lambda_target::{fixture, reply_from_gateway_response};
use integration_tests::processes::LocalApi;
use integration_tests::runtime_api::FunctionProcess;
use integration_tests::{Target, TestRequest};
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

/// `traceresponse` as `(trace id, span id)`, checked to be a sampled W3C value.
fn served_in(reply: &integration_tests::Reply) -> (String, String) {
    let value = reply.header("traceresponse").expect("traceresponse header");
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "{value}");
    assert_eq!((parts[0], parts[3]), ("00", "01"), "{value}");
    assert_eq!((parts[1].len(), parts[2].len()), (32, 16), "{value}");
    (parts[1].to_owned(), parts[2].to_owned())
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The `request completed` line of the request with `id`.
fn completed<'a>(lines: &'a [Value], request_id: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["message"] == "request completed" && l["span"]["request_id"] == request_id)
        .unwrap_or_else(|| panic!("no completed line for {request_id}"))
}

#[tokio::test]
async fn a_request_joins_the_callers_trace_in_its_logs_its_answer_and_its_dynamodb_calls() {
    let table = integration_tests::dynamo::fresh_table("trace").await;
    let mut env = process_env(&table);
    env.extend([
        ("LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]);
    let log = log_path("trace");
    let api = LocalApi::start_logging_to(&as_pairs(&env), &log).await;
    let created = contract::create(&api, "Traced", "traced@example.com", 1).await;
    let path = format!("/users/{}", created["id"]);
    let get = || TestRequest::new(Method::GET, path.clone());

    const CALLER: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    let w3c = api
        .send(get().header("traceparent", format!("00-{CALLER}-00f067aa0ba902b7-01")))
        .await;
    assert_eq!(w3c.status, 200);
    let (trace, span) = served_in(&w3c);
    assert_eq!(trace, CALLER, "the caller's trace is kept");
    assert_ne!(span, "00f067aa0ba902b7", "the request is a span of its own");

    let xray = api
        .send(get().header(
            "x-amzn-trace-id",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        ))
        .await;
    assert_eq!(served_in(&xray).0, "5759e988bd862e3fe1be46a994272793");

    let fresh = api.send(get()).await;
    let (started, _) = served_in(&fresh);
    assert_ne!(started, CALLER);
    let began = u64::from_str_radix(&started[..8], 16).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(began) < 600,
        "an X-Ray trace id starts with its time: {started}"
    );

    // Every DynamoDB request the traced GET made carried its trace, the request's span as parent.
    let calls = integration_tests::dynamo::requests_in_trace(&xray_root(CALLER)).await;
    assert!(
        calls.iter().any(|(target, _)| target.ends_with(".GetItem")),
        "{calls:?}"
    );
    for (_, header) in &calls {
        assert!(header.contains(&format!("Parent={span}")), "{header}");
    }

    assert!(api.terminate().await.success());
    let lines = json_lines(&std::fs::read_to_string(&log).unwrap());
    for (reply, trace) in [(&w3c, CALLER), (&fresh, started.as_str())] {
        let line = completed(&lines, reply.header("x-request-id").unwrap());
        assert_eq!(line["span"]["trace_id"], trace, "{line}");
    }
    // Every line of a request names its trace, not only the last one.
    let inside = lines
        .iter()
        .filter(|l| l["span"]["name"] == "request")
        .collect::<Vec<_>>();
    assert!(!inside.is_empty());
    assert!(
        inside.iter().all(|l| l["span"]["trace_id"].is_string()),
        "{inside:?}"
    );
}

#[tokio::test]
async fn a_function_joins_the_invocations_trace_unless_the_caller_sent_one() {
    let table = integration_tests::dynamo::fresh_table("trace-fn").await;
    let mut env = process_env(&table);
    env.extend([
        ("LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]);
    let function = FunctionProcess::start("get-user", &as_pairs(&env)).await;
    let invocation = integration_tests::runtime_api::new_trace_header();
    let root = invocation
        .strip_prefix("Root=")
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .to_owned();
    let reply = reply_from_gateway_response(
        &function
            .runtime
            .invoke_traced(fixture("get-user.json"), &invocation)
            .await,
    );
    assert_eq!(reply.status, 404, "an empty table");
    let (trace, span) = served_in(&reply);
    assert_eq!(
        xray_root(&trace),
        root,
        "the invocation's trace: {invocation}"
    );
    let calls = integration_tests::dynamo::requests_in_trace(&root).await;
    assert!(!calls.is_empty(), "the GetItem carried the trace");
    for (_, header) in &calls {
        assert!(header.contains(&format!("Parent={span}")), "{header}");
    }

    const CALLER: &str = "0af7651916cd43dd8448eb211c80319c";
    let mut event = fixture("get-user.json");
    event["headers"]["traceparent"] = json!(format!("00-{CALLER}-b7ad6b7169203331-01"));
    let reply = reply_from_gateway_response(
        &function
            .runtime
            .invoke_traced(event, &integration_tests::runtime_api::new_trace_header())
            .await,
    );
    assert_eq!(served_in(&reply).0, CALLER, "a caller's traceparent wins");

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let lines: Vec<Value> = function
        .take_stderr()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let traces: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "request completed")
        .map(|l| &l["span"]["trace_id"])
        .collect();
    assert_eq!(traces, [&json!(trace), &json!(CALLER)], "{lines:?}");
}
