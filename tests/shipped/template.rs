//! `template.yaml` checked against the code: its routes are the route table, its functions are the
//! workspace's binaries, its table is the table the code creates, each API function's IAM policy
//! allows exactly the DynamoDB actions its operation was seen to use against a real server, and the
//! events function reads only its stream, puts only on its bus and dead-letters only to its queue.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU64;

use integration_tests::dynamo::{self, fresh_table};
use integration_tests::processes::EVENTS_FUNCTION;
use integration_tests::recording::{CallLog, recording_client};
use integration_tests::sam::{TemplateFunction, functions, repo_root, template};
use serde_yaml::Value;
use shared::contract::Operation;
use shared::domain::{NewUser, PageLimit, PageStart, Precondition, UserChanges, UserId};
use shared::store::dynamodb::schema::{USER_PREFIX, table_definition};
use shared::store::{
    DynamoStore, IdempotentCreate, StoreCreate, StoreDelete, StoreFind, StoreGet, StoreList,
    StoreUpdate,
};

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The functions behind the API's routes: all but the stream's.
fn api_functions(template: &Value) -> BTreeMap<String, TemplateFunction> {
    let mut functions = functions(template);
    functions
        .remove(EVENTS_FUNCTION)
        .expect("the events function");
    functions
}

#[test]
fn routes_are_the_route_table_and_go_to_their_operations_function() {
    let template = template();
    let mut template_routes = BTreeSet::new();
    for (binary, function) in api_functions(&template) {
        for event in function.resource["Properties"]["Events"]
            .as_mapping()
            .unwrap()
            .values()
        {
            assert_eq!(event["Type"], "HttpApi");
            let api = format!("{:?}", event["Properties"]["ApiId"]);
            assert!(
                api.contains("!Ref") && api.contains("UsersApi"),
                "{binary}: {api}"
            );
            let method = event["Properties"]["Method"].as_str().unwrap().to_owned();
            let path = event["Properties"]["Path"].as_str().unwrap().to_owned();
            template_routes.insert((method, path, binary.clone()));
        }
    }
    let code_routes: BTreeSet<(String, String, String)> = Operation::routes()
        .map(|r| {
            (
                r.method.to_string(),
                r.path.to_owned(),
                r.operation.name().to_owned(),
            )
        })
        .collect();
    assert_eq!(template_routes, code_routes);
}

#[test]
fn every_function_is_a_workspace_binary_built_by_cargo_lambda() {
    let template = template();
    let functions = functions(&template);
    let names: BTreeSet<&str> = functions.keys().map(String::as_str).collect();
    let mut binaries: BTreeSet<&str> = Operation::ALL.iter().map(|o| o.name()).collect();
    binaries.insert(EVENTS_FUNCTION);
    assert_eq!(names, binaries);
    let workspace = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    for (binary, function) in &functions {
        assert_eq!(
            function.resource["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{binary}"
        );
        let manifest = std::fs::read_to_string(
            repo_root()
                .join("functions")
                .join(binary)
                .join("Cargo.toml"),
        )
        .unwrap_or_else(|e| panic!("functions/{binary}/Cargo.toml: {e}"));
        assert!(
            manifest.contains(&format!("name = \"{binary}\"")),
            "package {binary}"
        );
        assert!(
            workspace.contains(&format!("\"functions/{binary}\"")),
            "{binary} is a workspace member"
        );
        assert!(
            repo_root()
                .join("functions")
                .join(binary)
                .join("src/main.rs")
                .exists()
        );
    }
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Handler"], "bootstrap");
    assert_eq!(strings(&globals["Architectures"]), ["arm64"]);
}

/// The template as CloudFormation after SAM's own transform (`scripts/sam_transform.py`, run with
/// the SAM CLI's virtualenv that `./scripts/test` installs): what `sam deploy` would create.
pub(crate) fn transformed_template() -> serde_json::Value {
    transformed("template.yaml")
}

/// The repository's template `file` after SAM's own transform.
fn transformed(file: &str) -> serde_json::Value {
    let python = repo_root().join(".venv-sam/bin/python");
    let output = std::process::Command::new(&python)
        .arg(repo_root().join("scripts/sam_transform.py"))
        .arg(repo_root().join(file))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; ./scripts/test installs the SAM CLI there",
                python.display()
            )
        });
    assert!(
        output.status.success(),
        "SAM transform failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the transform prints JSON")
}

