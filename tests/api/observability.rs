//! Logs and metrics as operators see them: no personal data in any log line at any level,
//! structured request logs, Prometheus metrics and health in local-api, EMF from the functions.

use std::path::PathBuf;

use http::Method;
use integration_tests::contract;
use integration_tests::dynamo::{as_pairs, process_env, unreachable_env, xray_root};
use integration_tests::lambda_target::{fixture, reply_from_gateway_response};
use integration_tests::otlp::{OtlpReceiver, ReceivedSpan};
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
        find_returns_the_user_and_its_etag_ignoring_case,
        find_of_an_email_no_one_holds_is_404_and_does_not_repeat_it,
        find_refuses_bad_bodies_without_repeating_the_address,
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
    let find =
        TestRequest::new(Method::POST, "/users/find").json(&json!({"email": "m@example.com"}));
    assert_eq!(api.send(find).await.status, 200);
    let after = scrape().await;
    assert!(
        after.contains(r#"http_requests_total{operation="find-user",outcome="ok"} 1"#),
        "{after}"
    );
    assert!(
        after.contains(r#"store_calls_total{call="find",outcome="ok"} 1"#),
        "{after}"
    );
    assert!(!after.contains("example.com"), "{after}");
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
    // Histograms with buckets, not summaries: aggregatable across instances, and cheaper to fold
    // in than a summary's sketch.
    for histogram in [
        "http_request_duration_seconds",
        "store_call_duration_seconds",
    ] {
        assert!(
            after.contains(&format!("# TYPE {histogram} histogram")),
            "{after}"
        );
        assert!(after.contains(&format!("{histogram}_bucket{{")), "{after}");
        assert!(
            !after.contains(&format!("{histogram}{{quantile=")),
            "{after}"
        );
    }
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

/// The environment of a process on a fresh table (named after `name`) that logs JSON at `info`,
/// so a test can read its lines.
async fn json_logs_on_a_fresh_table(name: &str) -> Vec<(&'static str, String)> {
    let table = integration_tests::dynamo::fresh_table(name).await;
    let mut env = process_env(&table);
    env.extend([
        ("LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]);
    env
}

#[tokio::test]
async fn a_request_joins_the_callers_trace_in_its_logs_its_answer_and_its_dynamodb_calls() {
    let env = json_logs_on_a_fresh_table("trace").await;
    let log = log_path("trace");
    let api = LocalApi::start_logging_to(&as_pairs(&env), &log).await;
    let created = contract::create(&api, "Traced", "traced@example.com", 1).await;
    let path = format!("/users/{}", created["id"]);
    let get = || TestRequest::new(Method::GET, path.clone());

    // Traces of this run's own: the test server keeps every request it saw, and a trace id
    // another run used would find that run's calls too.
    let caller = shared::trace::new_span(None).trace_id().to_string();
    let w3c = api
        .send(get().header("traceparent", format!("00-{caller}-00f067aa0ba902b7-01")))
        .await;
    assert_eq!(w3c.status, 200);
    let (trace, span) = served_in(&w3c);
    assert_eq!(trace, caller, "the caller's trace is kept");
    assert_ne!(span, "00f067aa0ba902b7", "the request is a span of its own");

    // A caller's own X-Ray fields (here 8 KB of them) name nothing of ours: only the trace is kept.
    let xray_caller = shared::trace::new_span(None).trace_id().to_string();
    let xray = api
        .send(get().header(
            "x-amzn-trace-id",
            format!(
                "Root={};Parent=53995c3f42cd8ad8;Sampled=1{}",
                xray_root(&xray_caller),
                (0..30)
                    .map(|n| format!(";caller{n}={}", "x".repeat(250)))
                    .collect::<String>()
            ),
        ))
        .await;
    assert_eq!(served_in(&xray).0, xray_caller);
    let calls = integration_tests::dynamo::requests_in_trace(&xray_root(&xray_caller)).await;
    assert!(!calls.is_empty());
    for (_, header) in &calls {
        assert!(header.len() < 100 && !header.contains("caller"), "{header}");
    }

    let fresh = api.send(get()).await;
    let (started, _) = served_in(&fresh);
    assert_ne!(started, caller);
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
    let calls = integration_tests::dynamo::requests_in_trace(&xray_root(&caller)).await;
    assert!(
        calls.iter().any(|(target, _)| target.ends_with(".GetItem")),
        "{calls:?}"
    );
    for (_, header) in &calls {
        assert!(header.contains(&format!("Parent={span}")), "{header}");
    }

    assert!(api.terminate().await.success());
    let lines = json_lines(&std::fs::read_to_string(&log).unwrap());
    for (reply, trace) in [(&w3c, caller.as_str()), (&fresh, started.as_str())] {
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

/// The fixture's GET through `function` in the invocation trace `invocation`: a 404, as the
/// table is empty.
async fn get_from_an_empty_table(
    function: &FunctionProcess,
    invocation: &str,
) -> integration_tests::Reply {
    let reply = reply_from_gateway_response(
        &function
            .runtime
            .invoke_traced(fixture("get-user.json"), invocation)
            .await,
    );
    assert_eq!(reply.status, 404, "an empty table");
    reply
}

#[tokio::test]
async fn a_function_joins_the_invocations_trace_unless_the_caller_sent_one() {
    let env = json_logs_on_a_fresh_table("trace-fn").await;
    let function = FunctionProcess::start("get-user", &as_pairs(&env)).await;
    let invocation = integration_tests::runtime_api::new_trace_header();
    let root = invocation
        .strip_prefix("Root=")
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .to_owned();
    let reply = get_from_an_empty_table(&function, &invocation).await;
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

/// The spans of `trace` that `parent` is the parent of.
fn children<'a>(spans: &'a [ReceivedSpan], parent: &ReceivedSpan) -> Vec<&'a ReceivedSpan> {
    spans
        .iter()
        .filter(|span| span.parent_span_id == parent.span_id)
        .collect()
}

/// The one span named `name` under `parent`.
fn child<'a>(spans: &'a [ReceivedSpan], parent: &ReceivedSpan, name: &str) -> &'a ReceivedSpan {
    let found: Vec<_> = children(spans, parent)
        .into_iter()
        .filter(|span| span.name == name)
        .collect();
    assert_eq!(found.len(), 1, "one {name} under {parent:?}: {spans:#?}");
    found[0]
}

/// The request -> store call -> DynamoDB operation -> attempt chain of one traced GET, checked
/// against the answer's `traceresponse`: the spans a collector gets are the ones the ids name.
fn assert_one_traced_get(spans: &[ReceivedSpan], reply: &integration_tests::Reply, caller: &str) {
    let (trace, span_id) = served_in(reply);
    let request = spans
        .iter()
        .find(|span| span.name == "request" && span.span_id == span_id)
        .unwrap_or_else(|| panic!("the answered request's span: {spans:#?}"));
    assert_eq!(request.trace_id, trace);
    assert_eq!(
        request.parent_span_id, caller,
        "a child of the caller's span"
    );
    assert_eq!(request.attribute("http.route"), Some("/users/{id}"));
    assert_eq!(request.attribute("http.request.method"), Some("GET"));
    assert_eq!(request.attribute("http.response.status_code"), Some("200"));
    assert_eq!(request.attribute("faas.trigger"), Some("http"));
    assert!(request.attribute("faas.coldstart").is_some());
    let store_call = child(spans, request, "store.call");
    assert_eq!(store_call.attribute("call"), Some("get"));
    assert_eq!(store_call.attribute("db.system"), Some("dynamodb"));
    assert_eq!(store_call.attribute("outcome"), Some("ok"));
    let operation = child(spans, store_call, "DynamoDB.GetItem");
    assert_eq!(operation.attribute("rpc.service"), Some("DynamoDB"));
    let attempt = child(spans, operation, "try_attempt");
    assert_eq!(attempt.attribute("attempt"), Some("1"));
}

fn assert_no_personal_data_in_spans(spans: &[ReceivedSpan]) {
    let text = format!("{spans:?}");
    for needle in PERSONAL_DATA {
        assert!(
            !text.contains(needle),
            "{needle:?} is in a span: {spans:#?}"
        );
    }
}

#[tokio::test]
async fn local_api_exports_one_trace_per_request_to_an_otlp_collector() {
    let collector = OtlpReceiver::start().await;
    let mut env = json_logs_on_a_fresh_table("otlp").await;
    env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()));
    let log = log_path("otlp");
    let api = LocalApi::start_logging_to(&as_pairs(&env), &log).await;
    let created = contract::create(&api, "Ada Lovelace", "ada@example.com", 36).await;

    const CALLER: &str = "5b8efff798038103d269b633813fc60c";
    const CALLER_SPAN: &str = "eee19b7ec3c1b174";
    let get = TestRequest::new(Method::GET, format!("/users/{}", created["id"]))
        .header("traceparent", format!("00-{CALLER}-{CALLER_SPAN}-01"));
    let reply = api.send(get).await;
    assert_eq!(reply.status, 200);
    let spans = collector.trace_with(CALLER, "try_attempt").await;
    assert_one_traced_get(&spans, &reply, CALLER_SPAN);
    assert!(
        spans.iter().all(|span| span.service == "local-api"),
        "{spans:#?}"
    );

    // The DynamoDB request carried the trace with the attempt's span as its parent: X-Ray's
    // view of the call and the exported spans are one tree.
    let attempt = spans
        .iter()
        .find(|span| span.name == "try_attempt")
        .unwrap();
    let calls = integration_tests::dynamo::requests_in_trace(&xray_root(CALLER)).await;
    assert!(
        calls
            .iter()
            .any(|(_, header)| header.contains(&format!("Parent={}", attempt.span_id))),
        "{calls:?}"
    );

    // A find: the claim, then the user, and the address in neither's spans (it is in the
    // claim's key).
    const FINDER: &str = "6c9f0e1a2b3c4d5e6f708192a3b4c5d6";
    let find = TestRequest::new(Method::POST, "/users/find")
        .header("traceparent", format!("00-{FINDER}-{CALLER_SPAN}-01"))
        .json(&json!({"email": "ADA@example.com"}));
    assert_eq!(api.send(find).await.status, 200);
    let found = collector.trace_with(FINDER, "request").await;
    let reads = found.iter().filter(|s| s.name == "DynamoDB.GetItem");
    assert_eq!(reads.count(), 2, "{found:#?}");

    assert!(api.terminate().await.success());
    let lines = json_lines(&std::fs::read_to_string(&log).unwrap());
    let line = completed(&lines, reply.header("x-request-id").unwrap());
    assert_eq!(line["span"]["trace_id"], CALLER, "{line}");
    // The create's and the find's spans (a name and an email in their bodies) carry neither.
    assert_no_personal_data_in_spans(&collector.spans());
}

#[tokio::test]
async fn a_function_exports_its_spans_before_its_invocation_returns() {
    let collector = OtlpReceiver::start().await;
    let mut env = json_logs_on_a_fresh_table("otlp-fn").await;
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()),
        (
            "AWS_LAMBDA_FUNCTION_NAME",
            "users-api-GetUserFunction".to_owned(),
        ),
    ]);
    let function = FunctionProcess::start("get-user", &as_pairs(&env)).await;
    let invocation = integration_tests::runtime_api::new_trace_header();
    let reply = get_from_an_empty_table(&function, &invocation).await;
    let (trace, span_id) = served_in(&reply);
    // No waiting: what the invocation did was sent before it answered.
    let spans: Vec<_> = collector
        .spans()
        .into_iter()
        .filter(|span| span.trace_id == trace)
        .collect();
    let request = spans
        .iter()
        .find(|span| span.span_id == span_id)
        .unwrap_or_else(|| panic!("the request span was exported first: {spans:#?}"));
    assert_eq!(request.service, "users-api-GetUserFunction");
    assert_eq!(request.attribute("http.response.status_code"), Some("404"));
    let store_call = child(&spans, request, "store.call");
    assert_eq!(
        store_call.attribute("outcome"),
        Some("ok"),
        "a miss is the store working"
    );
    // A process's first miss also checks the table's layout (a second GetItem, sent after the
    // read); each is an operation span with its attempts under it.
    let reads: Vec<_> = children(&spans, store_call);
    assert!(!reads.is_empty(), "{spans:#?}");
    for read in reads {
        assert_eq!(read.name, "DynamoDB.GetItem", "{spans:#?}");
        child(&spans, read, "try_attempt");
    }
    // The log line of the request names the exported span's trace.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let lines = json_lines(&function.take_stderr().join("\n"));
    let line = completed(&lines, request.attribute("faas.invocation_id").unwrap());
    assert_eq!(line["span"]["trace_id"], trace, "{line}");
}

