//! The alarms and the dashboard in `template.yaml` watch what the functions really emit.
//!
//! An alarm on a metric name or dimension set that nothing emits stays in `INSUFFICIENT_DATA` (or,
//! with missing data treated as fine, `OK`) forever and looks green. So the function binaries run
//! as real processes behind the loopback Runtime API, with the namespace and dimensions the
//! template gives them, through the cases that make each metric appear (a healthy store, a dead
//! one that opens the breaker, a throttled one, events published, refused and unreadable); their
//! EMF lines are collected, and every service-metric query of an alarm or a dashboard widget must
//! name an emitted namespace, metric and exact dimension set, filtering on values that were
//! emitted. AWS's own metrics are checked against the dimensions AWS documents for them and the
//! template's own resources.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use integration_tests::capacity::{Capacity, CapacityFront};
use integration_tests::dynamo::{self, OwnServer, as_pairs, client_for, fresh_table};
use integration_tests::events::{Subscription, publisher_env, stream_fixture};
use integration_tests::lambda_target::fixture;
use integration_tests::processes::EVENTS_FUNCTION;
use integration_tests::runtime_api::FunctionProcess;
use integration_tests::sam::repo_root;
use serde_json::Value;
use shared::contract::Operation;
use shared::store::dynamodb::schema;

use crate::docs::anchors;
use crate::template::{resources_named, transformed_template};

/// The stack name the checks stand in for `${AWS::StackName}`.
const STACK: &str = "users-test";

/// Metrics of the docs' table that the functions never emit, with the reason they are not on the
/// dashboard.
const LEFT_OFF: &[(&str, &str)] = &[(
    "http_requests_shed_total",
    "local-api only: deployed, API Gateway's throttling sheds load and its 429s are in 4xx",
)];

/// The dimension sets AWS documents for the metrics the template reads (API Gateway's "HTTP API
/// metrics", Lambda's "function metrics", SQS's and DynamoDB's metric tables).
fn documented_dimensions(namespace: &str, metric: &str) -> Option<Vec<Vec<&'static str>>> {
    let sets = match (namespace, metric) {
        (
            "AWS/ApiGateway",
            "Count" | "4xx" | "5xx" | "Latency" | "IntegrationLatency" | "DataProcessed",
        ) => vec![
            vec!["ApiId"],
            vec!["ApiId", "Stage"],
            vec!["ApiId", "Method", "Resource", "Stage"],
        ],
        ("AWS/Lambda", "Errors" | "Throttles" | "Duration" | "Invocations" | "IteratorAge") => {
            vec![
                vec!["FunctionName"],
                vec!["FunctionName", "Resource"],
                vec!["FunctionName", "ExecutedVersion"],
            ]
        }
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible" | "ApproximateAgeOfOldestMessage") => {
            vec![vec!["QueueName"]]
        }
        (
            "AWS/DynamoDB",
            "ConsumedReadCapacityUnits"
            | "ConsumedWriteCapacityUnits"
            | "ReadThrottleEvents"
            | "WriteThrottleEvents",
        ) => vec![
            vec!["TableName"],
            vec!["TableName", "GlobalSecondaryIndexName"],
        ],
        _ => return None,
    };
    Some(sets)
}

/// The resource type (and attribute) an AWS dimension's value must come from.
fn dimension_source(dimension: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match dimension {
        "ApiId" => ("AWS::ApiGatewayV2::Api", None),
        "FunctionName" => ("AWS::Lambda::Function", None),
        "QueueName" => ("AWS::SQS::Queue", Some("QueueName")),
        "TableName" => ("AWS::DynamoDB::Table", None),
        _ => return None,
    })
}

/// The values seen per dimension of one dimension set.
type DimensionValues = BTreeMap<String, BTreeSet<String>>;

/// What the functions emitted: for each (namespace, metric), each dimension set seen and the
/// values seen per dimension.
#[derive(Debug, Default)]
struct Emitted(BTreeMap<(String, String), BTreeMap<BTreeSet<String>, DimensionValues>>);

