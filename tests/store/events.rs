//! Domain events end to end on the moto test server: changes made through `local-api` on a table
//! with a stream, the stream's records handed to the real `publish-events` binary as Lambda would
//! hand them, and a queue subscribed to the bus by an EventBridge rule receiving exactly the
//! expected events, in order per user, valid against the published JSON Schemas.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use http::Method;
use integration_tests::TestRequest;
use integration_tests::dynamo::{as_pairs, process_env, unique_table};
use integration_tests::events::{Subscription, publisher_env, stream_event, stream_fixture};
use integration_tests::otlp::OtlpReceiver;
use integration_tests::processes::{EVENTS_FUNCTION, LocalApi};
use integration_tests::runtime_api::FunctionProcess;
use integration_tests::sam::repo_root;
use serde_json::{Value, json};
use shared::store::dynamodb::schema::{self, TableCreation};

/// The JSON Schema published for `detail_type`, as a validator that also checks formats.
fn schema_for(detail_type: &str) -> jsonschema::Validator {
    let file = match detail_type {
        "UserCreated" => "user-created",
        "UserUpdated" => "user-updated",
        "UserDeleted" => "user-deleted",
        other => panic!("unexpected detail-type {other}"),
    };
    let path = repo_root().join(format!("docs/events/{file}.v1.schema.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Asserts every event is valid against its schema.
fn assert_valid(events: &[Value]) {
    for event in events {
        let detail_type = event["detail-type"].as_str().expect("a detail-type");
        if let Err(error) = schema_for(detail_type).validate(event) {
            panic!("{event:#} breaks the {detail_type} schema: {error}");
        }
    }
}

/// `(detail-type, detail without its time and trace)`, the part of an event a test can predict.
fn summary(event: &Value) -> (String, Value) {
    let mut detail = event["detail"].clone();
    let fields = detail.as_object_mut().unwrap();
    let occurred_at = fields.remove("occurred_at").expect("occurred_at");
    fields.remove("traceparent");
    assert!(
        occurred_at.as_str().unwrap().ends_with('Z'),
        "{occurred_at}"
    );
    (event["detail-type"].as_str().unwrap().to_owned(), detail)
}

fn created(id: u64) -> (String, Value) {
    (
        "UserCreated".into(),
        json!({"schema_version": 1, "event_id": format!("user-{id}-v1-created"), "user_id": id, "version": 1}),
    )
}

fn updated(id: u64, version: u64, changed: &[&str]) -> (String, Value) {
    (
        "UserUpdated".into(),
        json!({"schema_version": 1, "event_id": format!("user-{id}-v{version}-updated"),
               "user_id": id, "version": version, "changed": changed}),
    )
}

fn deleted(id: u64, version: u64) -> (String, Value) {
    (
        "UserDeleted".into(),
        json!({"schema_version": 1, "event_id": format!("user-{id}-v{version}-deleted"),
               "user_id": id, "version": version}),
    )
}

const PERSONAL_DATA: [&str; 6] = [
    "ann@example.com",
    "Ann@Example.com",
    "bob@example.com",
    "carl@example.com",
    "Ann Example",
    "Bob Example",
];

#[tokio::test(flavor = "multi_thread")]
async fn changes_through_the_api_reach_a_subscriber_once_each_in_order_per_user_without_personal_data()
 {
    let table = unique_table("events");
    let env = process_env(&table);
    let api = LocalApi::launch(&as_pairs(&env), &["--port", "0", "--create-table"]).await;
    let send = |method: Method, target: &str, body: Option<Value>| {
        let mut request = TestRequest::new(method, target);
        if let Some(body) = body {
            request = request.json(&body);
        }
        api.client.send(request)
    };
    let ann = json!({"name": "Ann Example", "email": "ann@example.com", "age": 30});
    let keyed = |body: &Value| {
        TestRequest::new(Method::POST, "/users")
            .header("Idempotency-Key", "ann-signup")
            .json(body)
    };
    let id_of = |reply: integration_tests::Reply| {
        assert_eq!(
            reply.status,
            201,
            "{:?}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()["user"]["id"].as_u64().unwrap()
    };
    let ann_id = id_of(api.client.send(keyed(&ann)).await);
    // A replay and a refused create write nothing, so they publish nothing.
    assert_eq!(id_of(api.client.send(keyed(&ann)).await), ann_id);
    let bob = json!({"name": "Bob Example", "email": "bob@example.com", "age": 40});
    let bob_id = id_of(send(Method::POST, "/users", Some(bob)).await);
    let taken = json!({"name": "Ann Again", "email": "ANN@example.com", "age": 1});
    assert_eq!(send(Method::POST, "/users", Some(taken)).await.status, 409);
    let ann_path = format!("/users/{ann_id}");
    let bob_path = format!("/users/{bob_id}");
    let patch = |body: Value| send(Method::PATCH, &ann_path, Some(body));
    assert_eq!(patch(json!({"age": 31})).await.status, 200);
    assert_eq!(patch(json!({"email": "Ann@Example.com"})).await.status, 200);
    let bob_renamed = json!({"name": "Robert Example", "email": "bob@example.com", "age": 40});
    assert_eq!(
        send(Method::PUT, &bob_path, Some(bob_renamed)).await.status,
        200
    );
    assert_eq!(send(Method::DELETE, &bob_path, None).await.status, 204);
    let carl = json!({"name": "Carl Example", "email": "carl@example.com", "age": 50});
    const CALLER: &str = "9e2f6b1c3a4d5e6f708192a3b4c5d6e7";
    let traced = TestRequest::new(Method::POST, "/users")
        .header("traceparent", format!("00-{CALLER}-1a2b3c4d5e6f7081-01"))
        .json(&carl);
    let carl_id = id_of(api.client.send(traced).await);

    let subscription = Subscription::create("events-bus", "users-api").await;
    let collector = OtlpReceiver::start().await;
    let mut function_env = publisher_env(&subscription.bus);
    function_env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()));
    let function = FunctionProcess::start(EVENTS_FUNCTION, &as_pairs(&function_env)).await;
    // Every record of the stream, claims, counter and idempotency record included: the function
    // must ignore what the template's filter would have kept from it.
    let event = stream_event(&table).await;
    let records = event["Records"].as_array().unwrap().len();
    assert!(records > 7, "{records} records");
    let response = function.runtime.invoke(event.clone()).await;
    assert_eq!(response, json!({"batchItemFailures": []}));

    let received = subscription.receive(7).await;
    assert_valid(&received);
    for envelope in &received {
        assert_eq!(envelope["source"], "users-api");
    }
    let by_user = |events: &[Value]| {
        let mut users: BTreeMap<u64, Vec<(String, Value)>> = BTreeMap::new();
        for event in events {
            let user = event["detail"]["user_id"].as_u64().unwrap();
            users.entry(user).or_default().push(summary(event));
        }
        users
    };
    assert_eq!(
        by_user(&received),
        BTreeMap::from([
            (
                ann_id,
                vec![
                    created(ann_id),
                    updated(ann_id, 2, &["age"]),
                    updated(ann_id, 3, &["email"])
                ]
            ),
            (
                bob_id,
                vec![
                    created(bob_id),
                    updated(bob_id, 2, &["name"]),
                    deleted(bob_id, 2)
                ]
            ),
            (carl_id, vec![created(carl_id)]),
        ])
    );
    // Every write through local-api is in a trace (the caller's, or one it started), so every
    // created or updated event carries its write's; a deletion leaves no image, so none.
    for event in &received {
        let traced = event["detail"].get("traceparent").is_some();
        assert_eq!(traced, event["detail-type"] != "UserDeleted", "{event:#}");
    }
    // Carl's signup came in the caller's trace, and so does the event it caused.
    let carl_created = received
        .iter()
        .find(|event| event["detail"]["user_id"] == carl_id)
        .unwrap();
    let traceparent = carl_created["detail"]["traceparent"].as_str().unwrap();
    assert!(
        traceparent.starts_with(&format!("00-{CALLER}-")),
        "{carl_created:#}"
    );
    // The batch that published it is a span linked to the trace of every write it published
    // for, Carl's signup's included, with its PutEvents call under it.
    let spans = collector.spans();
    let batch = spans
        .iter()
        .find(|span| span.name == "stream.batch")
        .unwrap_or_else(|| panic!("{spans:#?}"));
    assert_eq!(batch.linked_traces.len(), 6, "{batch:?}");
    assert!(
        batch.linked_traces.iter().any(|trace| trace == CALLER),
        "{batch:?}"
    );
    assert!(
        spans.iter().any(
            |span| span.name == "EventBridge.PutEvents" && span.parent_span_id == batch.span_id
        ),
        "{spans:#?}"
    );
    let bodies = serde_json::to_string(&received).unwrap();
    let logs = function.take_stderr().join("\n");
    for personal in PERSONAL_DATA {
        assert!(!bodies.contains(personal), "{personal} in the events");
        assert!(!logs.contains(personal), "{personal} in the logs:\n{logs}");
    }
    // Metrics are EMF lines on stdout, flushed after the invocation: events published by type.
    let mut published: BTreeMap<String, u64> = BTreeMap::new();
    for line in function.take_stdout() {
        let Ok(emf) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let (Some(count), Some(kind)) = (
            emf["events_published_total"].as_u64(),
            emf["detail_type"].as_str(),
        ) {
            assert_eq!(emf["function"], EVENTS_FUNCTION, "{emf}");
            *published.entry(kind.to_owned()).or_default() += count;
        }
    }
    assert_eq!(
        published,
        BTreeMap::from([
            ("UserCreated".to_owned(), 3),
            ("UserDeleted".to_owned(), 1),
            ("UserUpdated".to_owned(), 3)
        ])
    );

    // Lambda delivers at least once: the same records again give the same events, ids included.
    let response = function.runtime.invoke(event).await;
    assert_eq!(response, json!({"batchItemFailures": []}));
    let again = subscription.receive(7).await;
    let ids = |events: &[Value]| {
        let mut ids: Vec<String> = events
            .iter()
            .map(|e| e["detail"]["event_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&again), ids(&received));
}

#[tokio::test(flavor = "multi_thread")]
async fn awss_documented_stream_event_shape_maps_to_the_expected_events_with_user_values_on_request()
 {
    let fixture = stream_fixture();
    for include_user in [false, true] {
        let subscription = Subscription::create("events-fixture", "users-api").await;
        let mut env = publisher_env(&subscription.bus);
        env.push(("EVENTS_INCLUDE_USER", include_user.to_string()));
        let function = FunctionProcess::start(EVENTS_FUNCTION, &as_pairs(&env)).await;
        let response = function.runtime.invoke(fixture.clone()).await;
        assert_eq!(response, json!({"batchItemFailures": []}));
        let received = subscription.receive(4).await;
        assert_valid(&received);
        let summaries: Vec<(String, Value)> = received.iter().map(summary).collect();
        let with_user = |(kind, mut detail): (String, Value), email: &str, age: u8| {
            if include_user {
                detail["user"] = json!({"name": "Ada Lovelace", "email": email, "age": age});
            }
            (kind, detail)
        };
        assert_eq!(
            summaries,
            [
                with_user(created(1), "ada@example.com", 36),
                with_user(updated(1, 2, &["age"]), "ada@example.com", 37),
                with_user(updated(1, 3, &["email"]), "Ada@Example.com", 37),
                deleted(1, 3),
            ]
        );
        let times: Vec<&str> = received
            .iter()
            .map(|e| e["detail"]["occurred_at"].as_str().unwrap())
            .collect();
        assert_eq!(
            times,
            [
                "2026-11-25T09:46:40Z",
                "2026-11-25T09:47:40Z",
                "2026-11-25T09:48:40Z",
                "2026-11-25T09:49:40Z"
            ]
        );
        // The envelope's time is the change's, not the publication's.
        assert_eq!(received[0]["time"], "2026-11-25T09:46:40Z");
    }
}

#[tokio::test]
async fn create_table_turns_on_the_stream_of_a_table_that_has_none() {
    // A table as an older --create-table made it: the same keys, no stream.
    let table = unique_table("no-stream");
    let client = integration_tests::dynamo::client();
    let attribute = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .unwrap()
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S))
        .attribute_definitions(attribute("sk", ScalarAttributeType::N))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .unwrap();
    assert_eq!(
        schema::create_table(&client, &table).await.unwrap(),
        TableCreation::StreamEnabled
    );
    let description = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let stream = description.stream_specification.unwrap();
    assert!(stream.stream_enabled);
    assert_eq!(
        stream.stream_view_type.unwrap().as_str(),
        schema::table_definition().stream_view_type
    );
    assert_eq!(
        schema::create_table(&client, &table).await.unwrap(),
        TableCreation::AlreadyExisted
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn when_events_cannot_be_put_lambda_is_told_to_retry_from_the_first_user_record() {
    let fixture = stream_fixture();
    // A bus that does not exist: every PutEvents call fails as a whole.
    let env = publisher_env(&unique_table("no-such-bus"));
    let function = FunctionProcess::start(EVENTS_FUNCTION, &as_pairs(&env)).await;
    let response = function.runtime.invoke(fixture.clone()).await;
    // Record 1 is the id counter's change (no event); record 2 creates the first user.
    let first_user_record = &fixture["Records"][1]["dynamodb"]["SequenceNumber"];
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": first_user_record}]})
    );
    let logs = function.take_stderr().join("\n");
    assert!(logs.contains("PutEvents failed"), "{logs}");
}

#[test]
fn the_documented_example_event_is_valid_against_its_schema() {
    let guide = std::fs::read_to_string(repo_root().join("docs/events.md")).unwrap();
    let contract = guide
        .split_once("## The contract (version 1)")
        .expect("docs/events.md's contract section")
        .1;
    let example = contract
        .split_once("```json\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("an example event")
        .0;
    let event: Value = serde_json::from_str(example).expect("the example is JSON");
    assert_valid(std::slice::from_ref(&event));
    // And the schemas refuse what must not be there: personal data outside `user`, unknown types.
    let mut leaky = event.clone();
    leaky["detail"]["email"] = json!("ann@example.com");
    assert!(!schema_for("UserUpdated").is_valid(&leaky));
    let mut repeated = event;
    repeated["detail"]["changed"] = json!(["age", "age"]);
    assert!(!schema_for("UserUpdated").is_valid(&repeated));
}
