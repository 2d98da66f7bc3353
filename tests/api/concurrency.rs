//! Lambda Managed Instances: one function process sent many invocations at once
//! (`AWS_LAMBDA_MAX_CONCURRENCY`), by the loopback runtime API serving every worker's `/next`.
//! Every per-process part must keep each invocation's request id, trace, metrics and spans its
//! own; count and export each exactly once; open and probe the breaker as a server's does;
//! bound the store calls in flight; let no slow call hold the others; mark exactly one
//! invocation the cold start; and answer the invocations in flight at `SIGTERM` before exiting.
//!
//! The store-failure checks (slow calls, breaker, bulkhead, shutdown in flight) need a store
//! that can be slow or down, so they run on DynamoDB (the test server behind a hop that holds
//! answers back); the in-memory store answers every call at once.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use futures::future::join_all;
use futures::stream::FuturesUnordered;
use integration_tests::Reply;
use integration_tests::dynamo::{OwnServer, as_pairs, client_for, fresh_table, process_env};
use integration_tests::lambda_target::{fixture, reply_from_gateway_response};
use integration_tests::lossy_hop::{Loss, LossyHop, Rule};
use integration_tests::otlp::OtlpReceiver;
use integration_tests::processes::send_sigterm;
use integration_tests::runtime_api::{FunctionProcess, Outcome, new_trace_header};
use serde_json::{Value, json};
use shared::store::dynamodb::schema;

/// Invocations Lambda may send one process at once: Managed Instances' default for Rust on one
/// vCPU.
const CONCURRENCY: usize = 8;

/// Starts `name` as Managed Instances runs it (`AWS_LAMBDA_MAX_CONCURRENCY`), logging JSON at
/// `info`, exporting spans to `collector` when given, over the store `store_env` names.
async fn managed(
    name: &str,
    store_env: &[(&'static str, String)],
    collector: Option<&OtlpReceiver>,
) -> FunctionProcess {
    let mut env = store_env.to_vec();
    env.extend([
        ("AWS_LAMBDA_MAX_CONCURRENCY", CONCURRENCY.to_string()),
        ("LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "info".to_owned()),
        ("METRICS_NAMESPACE", "UsersApiTest".to_owned()),
    ]);
    if let Some(collector) = collector {
        env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()));
    }
    FunctionProcess::start(name, &as_pairs(&env)).await
}

/// `fixture` without the caller's trace header: the invocation's own trace is the request's.
fn untraced(name: &str) -> Value {
    let mut event = fixture(name);
    event["headers"]
        .as_object_mut()
        .expect("headers")
        .remove("x-amzn-trace-id");
    event
}

/// A create-user event for a user of its own.
fn create_event(n: usize) -> Value {
    let mut event = untraced("create-user.json");
    let user =
        json!({"name": format!("Concurrent {n}"), "email": format!("concurrent-{n}@example.com")});
    event["body"] = user.to_string().into();
    event
}

/// One invocation as the test saw it: the X-Ray trace Lambda handed over, and the answer.
struct Answered {
    trace_header: String,
    reply: Reply,
}

impl Answered {
    fn request_id(&self) -> &str {
        self.reply.header("x-request-id").expect("x-request-id")
    }

    /// The W3C trace id the request answered in.
    fn trace_id(&self) -> &str {
        let value = self.reply.header("traceresponse").expect("traceresponse");
        value.split('-').nth(1).expect("trace id in traceresponse")
    }
}

/// Queues `event` in a trace of its own and waits for the answer.
async fn invoke(function: &FunctionProcess, event: Value) -> Answered {
    let trace_header = new_trace_header();
    let outcome = function
        .runtime
        .try_invoke_traced(event, &trace_header)
        .await;
    let Outcome::Response(response) = outcome else {
        panic!("invocation failed: {outcome:?}");
    };
    Answered {
        trace_header,
        reply: reply_from_gateway_response(&response),
    }
}

/// Queues every event at once and waits for all the answers.
async fn invoke_together(function: &FunctionProcess, events: Vec<Value>) -> Vec<Answered> {
    join_all(events.into_iter().map(|event| invoke(function, event))).await
}

/// Queues every event at once; the answers come as they are given.
fn invoke_all(
    function: &FunctionProcess,
    events: Vec<Value>,
) -> FuturesUnordered<impl Future<Output = Answered> + '_> {
    events
        .into_iter()
        .map(|event| invoke(function, event))
        .collect()
}