#[tokio::test]
async fn a_collector_that_is_down_costs_a_request_one_log_line() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let log = log_path("otlp-down");
    let _ = std::fs::remove_file(&log);
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())];
    let api = LocalApi::start_logging_to(&env, &log).await;
    let created = contract::create(&api, "Grace Hopper", "grace@example.com", 40).await;
    let reply = api
        .send(TestRequest::new(
            Method::GET,
            format!("/users/{}", created["id"]),
        ))
        .await;
    assert_eq!(reply.status, 200);
    assert!(api.terminate().await.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let failures = text
        .lines()
        .filter(|line| line.contains("spans could not be exported"))
        .count();
    assert_eq!(failures, 2, "one warning per request: {text}");
}

#[tokio::test]
async fn one_cli_call_is_one_trace_from_the_client_to_dynamodb() {
    let collector = OtlpReceiver::start().await;
    let table = integration_tests::dynamo::fresh_table("otlp-cli").await;
    let mut env = process_env(&table);
    env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()));
    let api = LocalApi::start(&as_pairs(&env)).await;
    let created = contract::create(&api, "Ada Lovelace", "ada@example.com", 36).await;
    let output = tokio::process::Command::new(integration_tests::processes::binary("users"))
        .args(["get", &created["id"].to_string()])
        .env("USERS_API_URL", api.client.base_url())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint())
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");

    let call = collector
        .spans()
        .into_iter()
        .find(|span| span.name == "users.call")
        .expect("the CLI exported its call before it exited");
    assert_eq!(call.service, "users-cli");
    assert_eq!(call.parent_span_id, "", "the call starts the trace");
    let spans = collector.trace_with(&call.trace_id, "try_attempt").await;
    let attempt = child(&spans, &call, "users.attempt");
    let request = child(&spans, attempt, "request");
    assert_eq!(request.service, "local-api");
    let store_call = child(&spans, request, "store.call");
    child(
        &spans,
        child(&spans, store_call, "DynamoDB.GetItem"),
        "try_attempt",
    );
    assert_no_personal_data_in_spans(&spans);
}