/// The resources of CloudFormation type `kind` in a transformed template.
fn resources_of_type<'a>(
    template: &'a serde_json::Value,
    kind: &str,
) -> Vec<&'a serde_json::Value> {
    resources_named(template, kind)
        .into_iter()
        .map(|(_, resource)| resource)
        .collect()
}

/// The resources of CloudFormation type `kind` in a transformed template, with their logical ids.
pub(crate) fn resources_named<'a>(
    template: &'a serde_json::Value,
    kind: &str,
) -> Vec<(String, &'a serde_json::Value)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, resource)| resource["Type"] == kind)
        .map(|(name, resource)| (name.clone(), resource))
        .collect()
}

#[test]
fn every_route_requires_iam_authorization_once_deployed() {
    let template = transformed_template();
    let apis = resources_of_type(&template, "AWS::ApiGatewayV2::Api");
    assert_eq!(apis.len(), 1, "one HTTP API");
    let paths = &apis[0]["Properties"]["Body"]["paths"];
    for route in Operation::routes() {
        let method = route.method.as_str().to_ascii_lowercase();
        let operation = &paths[route.path][&method];
        assert!(
            operation.is_object(),
            "{} {} is not in the deployed API",
            route.method,
            route.path
        );
        assert_eq!(
            operation["security"],
            serde_json::json!([{"AWS_IAM": []}]),
            "{} {} must require a SigV4-signed caller",
            route.method,
            route.path
        );
    }
    let routes = paths
        .as_object()
        .unwrap()
        .values()
        .map(|methods| methods.as_object().unwrap().len())
        .sum::<usize>();
    assert_eq!(
        routes,
        Operation::routes().count(),
        "no route beyond the operations' routes"
    );
}

#[test]
fn every_route_of_the_deployed_api_is_throttled() {
    let template = transformed_template();
    let stages = resources_of_type(&template, "AWS::ApiGatewayV2::Stage");
    assert_eq!(stages.len(), 1, "one stage serves the API");
    let stage = &stages[0]["Properties"];
    assert_eq!(stage["ApiId"], serde_json::json!({"Ref": "UsersApi"}));
    // The stage's default route settings apply to every route that has no settings of its own,
    // and none has: so each route of the API is limited by the two parameters.
    assert_eq!(
        stage["DefaultRouteSettings"],
        serde_json::json!({
            "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
        })
    );
    assert!(
        stage["RouteSettings"].is_null(),
        "{}",
        stage["RouteSettings"]
    );
    let parameters = &template["Parameters"];
    for (name, lowest) in [("ThrottlingRateLimit", 1), ("ThrottlingBurstLimit", 1)] {
        let default = parameters[name]["Default"]
            .as_u64()
            .expect("a numeric default");
        assert!(
            (lowest..=10_000).contains(&default),
            "{name} defaults to {default}"
        );
    }
    // Reserved concurrency is there to opt into; by default the functions use the shared pool.
    assert_eq!(parameters["ReservedConcurrency"]["Default"], 0);
    for function in resources_of_type(&template, "AWS::Lambda::Function") {
        assert_eq!(
            function["Properties"]["ReservedConcurrentExecutions"]["Fn::If"][0],
            "ReserveConcurrency"
        );
    }
}

