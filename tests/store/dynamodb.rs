//! What is specific to the DynamoDB backend: the table it creates, how it allocates ids, what a
//! failing server looks like to clients, and the users/claims invariant after heavy churn.

use std::time::{Duration, Instant};

use http::Method;
use integration_tests::contract::{assert_error, create};
use integration_tests::dynamo::{
    self, as_pairs, assert_users_and_claims_agree, fresh_store, process_env, unique_table,
    unreachable_env,
};
use integration_tests::processes::LocalApi;
use integration_tests::{Target, TestRequest};
use serde_json::json;
use shared::domain::NewUser;
use shared::store::StoreCreate;
use shared::store::dynamodb::schema::{self, TableCreation, table_definition};

#[tokio::test]
async fn create_table_builds_the_documented_table_once() {
    let table = unique_table("schema");
    let client = dynamo::client();
    assert_eq!(
        schema::create_table(&client, &table).await.unwrap(),
        TableCreation::Created
    );
    assert_eq!(
        schema::create_table(&client, &table).await.unwrap(),
        TableCreation::AlreadyExisted
    );
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let described = described.table.unwrap();
    let definition = table_definition();
    let attributes: Vec<(String, String)> = described
        .attribute_definitions()
        .iter()
        .map(|a| {
            (
                a.attribute_name().to_owned(),
                a.attribute_type().as_str().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = definition
        .attributes
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(attributes, expected);
    let keys: Vec<(String, String)> = described
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = definition
        .key_schema
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(keys, expected);
    assert!(described.global_secondary_indexes().is_empty());
    let billing = described
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .map(|m| m.as_str().to_owned());
    assert_eq!(billing.as_deref(), Some(definition.billing_mode));
}

#[tokio::test]
async fn ids_come_from_the_counter_a_block_at_a_time() {
    let store = fresh_store(5).await;
    let counter = || async {
        let items = dynamo::scan(store.table()).await;
        items
            .iter()
            .find(|i| {
                i.get("pk").and_then(|v| v.as_s().ok()).map(String::as_str) == Some("COUNTER")
            })
            .and_then(|i| i.get("last_id")?.as_n().ok()?.parse::<u64>().ok())
    };
    let new_user = |i: u32| NewUser {
        name: "B".into(),
        email: format!("b{i}@example.com"),
        age: 1,
    };
    let first = store.create(new_user(0)).await.unwrap();
    assert_eq!(first.id.get(), 1);
    assert_eq!(
        counter().await,
        Some(5),
        "one reservation covers a block of 5"
    );
    for i in 1..5 {
        assert_eq!(
            store.create(new_user(i)).await.unwrap().id.get(),
            u64::from(i) + 1
        );
    }
    assert_eq!(
        counter().await,
        Some(5),
        "no counter update within the block"
    );
    assert_eq!(store.create(new_user(5)).await.unwrap().id.get(), 6);
    assert_eq!(counter().await, Some(10));

    // A second process on the same table gets its own block: distinct ids, never reused.
    let other = shared::store::DynamoStore::new(dynamo::client(), store.table(), 5);
    assert_eq!(other.create(new_user(6)).await.unwrap().id.get(), 11);
    assert_eq!(store.create(new_user(7)).await.unwrap().id.get(), 7);
}

#[tokio::test]
async fn the_documented_local_command_needs_only_table_and_endpoint() {
    // `USERS_TABLE=... AWS_ENDPOINT_URL=http://127.0.0.1:PORT local-api --create-table`: no
    // region or credentials are needed for a loopback endpoint.
    let table = unique_table("readme");
    let env = [
        ("USERS_TABLE", table.as_str()),
        ("AWS_ENDPOINT_URL", &dynamo::endpoint()),
    ];
    let api = LocalApi::launch_clean(&env, &["--port", "0", "--create-table"]).await;
    let user = create(&api, "Readme", "readme@example.com", 1).await;
    assert_eq!(user["id"], 1);
    assert_eq!(assert_users_and_claims_agree(&table).await, 1);
}

#[tokio::test]
async fn an_unreachable_server_is_a_503_without_details() {
    let env = unreachable_env("users");
    let api = LocalApi::start(&as_pairs(&env)).await;
    for request in [
        TestRequest::new(Method::POST, "/users")
            .json(&json!({"name": "A", "email": "a@example.com"})),
        TestRequest::new(Method::GET, "/users/1"),
        TestRequest::new(Method::GET, "/users"),
    ] {
        let started = Instant::now();
        let reply = api.send(request).await;
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "bounded by the SDK timeouts"
        );
        assert_error(&reply, 503, "unavailable");
        assert_eq!(reply.header("retry-after"), Some("1"));
        let body = String::from_utf8_lossy(&reply.body);
        assert!(
            !body.contains("127.0.0.1") && !body.contains("dispatch"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_missing_table_is_a_500_without_details() {
    let env = process_env(&unique_table("never-created"));
    let api = LocalApi::start(&as_pairs(&env)).await;
    let reply = api.send(TestRequest::new(Method::GET, "/users/1")).await;
    assert_error(&reply, 500, "internal");
    assert!(!String::from_utf8_lossy(&reply.body).contains("never-created"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn users_and_email_claims_stay_in_step_under_churn() {
    let table = dynamo::fresh_table("churn").await;
    let api = LocalApi::start(&as_pairs(&process_env(&table))).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(create(&api, "C", &format!("c{i}@example.com"), 1).await["id"].clone());
    }
    // Concurrent updates (moving emails, some onto each other) and deletes on the same users.
    let requests = ids.iter().enumerate().flat_map(|(i, id)| {
        let path = format!("/users/{id}");
        vec![
            TestRequest::new(Method::PUT, &path)
                .json(&json!({"email": format!("c{}@example.com", (i + 1) % 12)})),
            TestRequest::new(Method::PUT, &path)
                .json(&json!({"email": format!("moved{i}@example.com"), "age": 2})),
            TestRequest::new(Method::DELETE, &path),
            TestRequest::new(Method::PATCH, &path).json(&json!({"name": "Renamed"})),
        ]
    });
    let replies = futures::future::join_all(requests.map(|r| api.send(r))).await;
    for reply in &replies {
        assert!(
            [200, 204, 404, 409].contains(&reply.status),
            "unexpected {}: {:?}",
            reply.status,
            reply.json()
        );
    }
    assert_users_and_claims_agree(&table).await;
}

/// The test server's transactions are all or nothing, as DynamoDB's are: it rolls back the items a
/// cancelled transaction names (not copies of whole tables, which made transactions cost as much
/// as the table is large), so this holds the rollback to what DynamoDB does: the put, the update
/// and the delete that came before the failing condition are undone, and the stream shows none.
#[tokio::test]
async fn a_cancelled_transaction_leaves_items_and_stream_as_they_were() {
    use aws_sdk_dynamodb::types::{
        AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update,
    };
    let table = dynamo::fresh_table("cancel").await;
    let client = dynamo::client();
    let key = |pk: &str, sk: u32| {
        [
            ("pk".to_owned(), AttributeValue::S(pk.into())),
            ("sk".to_owned(), AttributeValue::N(sk.to_string())),
        ]
        .into_iter()
        .collect::<std::collections::HashMap<_, _>>()
    };
    // 1 is updated and 2 deleted by the cancelled transaction, 3 put; 4 does not exist.
    for sk in [1, 2] {
        client
            .put_item()
            .table_name(&table)
            .set_item(Some(key("T", sk)))
            .item("n", AttributeValue::N("1".into()))
            .send()
            .await
            .expect("put");
    }
    let before = dynamo::scan(&table).await;
    let records_before = integration_tests::events::stream_event(&table).await["Records"]
        .as_array()
        .map_or(0, Vec::len);
    let put = Put::builder()
        .table_name(&table)
        .set_item(Some(key("T", 3)))
        .build()
        .unwrap();
    let update = Update::builder()
        .table_name(&table)
        .set_key(Some(key("T", 1)))
        .update_expression("SET n = :two")
        .expression_attribute_values(":two", AttributeValue::N("2".into()))
        .build()
        .unwrap();
    let delete = Delete::builder()
        .table_name(&table)
        .set_key(Some(key("T", 2)))
        .build()
        .unwrap();
    let failing = ConditionCheck::builder()
        .table_name(&table)
        .set_key(Some(key("T", 4)))
        .condition_expression("attribute_exists(pk)")
        .build()
        .unwrap();
    let error = client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().put(put).build())
        .transact_items(TransactWriteItem::builder().update(update).build())
        .transact_items(TransactWriteItem::builder().delete(delete).build())
        .transact_items(
            TransactWriteItem::builder()
                .condition_check(failing)
                .build(),
        )
        .send()
        .await
        .expect_err("the condition fails");
    assert!(
        error
            .as_service_error()
            .is_some_and(|e| e.is_transaction_canceled_exception()),
        "{error:?}"
    );
    let sorted = |mut items: Vec<std::collections::HashMap<String, AttributeValue>>| {
        items.sort_by_key(|item| format!("{:?}", item.get("sk")));
        items
    };
    assert_eq!(sorted(dynamo::scan(&table).await), sorted(before));
    let records_after = integration_tests::events::stream_event(&table).await["Records"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(records_after, records_before, "no stream records");
}