/// The next `count` answers of `pending`, each a 201.
async fn created(pending: &mut FuturesUnordered<impl Future<Output = Answered>>, count: usize) {
    for _ in 0..count {
        let answered = pending.next().await.expect("an invocation left");
        assert_eq!(answered.reply.status, 201, "{:?}", answered.reply);
    }
}

/// Everything a process printed: EMF documents on stdout, JSON log lines on stderr.
#[derive(Default)]
struct Printed {
    emf: Vec<Value>,
    logs: Vec<Value>,
}

impl Printed {
    /// Takes what `function` printed since the last call, checking that every stdout line is one
    /// whole EMF document (concurrent flushes never interleave) and every stderr line JSON.
    fn take(&mut self, function: &FunctionProcess) {
        for line in function.take_stdout() {
            let document: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout line is not one JSON document ({e}): {line}"));
            let directives = &document["_aws"]["CloudWatchMetrics"];
            assert!(directives.is_array(), "not an EMF document: {line}");
            for metric in directives[0]["Metrics"].as_array().expect("Metrics") {
                let name = metric["Name"].as_str().expect("metric name");
                assert!(
                    document[name].is_number() || document[name].is_array(),
                    "{name} has no value: {line}"
                );
            }
            self.emf.push(document);
        }
        for line in function.take_stderr() {
            let log: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
            self.logs.push(log);
        }
    }

    /// The sum of `metric` over the documents whose dimensions match `filter`: a counter's
    /// increments, or a histogram's sample count.
    fn sum(&self, metric: &str, filter: &[(&str, &str)]) -> f64 {
        self.emf
            .iter()
            .filter(|document| filter.iter().all(|(key, value)| document[*key] == *value))
            .map(|document| match &document[metric] {
                Value::Number(n) => n.as_f64().unwrap_or(0.0),
                Value::Array(samples) => samples.len() as f64,
                _ => 0.0,
            })
            .sum()
    }

    /// Keeps taking `function`'s output until `metric` (matching `filter`) adds up to
    /// `expected`: each flush follows its invocation's answer by a moment.
    async fn until_sum(
        &mut self,
        function: &FunctionProcess,
        metric: &str,
        filter: &[(&str, &str)],
        expected: f64,
    ) {
        for _ in 0..250 {
            self.take(function);
            if self.sum(metric, filter) >= expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            self.sum(metric, filter),
            expected,
            "{metric} {filter:?} over {:#?}",
            self.emf
        );
    }

    /// The `request completed` line of each request id.
    fn completed(&self) -> HashMap<String, &Value> {
        let mut lines = HashMap::new();
        for line in self
            .logs
            .iter()
            .filter(|l| l["message"] == "request completed")
        {
            let id = line["span"]["request_id"].as_str().expect("request_id");
            assert!(
                lines.insert(id.to_owned(), line).is_none(),
                "two completed lines for {id}"
            );
        }
        lines
    }
}

/// Each invocation kept its own identity everywhere: its answer's request id is the runtime's,
/// its trace is the one Lambda handed over with it, and its one `request completed` line names
/// both; no two invocations share either.
fn assert_each_invocation_kept_its_identity(answered: &[Answered], printed: &Printed) {
    let completed = printed.completed();
    let mut ids = HashSet::new();
    let mut traces = HashSet::new();
    for invocation in answered {
        let id = invocation.request_id();
        let trace = invocation.trace_id();
        assert!(
            invocation
                .trace_header
                .contains(&integration_tests::dynamo::xray_root(trace)),
            "{id} answered in trace {trace}, but Lambda handed it {}",
            invocation.trace_header
        );
        let line = completed
            .get(id)
            .unwrap_or_else(|| panic!("no completed line for {id}"));
        assert_eq!(line["span"]["trace_id"], trace, "{line}");
        assert!(ids.insert(id.to_owned()), "request id {id} twice");
        assert!(traces.insert(trace.to_owned()), "trace {trace} twice");
    }
}