#[test]
fn the_table_is_the_one_the_code_creates_and_is_never_dropped() {
    let template = template();
    let table = &template["Resources"]["UsersTable"];
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(table["UpdateReplacePolicy"], "Retain");
    let properties = &table["Properties"];
    let definition = table_definition();
    let pairs = |list: &Value, a: &str, b: &str| -> Vec<(String, String)> {
        list.as_sequence()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v[a].as_str().unwrap().to_owned(),
                    v[b].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let owned = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        pairs(
            &properties["AttributeDefinitions"],
            "AttributeName",
            "AttributeType"
        ),
        owned(&definition.attributes)
    );
    assert_eq!(
        pairs(&properties["KeySchema"], "AttributeName", "KeyType"),
        owned(&definition.key_schema)
    );
    assert_eq!(properties["BillingMode"], definition.billing_mode);
    let indexes = properties["GlobalSecondaryIndexes"]
        .as_sequence()
        .map_or(0, Vec::len);
    assert_eq!(indexes, definition.global_secondary_indexes.len());
    assert_eq!(
        properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(properties["SSESpecification"]["SSEEnabled"], true);
    assert_eq!(
        properties["StreamSpecification"]["StreamViewType"],
        definition.stream_view_type
    );
}

/// Runs every path of one operation against a real server and returns the IAM actions it used.
async fn actions_used(operation: Operation) -> BTreeSet<String> {
    let table = fresh_table("iam").await;
    let log = CallLog::default();
    let new = |email: &str| NewUser {
        name: "I".into(),
        email: email.into(),
        age: 1,
    };
    let setup = DynamoStore::new(dynamo::client(), &table, 2);
    let ann = setup.create(new("ann@example.com")).await.unwrap();
    let bob = setup.create(new("bob@example.com")).await.unwrap();
    // A process of its own, as each function is: its first call checks the table's layout.
    let store = DynamoStore::new(recording_client(&log), table, 2);
    let missing = UserId::new(9999).unwrap();
    let email = |e: &str| UserChanges {
        email: Some(e.into()),
        ..Default::default()
    };
    match operation {
        Operation::CreateUser => {
            for i in 0..3 {
                store
                    .create(new(&format!("c{i}@example.com")))
                    .await
                    .unwrap();
            }
            store.create(new("ANN@example.com")).await.unwrap_err();
            // An idempotent create, its replay (which reads the record and the user), a reuse.
            let record = |fingerprint: &str| IdempotentCreate {
                key: "iam-key".into(),
                fingerprint: fingerprint.into(),
                now: 1_000,
                expires_at: 2_000,
            };
            for fingerprint in ["same", "same", "other"] {
                let outcome = store
                    .create_idempotent(new("idem@example.com"), Some(record(fingerprint)))
                    .await;
                assert_eq!(outcome.is_ok(), fingerprint == "same", "{outcome:?}");
            }
        }
        Operation::GetUser => {
            store.get(ann.id).await.unwrap();
            store.get(missing).await.unwrap();
        }
        Operation::UpdateUser => {
            store
                .update(
                    ann.id,
                    UserChanges {
                        age: Some(5),
                        ..Default::default()
                    },
                    Precondition::None,
                )
                .await
                .unwrap();
            store
                .update(ann.id, email("Ann@Example.com"), Precondition::None)
                .await
                .unwrap();
            store
                .update(ann.id, email("ann2@example.com"), Precondition::None)
                .await
                .unwrap();
            store
                .update(ann.id, email("bob@example.com"), Precondition::None)
                .await
                .unwrap_err();
            store
                .update(missing, email("x@example.com"), Precondition::None)
                .await
                .unwrap_err();
        }
        Operation::DeleteUser => {
            store.delete(bob.id, Precondition::None).await.unwrap();
            store.delete(missing, Precondition::None).await.unwrap_err();
        }
        Operation::ListUsers => {
            let limit = PageLimit::new(1).unwrap();
            store.list(PageStart::First, limit).await.unwrap();
            store.list(PageStart::After(ann.id), limit).await.unwrap();
            store
                .list(PageStart::Skip(NonZeroU64::MIN), limit)
                .await
                .unwrap();
        }
        Operation::FindUser => {
            let found = store.find_by_email("ANN@example.com").await.unwrap();
            assert_eq!(found.map(|user| user.id), Some(ann.id));
            let nobody = store.find_by_email("nobody@example.com").await.unwrap();
            assert_eq!(nobody, None);
        }
    }
    CallLog::actions(&log.take())
}

#[tokio::test]
async fn each_function_may_use_exactly_the_actions_its_operation_uses() {
    let template = template();
    for (binary, function) in api_functions(&template) {
        let operation = *Operation::ALL.iter().find(|o| o.name() == binary).unwrap();
        let policies = function.resource["Properties"]["Policies"]
            .as_sequence()
            .expect("explicit policies");
        let mut allowed = BTreeSet::new();
        for policy in policies {
            for statement in policy["Statement"]
                .as_sequence()
                .expect("inline statements only")
            {
                assert_eq!(statement["Effect"], "Allow");
                let resource = &statement["Resource"];
                assert!(
                    format!("{resource:?}").contains("UsersTable.Arn"),
                    "{binary}: only the table: {resource:?}"
                );
                allowed.extend(strings(&statement["Action"]));
            }
        }
        assert_eq!(allowed, actions_used(operation).await, "{binary}");
    }
}

#[test]
fn browsers_may_send_the_conditional_and_idempotency_headers_and_read_the_answers() {
    let template = transformed_template();
    let api = template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .find(|r| r["Type"] == "AWS::ApiGatewayV2::Api")
        .expect("the HTTP API");
    let cors = &api["Properties"]["Body"]["x-amazon-apigateway-cors"];
    let listed = |field: &str| -> Vec<String> {
        cors[field]
            .as_array()
            .unwrap_or_else(|| panic!("{field} in {cors}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_ascii_lowercase())
            .collect()
    };
    for header in [
        "if-match",
        "if-none-match",
        "idempotency-key",
        "content-type",
        "authorization",
    ] {
        assert!(
            listed("allowHeaders").contains(&header.to_owned()),
            "{header}"
        );
    }
    for header in ["etag", "idempotent-replayed"] {
        assert!(
            listed("exposeHeaders").contains(&header.to_owned()),
            "{header}"
        );
    }
}

/// The statements of a function's inline policy, as (actions, resource as written).
fn statements(function: &TemplateFunction) -> Vec<(BTreeSet<String>, String)> {
    let policies = function.resource["Properties"]["Policies"]
        .as_sequence()
        .expect("explicit policies");
    policies
        .iter()
        .flat_map(|policy| {
            policy["Statement"]
                .as_sequence()
                .expect("inline statements")
        })
        .map(|statement| {
            assert_eq!(statement["Effect"], "Allow");
            (
                strings(&statement["Action"]).into_iter().collect(),
                format!("{:?}", statement["Resource"]),
            )
        })
        .collect()
}

#[test]
fn the_events_function_may_read_its_stream_put_on_its_bus_and_dead_letter_to_its_queue_only() {
    let template = template();
    let function = &functions(&template)[EVENTS_FUNCTION];
    let statements = statements(function);
    let actions = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(statements.len(), 3, "{statements:?}");
    // What Lambda does with the function's role: poll the stream, send given-up batches to the
    // queue; what the function's code does (shared::events): PutEvents, nothing else.
    let (stream, bus, queue) = (&statements[0], &statements[1], &statements[2]);
    assert_eq!(
        stream.0,
        actions(&[
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams"
        ])
    );
    assert!(stream.1.contains("UsersTable.StreamArn"), "{}", stream.1);
    assert_eq!(bus.0, actions(&["events:PutEvents"]));
    assert!(
        bus.1.contains("UsersEventBus.Arn") && bus.1.contains("event-bus/${EventBusName}"),
        "the created bus or the named one, nothing else: {}",
        bus.1
    );
    assert_eq!(queue.0, actions(&["sqs:SendMessage"]));
    assert!(queue.1.contains("EventsDeadLetterQueue.Arn"), "{}", queue.1);
    let environment = &function.resource["Properties"]["Environment"]["Variables"];
    assert!(format!("{:?}", environment["EVENT_BUS_NAME"]).contains("UsersEventBus"));
    // Personal data stays out of events unless a deployment opts in.
    assert_eq!(
        template["Parameters"]["EventsIncludeUser"]["Default"],
        "false"
    );
}

#[test]
fn the_stream_reaches_the_events_function_in_order_with_partial_retries_and_a_dead_letter_queue() {
    let template = template();
    let mappings: Vec<&Value> = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Lambda::EventSourceMapping")
        .collect();
    assert_eq!(mappings.len(), 1);
    let mapping = &mappings[0]["Properties"];
    assert!(format!("{:?}", mapping["EventSourceArn"]).contains("UsersTable.StreamArn"));
    assert!(format!("{:?}", mapping["FunctionName"]).contains("PublishEventsFunction"));
    assert_eq!(
        strings(&mapping["FunctionResponseTypes"]),
        ["ReportBatchItemFailures"]
    );
    assert_eq!(mapping["BisectBatchOnFunctionError"], true);
    assert_eq!(
        mapping["ParallelizationFactor"], 1,
        "one batch per shard at a time: order"
    );
    assert!(
        format!(
            "{:?}",
            mapping["DestinationConfig"]["OnFailure"]["Destination"]
        )
        .contains("EventsDeadLetterQueue.Arn")
    );
    // Bounded retries: -1 (for ever) would stall the shard behind one poison record for a day.
    assert!(format!("{:?}", mapping["MaximumRetryAttempts"]).contains("EventsMaxRetries"));
    let retries = &template["Parameters"]["EventsMaxRetries"];
    assert!(retries["MinValue"].as_i64().unwrap() >= 0);
    assert!(retries["Default"].as_i64().unwrap() > 0);
    // The filter lets exactly user items through.
    let filters = mapping["FilterCriteria"]["Filters"].as_sequence().unwrap();
    assert_eq!(filters.len(), 1);
    let pattern: serde_json::Value =
        serde_json::from_str(filters[0]["Pattern"].as_str().unwrap()).unwrap();
    assert_eq!(
        pattern,
        serde_json::json!({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": USER_PREFIX}]}}}})
    );
}

/// The environment `template.yaml` gives every function, as far as it is literal (a `!Ref` is
/// resolved only by CloudFormation, or by SAM from an env-vars file).
fn declared_environment(template: &Value) -> BTreeMap<String, String> {
    template["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping()
        .expect("Globals declare the functions' variables")
        .iter()
        .filter_map(|(name, value)| Some((name.as_str()?.to_owned(), value.as_str()?.to_owned())))
        .collect()
}

/// Where a function's DynamoDB client, built as `bootstrap` builds it, sends its first request
/// with `env` as its environment: captured before it leaves the process.
async fn dynamodb_endpoint_with(env: &BTreeMap<String, String>) -> String {
    use aws_sdk_dynamodb::config::{
        BehaviorVersion, Credentials, Region, SharedCredentialsProvider,
    };
    let endpoint = shared::config::endpoint_override_in(
        |variable| env.get(variable).cloned(),
        shared::config::AWS_ENDPOINT_URL_DYNAMODB,
    );
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::for_tests()))
        .build();
    let (capture, request) = aws_smithy_http_client::test_util::capture_request(None);
    let config = shared::bootstrap::dynamodb_client_config(&sdk, endpoint)
        .to_builder()
        .http_client(capture)
        .build();
    let _ = aws_sdk_dynamodb::Client::from_conf(config)
        .describe_table()
        .table_name("users")
        .send()
        .await;
    request.expect_request().uri().to_owned()
}

#[tokio::test]
async fn deployed_functions_use_aws_dynamodb_and_under_sam_local_the_env_vars_files_server() {
    let template = template();
    let deployed = declared_environment(&template);
    assert_eq!(
        deployed
            .get("AWS_ENDPOINT_URL_DYNAMODB")
            .map(String::as_str),
        Some(""),
        "the template declares the endpoint override, empty, so that sam local can set it"
    );
    assert_eq!(
        dynamodb_endpoint_with(&deployed).await,
        "https://dynamodb.us-east-1.amazonaws.com/",
        "deployed, the declared empty override means AWS's own endpoint"
    );
    // `sam local --env-vars` sets the variables the template declares, and drops the others.
    let overrides =
        integration_tests::sam_local::env_vars(&integration_tests::sam_local::env_vars_file());
    let all_declared: BTreeSet<&str> = template["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(|name| name.as_str())
        .collect();
    let mut local = deployed.clone();
    for (name, value) in &overrides {
        assert!(
            all_declared.contains(name.as_str()),
            "sam-local/env.json sets {name}, which the template does not declare: SAM would drop it"
        );
        local.insert(
            name.clone(),
            value.as_str().expect("string values").to_owned(),
        );
    }
    assert_eq!(
        dynamodb_endpoint_with(&local).await,
        "http://host.docker.internal:8000/"
    );
    // The events function declares its own service's override, for `sam local invoke`.
    let events = &functions(&template)[EVENTS_FUNCTION].resource;
    assert_eq!(
        events["Properties"]["Environment"]["Variables"]["AWS_ENDPOINT_URL_EVENTBRIDGE"].as_str(),
        Some("")
    );
}

#[test]
fn every_function_traces_and_exports_spans_as_the_parameters_say_neither_by_default() {
    let template = transformed_template();
    assert_eq!(template["Parameters"]["Tracing"]["Default"], "PassThrough");
    let functions = resources_of_type(&template, "AWS::Lambda::Function");
    assert_eq!(
        functions.len(),
        Operation::ALL.len() + 1,
        "the API functions and publish-events"
    );
    assert_eq!(template["Parameters"]["OtlpEndpoint"]["Default"], "");
    for function in functions {
        let properties = &function["Properties"];
        assert_eq!(
            properties["TracingConfig"],
            serde_json::json!({"Mode": {"Ref": "Tracing"}}),
            "{function}"
        );
        // Spans go where OtlpEndpoint says (empty: nowhere).
        assert_eq!(
            properties["Environment"]["Variables"]["OTEL_EXPORTER_OTLP_ENDPOINT"],
            serde_json::json!({"Ref": "OtlpEndpoint"}),
            "{function}"
        );
    }
}

/// The Lambda Managed Instances variant (`template-managed-instances.yaml`, which
/// `scripts/managed_instances.py` makes of `template.yaml`): every function, the stream's
/// included, runs on the stack's arm64 capacity provider as its published `live` alias, built
/// from the same binary; everything else of the default stack is there unchanged; and the
/// default template has none of it.
#[test]
fn the_managed_instances_variant_runs_every_function_on_the_capacity_provider_and_changes_nothing_else()
 {
    let default = transformed_template();
    let managed = transformed("template-managed-instances.yaml");

    let providers = resources_named(&managed, "AWS::Lambda::CapacityProvider");
    let [(provider, properties)] = providers.as_slice() else {
        panic!("one capacity provider: {providers:?}");
    };
    let properties = &properties["Properties"];
    assert_eq!(
        properties["InstanceRequirements"]["Architectures"],
        serde_json::json!(["arm64"])
    );
    assert_eq!(properties["VpcConfig"]["SubnetIds"]["Ref"], "SubnetIds");

    let functions = resources_named(&managed, "AWS::Lambda::Function");
    assert_eq!(
        functions.len(),
        Operation::ALL.len() + 1,
        "the API functions and the stream's"
    );
    let aliases = resources_named(&managed, "AWS::Lambda::Alias");
    for (name, function) in &functions {
        let config = &function["Properties"]["CapacityProviderConfig"]["LambdaManagedInstancesCapacityProviderConfig"];
        let arn = config["CapacityProviderArn"]["Fn::Sub"]
            .as_str()
            .unwrap_or_default();
        assert!(
            arn.ends_with(&format!(":capacity-provider:${{{provider}}}")),
            "{name} runs on {config}"
        );
        assert_eq!(config["ExecutionEnvironmentMemoryGiBPerVCpu"], 2, "{name}");
        assert!(
            function["Properties"]
                .get("ReservedConcurrentExecutions")
                .is_none()
        );
        assert_eq!(
            function["Metadata"], default["Resources"][name]["Metadata"],
            "{name} is built as template.yaml builds it"
        );
        assert!(
            aliases.iter().any(
                |(_, alias)| alias["Properties"]["FunctionName"]["Ref"] == *name
                    && alias["Properties"]["Name"] == "live"
            ),
            "{name} has a live alias"
        );
    }
    // What invokes a function invokes its alias: API Gateway's permissions and the stream.
    let alias_of = |function: &str| format!("{function}Aliaslive");
    for (name, permission) in resources_named(&managed, "AWS::Lambda::Permission") {
        let target = permission["Properties"]["FunctionName"]["Ref"]
            .as_str()
            .unwrap();
        assert!(target.ends_with("Aliaslive"), "{name} invokes {target}");
    }
    assert_eq!(
        managed["Resources"]["UsersStreamToEvents"]["Properties"]["FunctionName"]["Ref"],
        alias_of("PublishEventsFunction")
    );

    for (name, resource) in default["Resources"].as_object().unwrap() {
        assert_eq!(
            managed["Resources"][name]["Type"], resource["Type"],
            "{name} is in the variant as it is in template.yaml"
        );
        assert!(
            resource["Properties"]
                .get("CapacityProviderConfig")
                .is_none(),
            "the default template deploys on-demand: {name}"
        );
    }
    assert!(resources_named(&default, "AWS::Lambda::CapacityProvider").is_empty());
    assert!(resources_named(&default, "AWS::Lambda::Alias").is_empty());
}