#[tokio::test]
async fn the_breakers_decisions_are_events_of_the_store_call_spans() {
    let collector = OtlpReceiver::start().await;
    let mut env = integration_tests::dynamo::unreachable_env("otlp-breaker");
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()),
        ("BREAKER_CONSECUTIVE_FAILURES", "1".to_owned()),
        ("BREAKER_OPEN_SECONDS", "60".to_owned()),
    ]);
    let api = LocalApi::start(&as_pairs(&env)).await;
    for _ in 0..2 {
        let reply = api.send(TestRequest::new(Method::GET, "/users/1")).await;
        assert_eq!(reply.status, 503);
    }
    assert!(api.terminate().await.success());
    let calls: Vec<_> = collector
        .spans()
        .into_iter()
        .filter(|span| span.name == "store.call")
        .collect();
    let [failed, refused] = &calls[..] else {
        panic!("two store calls: {calls:#?}");
    };
    assert_eq!(failed.attribute("outcome"), Some("unavailable"));
    assert!(
        failed
            .events
            .iter()
            .any(|event| event == "store circuit breaker changed state"),
        "{failed:?}"
    );
    assert_eq!(refused.attribute("outcome"), Some("rejected"));
    assert_eq!(
        refused.events,
        ["store call refused: the circuit breaker is open"]
    );
}