/// Exactly one request of the process's life was its cold start: the first one, finished
/// before the others were sent.
fn assert_one_cold_start(printed: &Printed, first: &Answered) {
    let cold: Vec<&str> = printed
        .completed()
        .into_iter()
        .filter(|(_, line)| line["span"]["cold_start"] == true)
        .map(|(id, _)| {
            if id == first.request_id() {
                "first"
            } else {
                "another"
            }
        })
        .collect();
    assert_eq!(cold, ["first"], "cold-start requests");
    assert_eq!(printed.sum("cold_start", &[]), 1.0, "cold_start metric");
}

/// An aggregate of several invocations names none of them.
fn assert_no_request_id_on_aggregates(printed: &Printed) {
    for document in &printed.emf {
        assert!(
            document.get("request_id").is_none(),
            "a flush with many invocations in flight names one of them: {document}"
        );
    }
}

async fn eight_creates_at_once_keep_their_own_logs_metrics_and_spans(
    store_env: Vec<(&'static str, String)>,
) {
    let collector = OtlpReceiver::start().await;
    let function = managed("create-user", &store_env, Some(&collector)).await;
    let mut printed = Printed::default();
    let first = invoke_together(&function, vec![create_event(0)])
        .await
        .remove(0);
    assert_eq!(first.reply.status, 201);
    let answered = invoke_together(&function, (1..=CONCURRENCY).map(create_event).collect()).await;
    for invocation in &answered {
        assert_eq!(invocation.reply.status, 201, "{:?}", invocation.reply);
    }
    let total = (CONCURRENCY + 1) as f64;
    let created = [("operation", "create-user"), ("outcome", "ok")];
    printed
        .until_sum(&function, "http_requests_total", &created, total)
        .await;
    printed
        .until_sum(&function, "http_request_duration_seconds", &[], total)
        .await;
    printed
        .until_sum(&function, "store_calls_total", &[("call", "create")], total)
        .await;
    let mut all = answered;
    all.push(first);
    assert_each_invocation_kept_its_identity(&all, &printed);
    assert_one_cold_start(&printed, all.last().unwrap());
    assert_no_request_id_on_aggregates(&printed);

    // Every request's spans reach the collector once: the spans of requests in flight together
    // go out with whichever flush comes first, never twice, never dropped.
    let mut spans = Vec::new();
    for _ in 0..250 {
        spans = collector.spans();
        if spans.iter().filter(|s| s.name == "request").count() >= all.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut span_ids = HashSet::new();
    for span in &spans {
        assert!(
            span_ids.insert(&span.span_id),
            "span exported twice: {span:?}"
        );
    }
    for invocation in &all {
        let requests: Vec<_> = spans
            .iter()
            .filter(|s| s.name == "request" && s.trace_id == invocation.trace_id())
            .collect();
        assert_eq!(
            requests.len(),
            1,
            "request spans of {}",
            invocation.request_id()
        );
        let request = requests[0];
        assert_eq!(
            request.attribute("faas.invocation_id"),
            Some(invocation.request_id())
        );
        assert!(
            spans.iter().any(|s| s.name == "store.call"
                && s.trace_id == request.trace_id
                && s.parent_span_id == request.span_id),
            "no store.call under the request of {}",
            invocation.request_id()
        );
    }
    assert_eq!(
        spans.iter().filter(|s| s.name == "request").count(),
        all.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_invocations_at_once_keep_their_own_identity_metrics_and_spans_in_memory() {
    eight_creates_at_once_keep_their_own_logs_metrics_and_spans(vec![(
        "USERS_STORE",
        "memory".to_owned(),
    )])
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_invocations_at_once_keep_their_own_identity_metrics_and_spans_on_dynamodb() {
    let table = fresh_table("concurrent-identity").await;
    eight_creates_at_once_keep_their_own_logs_metrics_and_spans(process_env(&table)).await;
}

/// The process's thread count, from `/proc`.
fn threads(function: &FunctionProcess) -> usize {
    let pid = function.child.id().expect("running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|count| count.trim().parse().ok())
        .expect("Threads: line")
}

#[tokio::test(flavor = "multi_thread")]
async fn one_at_a_time_is_one_thread_many_at_once_a_thread_per_cpu() {
    let memory = [("USERS_STORE", "memory".to_owned())];
    let sequential = FunctionProcess::start("get-user", &as_pairs(&memory)).await;
    sequential.runtime.invoke(untraced("get-user.json")).await;
    assert_eq!(
        threads(&sequential),
        1,
        "on-demand: the current thread only"
    );

    let concurrent = managed("get-user", &memory, None).await;
    concurrent.runtime.invoke(untraced("get-user.json")).await;
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(
        threads(&concurrent),
        1 + cpus,
        "Managed Instances: the main thread and a Tokio worker per CPU"
    );
}

/// A fresh table on a test server of its own, reached through a hop that can hold answers.
async fn dynamodb_behind_a_hop(
    purpose: &str,
) -> (OwnServer, LossyHop, Vec<(&'static str, String)>) {
    let server = OwnServer::start().await;
    let table = format!("users-{purpose}");
    schema::create_table(&client_for(&server.endpoint()), &table)
        .await
        .unwrap();
    let hop = LossyHop::start(&format!("127.0.0.1:{}", server.port), Vec::new()).await;
    let mut env = process_env(&table);
    env.retain(|(name, _)| !name.starts_with("AWS_ENDPOINT_URL"));
    env.push(("AWS_ENDPOINT_URL", hop.endpoint()));
    (server, hop, env)
}

fn hold(kind: &'static str, count: usize, delay: Duration) -> Vec<Rule> {
    vec![Rule {
        kind,
        count,
        loss: Loss::Delay(delay),
    }]
}

fn hold_until_released(kind: &'static str, count: usize) -> Vec<Rule> {
    vec![Rule {
        kind,
        count,
        loss: Loss::UntilReleased,
    }]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_store_call_holds_no_other_invocation_and_store_calls_stay_within_the_concurrency() {
    let (_server, hop, env) = dynamodb_behind_a_hop("concurrent-slow").await;
    let function = managed("create-user", &env, None).await;
    // The first create also reads the table's layout and takes a block of ids: out of the way.
    assert_eq!(
        invoke_together(&function, vec![create_event(0)]).await[0]
            .reply
            .status,
        201
    );

    // Half the writes are held until the test lets them go: the other half must be answered
    // meanwhile, not behind them, and the held half must all be in flight at once.
    hop.set_rules(hold_until_released("TransactWriteItems", CONCURRENCY / 2));
    let mut pending = invoke_all(&function, (1..=CONCURRENCY).map(create_event).collect());
    created(&mut pending, CONCURRENCY / 2).await;
    assert_eq!(
        hop.lost("TransactWriteItems"),
        CONCURRENCY / 2,
        "the slow half is held at the store while the fast half was answered"
    );
    hop.release_held();
    created(&mut pending, CONCURRENCY / 2).await;

    // Twice as many invocations as workers, every write held: the store never sees more calls
    // at once than the process has workers, and does see them all at once.
    hop.set_rules(hold(
        "TransactWriteItems",
        2 * CONCURRENCY,
        Duration::from_millis(300),
    ));
    let events = (CONCURRENCY + 1..=3 * CONCURRENCY)
        .map(create_event)
        .collect();
    for invocation in invoke_together(&function, events).await {
        assert_eq!(invocation.reply.status, 201, "{:?}", invocation.reply);
    }
    assert_eq!(
        hop.most_in_flight(),
        CONCURRENCY,
        "store calls in flight at most"
    );
}

/// The `get` store calls a process's metrics counted, by outcome, against what a test expects.
#[derive(Default)]
struct StoreCalls {
    printed: Printed,
    expected: HashMap<&'static str, f64>,
}

impl StoreCalls {
    /// Expects `count` more calls that ended `outcome`, and waits for the metrics to say so.
    async fn expect(&mut self, function: &FunctionProcess, outcome: &'static str, count: usize) {
        let expected = self.expected.entry(outcome).or_default();
        *expected += count as f64;
        let filter = [("call", "get"), ("outcome", outcome)];
        let expected = *expected;
        self.printed
            .until_sum(function, "store_calls_total", &filter, expected)
            .await;
    }
}

/// The breaker as a server's: many callers at once against a dead store open it; open, it
/// refuses everyone at once; after its open time, one probe goes through while the callers
/// beside it are refused; the probe's success closes it for all.
#[tokio::test(flavor = "multi_thread")]
async fn many_callers_open_the_breaker_and_one_probe_closes_it() {
    let (server, hop, mut env) = dynamodb_behind_a_hop("concurrent-breaker").await;
    env.extend([
        // Long enough for the probe to wait while every other caller is refused.
        ("STORE_TIMEOUT_MS", "2000".to_owned()),
        ("DYNAMODB_MAX_ATTEMPTS", "1".to_owned()),
        ("BREAKER_OPEN_SECONDS", "1".to_owned()),
    ]);
    let function = managed("get-user", &env, None).await;
    let gets = || {
        (0..CONCURRENCY)
            .map(|_| untraced("get-user.json"))
            .collect()
    };
    let statuses =
        |answered: &[Answered]| -> Vec<u16> { answered.iter().map(|a| a.reply.status).collect() };
    let mut calls = StoreCalls::default();

    assert_eq!(
        statuses(&invoke_together(&function, gets()).await),
        [404; CONCURRENCY]
    );
    calls.expect(&function, "ok", CONCURRENCY).await;

    server.freeze();
    let dead = invoke_together(&function, gets()).await;
    assert_eq!(statuses(&dead), [503; CONCURRENCY]);
    calls.expect(&function, "unavailable", CONCURRENCY).await;

    // Open: refused without calling the store (the metrics say `rejected`), with the time to
    // come back.
    let open = invoke_together(&function, gets()).await;
    assert_eq!(statuses(&open), [503; CONCURRENCY]);
    for invocation in &open {
        assert_eq!(invocation.reply.header("retry-after"), Some("1"));
    }
    calls.expect(&function, "rejected", CONCURRENCY).await;

    // Half-open: the one probe is held at the store until every other caller has been refused.
    // (The rule goes in once the calls the frozen server was sitting on have been answered.)
    server.thaw();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    hop.set_rules(hold_until_released("GetItem", 1));
    let mut probing = invoke_all(&function, gets());
    for _ in 1..CONCURRENCY {
        let refused = probing.next().await.expect("an invocation left");
        assert_eq!(refused.reply.status, 503, "a caller beside the probe");
    }
    // The probe's read has reached the store and is held there; let it go.
    while hop.lost("GetItem") < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    hop.release_held();
    let probe = probing.next().await.expect("the probe");
    assert_eq!(probe.reply.status, 404, "the probe");
    calls.expect(&function, "ok", 1).await;
    calls.expect(&function, "rejected", CONCURRENCY - 1).await;

    assert_eq!(
        statuses(&invoke_together(&function, gets()).await),
        [404; CONCURRENCY]
    );
    calls.expect(&function, "ok", CONCURRENCY).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_answers_the_invocations_in_flight_then_exits() {
    let (_server, hop, env) = dynamodb_behind_a_hop("concurrent-shutdown").await;
    let mut function = managed("create-user", &env, None).await;
    assert_eq!(
        invoke_together(&function, vec![create_event(0)]).await[0]
            .reply
            .status,
        201
    );
    let held = 3;
    hop.set_rules(hold_until_released("TransactWriteItems", held));
    let pid = function.child.id().expect("running");
    let in_flight = invoke_together(&function, (1..=held).map(create_event).collect());
    let terminate = async {
        // Every write has reached the store, and its answer is being held: all in flight when
        // the signal comes, and let go only after it.
        while hop.lost("TransactWriteItems") < held {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        send_sigterm(pid).await;
        hop.release_held();
    };
    let (answered, ()) = tokio::join!(in_flight, terminate);
    for invocation in &answered {
        assert_eq!(invocation.reply.status, 201, "{:?}", invocation.reply);
    }
    let status = tokio::time::timeout(Duration::from_secs(5), function.child.wait())
        .await
        .expect("exited within 5 s of its last answer")
        .expect("wait for the function");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let mut printed = Printed::default();
    let created = [("operation", "create-user"), ("outcome", "ok")];
    printed
        .until_sum(
            &function,
            "http_requests_total",
            &created,
            (1 + held) as f64,
        )
        .await;
}