impl Emitted {
    /// Adds the EMF documents among `lines`.
    fn read(&mut self, lines: &[String]) {
        for line in lines {
            let Ok(document) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let Some(directives) = document["_aws"]["CloudWatchMetrics"].as_array() else {
                continue;
            };
            for directive in directives {
                let namespace = directive["Namespace"].as_str().expect("Namespace");
                for set in directive["Dimensions"].as_array().expect("Dimensions") {
                    let keys: BTreeSet<String> = set
                        .as_array()
                        .expect("a dimension set")
                        .iter()
                        .map(|key| key.as_str().expect("a dimension name").to_owned())
                        .collect();
                    for metric in directive["Metrics"].as_array().expect("Metrics") {
                        let name = metric["Name"].as_str().expect("metric Name");
                        let values = self
                            .0
                            .entry((namespace.to_owned(), name.to_owned()))
                            .or_default()
                            .entry(keys.clone())
                            .or_default();
                        for key in &keys {
                            let value = document[key].as_str().expect("a dimension value");
                            values
                                .entry(key.clone())
                                .or_default()
                                .insert(value.to_owned());
                        }
                    }
                }
            }
        }
    }

    fn names(&self) -> BTreeSet<&str> {
        self.0.keys().map(|(_, name)| name.as_str()).collect()
    }
}

/// A query on one service metric: Metrics Insights' `SELECT f(metric) FROM SCHEMA(ns, dims...)
/// WHERE k = 'v' AND ... GROUP BY ...` or a `SEARCH('{ns,dims...} MetricName="m" k="v"', ...)`.
#[derive(Debug, Clone, PartialEq)]
struct ServiceQuery {
    namespace: String,
    metric: String,
    schema: BTreeSet<String>,
    filters: Vec<(String, String)>,
    group_by: Vec<String>,
}

fn unquote(text: &str) -> String {
    text.trim().trim_matches('"').trim_matches('\'').to_owned()
}

impl ServiceQuery {
    /// Reads a Metrics Insights query; `None` when `text` is not one. Only the forms whose
    /// matches can be decided exactly are accepted: a `SCHEMA` (exact dimension sets) and
    /// equalities joined by `AND`.
    fn from_insights(text: &str) -> Option<Result<Self, String>> {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let rest = text.strip_prefix("SELECT ")?;
        Some((|| {
            let (function, rest) = rest.split_once('(').ok_or("no function")?;
            if !["SUM", "AVG", "MIN", "MAX", "COUNT"].contains(&function) {
                return Err(format!("unknown function {function}"));
            }
            let (metric, rest) = rest.split_once(')').ok_or("no metric")?;
            let rest = rest
                .trim()
                .strip_prefix("FROM SCHEMA(")
                .ok_or("not FROM SCHEMA(...): the dimension set must be exact")?;
            let (schema, rest) = rest.split_once(')').ok_or("SCHEMA unclosed")?;
            let mut names = schema.split(',').map(unquote);
            let namespace = names.next().ok_or("no namespace")?;
            let (rest, group_by) = match rest.split_once(" GROUP BY ") {
                Some((rest, keys)) => (rest, keys.split(',').map(unquote).collect()),
                None => (rest, Vec::new()),
            };
            let mut filters = Vec::new();
            if let Some(condition) = rest.trim().strip_prefix("WHERE ") {
                for equality in condition.split(" AND ") {
                    let (key, value) = equality
                        .split_once('=')
                        .filter(|_| !equality.contains(" OR ") && !equality.contains("!="))
                        .ok_or_else(|| format!("not an equality: {equality}"))?;
                    filters.push((unquote(key), unquote(value)));
                }
            } else if !rest.trim().is_empty() {
                return Err(format!("unread: {rest}"));
            }
            Ok(Self {
                namespace,
                metric: metric.trim().to_owned(),
                schema: names.collect(),
                filters,
                group_by,
            })
        })())
    }

    /// Reads a `SEARCH` expression; `None` when `text` is not one.
    fn from_search(text: &str) -> Option<Result<Self, String>> {
        let rest = text.trim().strip_prefix("SEARCH('")?;
        Some((|| {
            let (terms, _) = rest.split_once('\'').ok_or("search terms unclosed")?;
            let (schema, terms) = terms
                .trim()
                .strip_prefix('{')
                .and_then(|terms| terms.split_once('}'))
                .ok_or("no {namespace,dimensions} schema: the dimension set must be exact")?;
            let mut names = schema.split(',').map(unquote);
            let namespace = names.next().ok_or("no namespace")?;
            let mut metric = None;
            let mut filters = Vec::new();
            for term in terms.split_whitespace() {
                let (key, value) = term
                    .split_once('=')
                    .ok_or_else(|| format!("not key=\"value\": {term}"))?;
                if key == "MetricName" {
                    metric = Some(unquote(value));
                } else {
                    filters.push((key.to_owned(), unquote(value)));
                }
            }
            Ok(Self {
                namespace,
                metric: metric.ok_or("no MetricName")?,
                schema: names.collect(),
                filters,
                group_by: Vec::new(),
            })
        })())
    }

