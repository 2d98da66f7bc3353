//! The benchmark's section 6: DynamoDB calls per operation.

use super::*;

pub(crate) async fn dynamodb_calls() -> Value {
    println!("## 6. DynamoDB requests per operation (recorded by an SDK interceptor)\n");
    let table = integration_tests::dynamo::fresh_table("bench-calls").await;
    let log = CallLog::default();
    let store = DynamoStore::new(recording_client(&log), table, 50);
    let new = |i: u32| NewUser {
        name: "C".into(),
        email: format!("c{i}@example.com"),
        age: 1,
    };
    for i in 0..30 {
        store.create(new(i)).await.unwrap();
    }
    log.take();
    let id = UserId::new(5).unwrap();
    let mut rows = Vec::new();
    let mut record = |operation: &str, documented: &str, log: &CallLog| {
        let calls = log.take();
        let apis: Vec<&str> = calls.iter().map(|c| c.api).collect();
        println!(
            "| {operation} | {} | {} | {documented} |",
            calls.len(),
            apis.join(" + ")
        );
        rows.push(json!({"operation": operation, "calls": calls.len(), "apis": apis, "documented": documented}));
    };
    println!("| operation | calls | APIs | documented |\n|---|---|---|---|");
    store.create(new(100)).await.unwrap();
    record(
        "create (id from the current block)",
        "1 TransactWriteItems",
        &log,
    );
    store.get(id).await.unwrap();
    record("get", "1 GetItem", &log);
    store
        .update(
            id,
            UserChanges {
                age: Some(9),
                ..Default::default()
            },
            Precondition::None,
        )
        .await
        .unwrap();
    record(
        "update, no email change",
        "1 GetItem + 1 TransactWriteItems",
        &log,
    );
    // The same address in other letter cases: no claim moves.
    let own_email = store
        .get(id)
        .await
        .unwrap()
        .expect("user 5")
        .email
        .to_uppercase();
    log.take();
    store
        .update(
            id,
            UserChanges {
                email: Some(own_email),
                ..Default::default()
            },
            Precondition::None,
        )
        .await
        .unwrap();
    record(
        "update, email re-cased",
        "1 GetItem + 1 TransactWriteItems",
        &log,
    );
    store
        .update(
            id,
            UserChanges {
                email: Some("new5@example.com".into()),
                ..Default::default()
            },
            Precondition::None,
        )
        .await
        .unwrap();
    record(
        "update, new email",
        "1 GetItem + 1 TransactWriteItems",
        &log,
    );
    store.delete(id, Precondition::None).await.unwrap();
    record("delete", "1 GetItem + 1 TransactWriteItems", &log);
    store
        .list(
            PageStart::After(UserId::new(10).unwrap()),
            PageLimit::new(10).unwrap(),
        )
        .await
        .unwrap();
    record("list by cursor", "8 Query (one per shard)", &log);
    store
        .list(
            PageStart::Skip(NonZeroU64::new(20).unwrap()),
            PageLimit::new(10).unwrap(),
        )
        .await
        .unwrap();
    record("list page=3 (limit 10)", "8 key-only Query + 8 Query", &log);
    println!();
    json!(rows)
}