    /// Why this query matches nothing the functions emitted, if it does not.
    fn check(&self, emitted: &Emitted) -> Result<(), String> {
        let sets = emitted
            .0
            .get(&(self.namespace.clone(), self.metric.clone()))
            .ok_or_else(|| {
                format!(
                    "{}/{} was never emitted; emitted: {:?}",
                    self.namespace,
                    self.metric,
                    emitted.0.keys().collect::<Vec<_>>()
                )
            })?;
        let values = sets.get(&self.schema).ok_or_else(|| {
            format!(
                "{} was emitted with dimensions {:?}, never exactly {:?}",
                self.metric,
                sets.keys().collect::<Vec<_>>(),
                self.schema
            )
        })?;
        for (key, value) in &self.filters {
            let seen = values
                .get(key)
                .ok_or_else(|| format!("{}: filter on {key}, not a dimension", self.metric))?;
            if !seen.contains(value) {
                return Err(format!(
                    "{}: {key} = {value:?} never emitted (seen: {seen:?})",
                    self.metric
                ));
            }
        }
        for key in &self.group_by {
            if !self.schema.contains(key) {
                return Err(format!("{}: group by {key}, not a dimension", self.metric));
            }
        }
        Ok(())
    }
}

/// A reference to one of AWS's metrics, its dimension values as `Ref:Name` or `GetAtt:Name.Attr`.
#[derive(Debug)]
struct AwsMetric {
    namespace: String,
    metric: String,
    dimensions: BTreeMap<String, String>,
}

/// Every query an alarm or a widget makes, by where it is.
#[derive(Debug, Default)]
struct Queries {
    service: Vec<(String, ServiceQuery)>,
    aws: Vec<(String, AwsMetric)>,
}

impl Queries {
    /// Files `expression` (a Metrics Insights query, a SEARCH or metric math over other queries).
    fn expression(&mut self, at: &str, expression: &str) {
        let query = ServiceQuery::from_insights(expression)
            .or_else(|| ServiceQuery::from_search(expression));
        match query {
            Some(Ok(query)) => self.service.push((at.to_owned(), query)),
            Some(Err(problem)) => panic!("{at}: {problem}: {expression}"),
            None => assert!(
                !expression.contains("SEARCH") && !expression.contains("SELECT"),
                "{at}: a query the checker cannot read: {expression}"
            ),
        }
    }

    fn aws(
        &mut self,
        at: &str,
        namespace: &str,
        metric: &str,
        dimensions: BTreeMap<String, String>,
    ) {
        assert!(
            namespace.starts_with("AWS/"),
            "{at}: service metric {metric} named one by one; query it by SEARCH or SELECT"
        );
        self.aws.push((
            at.to_owned(),
            AwsMetric {
                namespace: namespace.to_owned(),
                metric: metric.to_owned(),
                dimensions,
            },
        ));
    }
}

/// `${...}` in a `Fn::Sub` string as the checks see it: the stack name, the region, and
/// references to resources as `Ref:Name` / `GetAtt:Name.Attr`.
fn substitute(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some((before, after)) = rest.split_once("${") {
        out.push_str(before);
        let (name, after) = after.split_once('}').expect("${ closed");
        out.push_str(&match name {
            "AWS::StackName" => STACK.to_owned(),
            "AWS::Region" => "us-east-1".to_owned(),
            literal if literal.starts_with('!') => format!("${{{}}}", &literal[1..]),
            attribute if attribute.contains('.') => format!("GetAtt:{attribute}"),
            resource => format!("Ref:{resource}"),
        });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A template value (literal, `Ref`, `Fn::GetAtt`, `Fn::Sub`) as the checks see it.
fn resolved(value: &Value) -> String {
    if let Some(text) = value.as_str() {
        return text.to_owned();
    }
    if let Some(name) = value["Ref"].as_str() {
        return format!("Ref:{name}");
    }
    if let Some([name, attribute]) = value["Fn::GetAtt"].as_array().map(Vec::as_slice) {
        return format!(
            "GetAtt:{}.{}",
            name.as_str().unwrap(),
            attribute.as_str().unwrap()
        );
    }
    if let Some(text) = value["Fn::Sub"].as_str() {
        return substitute(text);
    }
    panic!("a value the checks cannot resolve: {value}")
}

fn alarm_metric(queries: &mut Queries, at: &str, metric: &Value) {
    let dimensions = metric["Dimensions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| (resolved(&d["Name"]), resolved(&d["Value"])))
        .collect();
    queries.aws(
        at,
        metric["Namespace"].as_str().expect("Namespace"),
        metric["MetricName"].as_str().expect("MetricName"),
        dimensions,
    );
}

/// Every query of every alarm in `template`.
fn alarm_queries(template: &Value, queries: &mut Queries) {
    for (name, alarm) in resources_named(template, "AWS::CloudWatch::Alarm") {
        let properties = &alarm["Properties"];
        if properties.get("MetricName").is_some() {
            alarm_metric(queries, &name, properties);
        }
        for query in properties["Metrics"].as_array().into_iter().flatten() {
            let at = format!("{name}.{}", query["Id"].as_str().unwrap());
            if query.get("MetricStat").is_some() {
                alarm_metric(queries, &at, &query["MetricStat"]["Metric"]);
            } else {
                queries.expression(&at, &resolved(&query["Expression"]));
            }
        }
    }
}

/// The dashboard's body, `${...}` substituted.
fn dashboard(template: &Value) -> Value {
    let dashboards = resources_named(template, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1, "one dashboard");
    let body = resolved(&dashboards[0].1["Properties"]["DashboardBody"]);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("the dashboard body is JSON: {e}"))
}

/// Every query of every metric widget of the dashboard.
fn dashboard_queries(body: &Value, queries: &mut Queries) {
    for widget in body["widgets"].as_array().expect("widgets") {
        if widget["type"] != "metric" {
            continue;
        }
        let title = widget["properties"]["title"].as_str().expect("a title");
        for entry in widget["properties"]["metrics"].as_array().expect("metrics") {
            let entry = entry.as_array().expect("a metric entry is an array");
            if let Some(expression) = entry[0]["expression"].as_str() {
                queries.expression(title, expression);
                continue;
            }
            let names: Vec<&str> = entry.iter().filter_map(Value::as_str).collect();
            assert!(
                !names.contains(&"."),
                "{title}: write each metric out rather than repeat the one above with \".\""
            );
            let dimensions = names[2..]
                .chunks(2)
                .map(|pair| (pair[0].to_owned(), pair[1].to_owned()))
                .collect();
            queries.aws(title, names[0], names[1], dimensions);
        }
    }
}

/// Why an AWS metric reference would match nothing, if it would not.
fn check_aws(template: &Value, metric: &AwsMetric) -> Result<(), String> {
    let documented = documented_dimensions(&metric.namespace, &metric.metric).ok_or_else(|| {
        format!(
            "{}/{} is not among the metrics this check knows AWS documents",
            metric.namespace, metric.metric
        )
    })?;
    let keys: Vec<&str> = metric.dimensions.keys().map(String::as_str).collect();
    if !documented.iter().any(|set| {
        let mut set = set.clone();
        set.sort_unstable();
        set == keys
    }) {
        return Err(format!(
            "{}/{}: dimensions {keys:?} are not one of the documented sets {documented:?}",
            metric.namespace, metric.metric
        ));
    }
    for (dimension, value) in &metric.dimensions {
        let (kind, attribute) = dimension_source(dimension)
            .ok_or_else(|| format!("no rule for the dimension {dimension}"))?;
        let (reference, attribute_used) = match value.split_once(':') {
            Some(("Ref", name)) => (name, None),
            Some(("GetAtt", target)) => {
                let (name, attribute) = target.split_once('.').unwrap();
                (name, Some(attribute))
            }
            _ => {
                return Err(format!(
                    "{dimension} = {value:?}: not one of the template's resources"
                ));
            }
        };
        let resource = &template["Resources"][reference];
        if resource["Type"] != kind || attribute_used != attribute {
            return Err(format!(
                "{dimension} = {value}: want {kind}{} of this template",
                attribute.map(|a| format!(".{a}")).unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// The environment the template gives each function for its metrics, `${...}` substituted.
fn metrics_env(template: &Value) -> Vec<(&'static str, String)> {
    let functions = resources_named(template, "AWS::Lambda::Function");
    let variables = &functions[0].1["Properties"]["Environment"]["Variables"];
    let env: Vec<(&'static str, String)> = ["METRICS_NAMESPACE", "METRICS_DIMENSIONS"]
        .into_iter()
        .map(|name| (name, resolved(&variables[name])))
        .collect();
    for (function, resource) in &functions {
        for (name, value) in &env {
            assert_eq!(
                &resolved(&resource["Properties"]["Environment"]["Variables"][name]),
                value,
                "{function}'s {name}"
            );
        }
    }
    env
}

/// Runs `function` with `env`, invokes it with each event, and adds what it emitted.
async fn emitted_by(
    emitted: &mut Emitted,
    function: &str,
    env: &[(&'static str, String)],
    events: Vec<Value>,
) -> Vec<Value> {
    let process = FunctionProcess::start(function, &as_pairs(env)).await;
    let mut responses = Vec::new();
    for event in events {
        responses.push(process.runtime.invoke(event).await);
    }
    // Metrics are flushed before each response is posted; give the pipe a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    emitted.read(&process.take_stdout());
    responses
}

fn with(
    env: &[(&'static str, String)],
    more: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut env = env.to_vec();
    env.extend(
        more.iter()
            .map(|(name, value)| (*name, (*value).to_owned())),
    );
    env
}

/// The metrics the functions emit through the cases that make each of them appear.
async fn collect_emitted(metrics: &[(&'static str, String)]) -> Emitted {
    let mut emitted = Emitted::default();
    let table = fresh_table("alarms").await;
    let healthy = [dynamo::process_env(&table), metrics.to_vec()].concat();
    for operation in Operation::ALL {
        let function = operation.name();
        let event = fixture(&format!("{function}.json"));
        emitted_by(&mut emitted, function, &healthy, vec![event; 2]).await;
    }

    // A store that accepts connections and never answers: three timeouts in a row open the
    // breaker, which then refuses calls.
    let server = OwnServer::start().await;
    schema::create_table(&client_for(&server.endpoint()), "users-dead")
        .await
        .unwrap();
    let dead = with(
        &[dynamo::process_env("users-dead"), metrics.to_vec()].concat(),
        &[
            ("AWS_ENDPOINT_URL", &server.endpoint()),
            ("STORE_TIMEOUT_MS", "300"),
            ("DYNAMODB_MAX_ATTEMPTS", "1"),
        ],
    );
    let process = FunctionProcess::start("get-user", &as_pairs(&dead)).await;
    process.runtime.invoke(fixture("get-user.json")).await;
    server.freeze();
    for _ in 0..5 {
        process.runtime.invoke(fixture("get-user.json")).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    emitted.read(&process.take_stdout());
    drop(process);
    server.thaw();

    // A partition with no capacity left: every read is throttled, after the SDK's retries.
    let front = CapacityFront::start(
        &dynamo::endpoint(),
        Capacity {
            write_units: 0.0,
            read_units: 0.0,
        },
    )
    .await;
    let throttled = with(
        &healthy,
        &[
            ("AWS_ENDPOINT_URL", &front.endpoint()),
            ("DYNAMODB_MAX_ATTEMPTS", "1"),
        ],
    );
    emitted_by(
        &mut emitted,
        "get-user",
        &throttled,
        vec![fixture("get-user.json")],
    )
    .await;
    assert!(
        front.throttled().0 + front.throttled().1 > 0,
        "the front throttled nothing"
    );

    // Events: published on a bus, refused by a bus that does not exist, and a record that cannot
    // be read.
    let subscription = Subscription::create("alarms", "users-api").await;
    let published = [publisher_env(&subscription.bus), metrics.to_vec()].concat();
    emitted_by(
        &mut emitted,
        EVENTS_FUNCTION,
        &published,
        vec![stream_fixture()],
    )
    .await;
    let refused = [publisher_env("users-no-such-bus"), metrics.to_vec()].concat();
    emitted_by(
        &mut emitted,
        EVENTS_FUNCTION,
        &refused,
        vec![stream_fixture()],
    )
    .await;
    let mut unreadable = stream_fixture();
    unreadable["Records"][1]["dynamodb"]["NewImage"]["version"] = serde_json::json!({"S": "one"});
    emitted_by(&mut emitted, EVENTS_FUNCTION, &published, vec![unreadable]).await;
    emitted
}

/// The metric names of the operating guide's metrics table.
fn documented_metrics() -> BTreeSet<String> {
    let guide = std::fs::read_to_string(repo_root().join("docs/operating.md")).unwrap();
    let table = guide
        .split_once("## Metrics")
        .expect("docs/operating.md's Metrics section")
        .1
        .split("\n## ")
        .next()
        .unwrap();
    table
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|line| line.split_once('`'))
        .map(|(name, _)| name.to_owned())
        .collect()
}

fn all_queries(template: &Value) -> Queries {
    let mut queries = Queries::default();
    alarm_queries(template, &mut queries);
    dashboard_queries(&dashboard(template), &mut queries);
    queries
}

#[tokio::test(flavor = "multi_thread")]
async fn every_alarm_and_widget_watches_a_metric_the_functions_emit() {
    let template = transformed_template();
    let metrics = metrics_env(&template);
    let namespace = &metrics[0].1;
    let emitted = collect_emitted(&metrics).await;
    let queries = all_queries(&template);
    assert!(
        queries.service.len() >= 10 && queries.aws.len() >= 20,
        "{queries:?}"
    );

    let mut problems = Vec::new();
    for (at, query) in &queries.service {
        if &query.namespace != namespace {
            problems.push(format!(
                "{at}: namespace {} is not {namespace}",
                query.namespace
            ));
        }
        if let Err(problem) = query.check(&emitted) {
            problems.push(format!("{at}: {problem}"));
        }
        if !query
            .filters
            .contains(&("stack".to_owned(), STACK.to_owned()))
        {
            problems.push(format!(
                "{at}: {} is not filtered to this stack",
                query.metric
            ));
        }
    }
    for (at, metric) in &queries.aws {
        if let Err(problem) = check_aws(&template, metric) {
            problems.push(format!("{at}: {problem}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Every metric emitted is on the dashboard or left off on purpose, and every metric of the
    // guide's table was emitted by the cases above or is left off.
    let on_dashboard: BTreeSet<&str> = queries
        .service
        .iter()
        .filter(|(at, _)| !at.contains("Alarm"))
        .map(|(_, query)| query.metric.as_str())
        .collect();
    let left_off: BTreeSet<&str> = LEFT_OFF.iter().map(|(name, _)| *name).collect();
    let missing: Vec<&str> = emitted
        .names()
        .into_iter()
        .filter(|name| !on_dashboard.contains(name) && !left_off.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "emitted, but neither on the dashboard nor left off: {missing:?}"
    );
    let unseen: Vec<String> = documented_metrics()
        .into_iter()
        .filter(|name| {
            !emitted.names().contains(name.as_str()) && !left_off.contains(name.as_str())
        })
        .collect();
    assert!(
        unseen.is_empty(),
        "in docs/operating.md but never emitted by the cases: {unseen:?}"
    );

    // A typo in an alarm's metric or in a dimension is caught.
    let (at, query) = queries
        .service
        .iter()
        .find(|(at, _)| at.starts_with("StoreUnavailableAlarm"))
        .expect("the store unavailability alarm");
    let mut typo = query.clone();
    typo.metric = "store_call_total".to_owned();
    assert!(
        typo.check(&emitted).is_err(),
        "{at}: a misspelt metric passes"
    );
    let mut typo = query.clone();
    typo.schema.remove("call");
    typo.schema.insert("calls".to_owned());
    assert!(
        typo.check(&emitted).is_err(),
        "{at}: a misspelt dimension passes"
    );
    let mut typo = query.clone();
    typo.filters[1].1 = "unavailble".to_owned();
    assert!(
        typo.check(&emitted).is_err(),
        "{at}: a misspelt value passes"
    );
}

#[test]
fn each_function_has_its_errors_and_throttles_alarmed_and_every_alarm_notifies_and_has_a_runbook() {
    let template = transformed_template();
    let mut queries = Queries::default();
    alarm_queries(&template, &mut queries);
    let watched = |metric: &str| -> BTreeSet<String> {
        queries
            .aws
            .iter()
            .filter(|(_, m)| m.namespace == "AWS/Lambda" && m.metric == metric)
            .filter_map(|(_, m)| m.dimensions.get("FunctionName").cloned())
            .collect()
    };
    let functions: BTreeSet<String> = resources_named(&template, "AWS::Lambda::Function")
        .into_iter()
        .map(|(name, _)| format!("Ref:{name}"))
        .collect();
    assert_eq!(
        functions.len(),
        Operation::ALL.len() + 1,
        "and publish-events"
    );
    assert_eq!(watched("Errors"), functions);
    assert_eq!(watched("Throttles"), functions);

    let guide = std::fs::read_to_string(repo_root().join("docs/operating.md")).unwrap();
    let runbook = anchors(&guide);
    let alarms = resources_named(&template, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 10);
    for (name, alarm) in &alarms {
        let properties = &alarm["Properties"];
        for actions in ["AlarmActions", "OKActions"] {
            assert_eq!(
                properties[actions],
                serde_json::json!([{"Ref": "AlarmTopic"}]),
                "{name}"
            );
        }
        assert!(
            properties["TreatMissingData"].is_string(),
            "{name}: missing data chosen"
        );
        let description = properties["AlarmDescription"].as_str().unwrap_or_default();
        let anchor = description
            .split_once("docs/operating.md#")
            .map(|(_, anchor)| anchor.trim())
            .unwrap_or_else(|| panic!("{name}: no runbook link in {description:?}"));
        assert!(
            runbook.iter().any(|a| a == anchor),
            "{name}: no heading #{anchor} in docs/operating.md"
        );
    }
    // The dashboard shows every alarm's state.
    let body = dashboard(&template);
    let shown: BTreeSet<String> = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["type"] == "alarm")
        .flat_map(|w| w["properties"]["alarms"].as_array().unwrap().clone())
        .map(|arn| arn.as_str().unwrap().to_owned())
        .collect();
    let every: BTreeSet<String> = alarms
        .iter()
        .map(|(name, _)| format!("GetAtt:{name}.Arn"))
        .collect();
    assert_eq!(shown, every);

    // The runbook names widgets (in italics) by their titles.
    let titles: BTreeSet<&str> = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["properties"]["title"].as_str())
        .collect();
    let runbook_text = guide
        .split_once("## Runbook")
        .expect("docs/operating.md's Runbook")
        .1
        .replace('\n', " ");
    for (index, named) in runbook_text.split('*').enumerate() {
        if index % 2 == 1 {
            assert!(
                titles.contains(named),
                "the runbook names no widget {named:?}: {titles:?}"
            );
        }
    }
}

#[test]
fn the_query_readers_read_what_cloudwatch_reads_and_refuse_what_they_cannot_decide() {
    let insights = ServiceQuery::from_insights(
        "SELECT SUM(store_calls_total) FROM SCHEMA(\"UsersApi\", call, function, outcome, stack)\n WHERE stack = 'users-test' AND outcome = 'unavailable' GROUP BY call",
    )
    .unwrap()
    .unwrap();
    let search = ServiceQuery::from_search(
        "SEARCH('{UsersApi,call,function,stack} MetricName=\"store_calls_total\" stack=\"users-test\" outcome=\"unavailable\"', 'Sum', 60)",
    )
    .unwrap()
    .unwrap();
    assert_eq!(insights.namespace, "UsersApi");
    assert_eq!(insights.metric, "store_calls_total");
    assert_eq!(
        insights.schema,
        ["call", "function", "outcome", "stack"]
            .map(String::from)
            .into()
    );
    assert_eq!(insights.group_by, ["call"]);
    assert_eq!(search.filters, insights.filters);
    for undecidable in [
        "SELECT SUM(store_calls_total) FROM UsersApi",
        "SELECT SUM(x) FROM SCHEMA(UsersApi, a) WHERE a = 'b' OR a = 'c'",
        "SELECT SUM(x) FROM SCHEMA(UsersApi, a) WHERE a != 'b'",
        "SELECT P99(x) FROM SCHEMA(UsersApi, a)",
    ] {
        assert!(
            ServiceQuery::from_insights(undecidable).unwrap().is_err(),
            "{undecidable}"
        );
    }
    assert!(
        ServiceQuery::from_search("SEARCH('MetricName=\"x\"', 'Sum', 60)")
            .unwrap()
            .is_err()
    );
    assert!(ServiceQuery::from_insights("errors / requests").is_none());
    assert_eq!(
        substitute("a ${AWS::StackName} ${UsersApi} ${Queue.QueueName} ${!Literal}"),
        "a users-test Ref:UsersApi GetAtt:Queue.QueueName ${Literal}"
    );
}

/// moto's CloudFormation creates what it supports of the stack (`scripts/template_on_moto.py`),
/// and moto's CloudWatch takes every alarm through `PutMetricAlarm`, as CloudFormation would send
/// it, with references resolved to the created resources.
#[test]
fn the_stack_creates_on_moto_and_cloudwatch_takes_every_alarm() {
    let template = transformed_template();
    let path = std::env::temp_dir().join(format!("users-transformed-{}.json", std::process::id()));
    std::fs::write(&path, template.to_string()).unwrap();
    let output = std::process::Command::new(repo_root().join(".venv/bin/python"))
        .arg(repo_root().join("scripts/template_on_moto.py"))
        .arg(&path)
        .output()
        .expect("the test virtualenv, which ./scripts/test installs");
    std::fs::remove_file(&path).ok();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stack: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(stack["status"], "CREATE_COMPLETE", "{stack}");
    let types = |key: &str| -> BTreeSet<String> {
        stack[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect()
    };
    for created in [
        "AWS::CloudWatch::Dashboard",
        "AWS::SNS::Topic",
        "AWS::SQS::Queue",
        "AWS::DynamoDB::Table",
        "AWS::Lambda::Function",
        "AWS::Lambda::EventSourceMapping",
    ] {
        assert!(types("created").contains(created), "{created}: {stack}");
    }
    assert_eq!(
        types("left_out"),
        [
            "AWS::ApiGatewayV2::Api",
            "AWS::ApiGatewayV2::Stage",
            "AWS::CloudWatch::Alarm",
            "AWS::SNS::Subscription",
        ]
        .map(String::from)
        .into(),
        "what moto's CloudFormation leaves out (docs/operating.md says so)"
    );
    assert_eq!(
        stack["dashboards"],
        serde_json::json!([format!("{STACK}-users-api")])
    );
    let alarms = stack["alarms"].as_array().unwrap();
    assert_eq!(
        alarms.len(),
        resources_named(&template, "AWS::CloudWatch::Alarm").len()
    );
    let mut resolved_dimensions = 0;
    for alarm in alarms {
        let name = alarm["AlarmName"].as_str().unwrap();
        assert!(name.starts_with(&format!("{STACK}-")), "{name}");
        let topic = alarm["AlarmActions"][0].as_str().unwrap();
        assert!(
            topic.starts_with("arn:aws:sns:") && topic.contains("AlarmTopic"),
            "{name}: {topic}"
        );
        assert_eq!(alarm["OKActions"], alarm["AlarmActions"], "{name}");
        let mut dimensions: Vec<&Value> = alarm["Dimensions"].as_array().unwrap().iter().collect();
        for query in alarm["Metrics"].as_array().into_iter().flatten() {
            dimensions.extend(
                query["MetricStat"]["Metric"]["Dimensions"]
                    .as_array()
                    .into_iter()
                    .flatten(),
            );
        }
        for dimension in dimensions {
            let value = dimension["Value"].as_str().unwrap();
            assert!(
                value.starts_with(&format!("{STACK}-")) || value == "UsersApi",
                "{name}: {value} is not one of the stack's resources"
            );
            resolved_dimensions += 1;
        }
    }
    let mut queries = Queries::default();
    alarm_queries(&template, &mut queries);
    let declared: usize = queries.aws.iter().map(|(_, m)| m.dimensions.len()).sum();
    assert_eq!(
        resolved_dimensions, declared,
        "every AWS metric's dimension resolved"
    );
}
