//! The DynamoDB store against scripted HTTP answers (the SDK's own test HTTP client): the branches
//! a DynamoDB-compatible test server cannot reach. It serialises requests, so two transactions
//! never conflict there, and it never throttles.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::test_util::infallible_client_fn;

use super::DynamoStore;
use crate::service::UserId;
use crate::store::{Precondition, StoreDelete, StoreError, StoreGet};
use crate::test_metrics::{moved, recorded};

/// One scripted answer: HTTP status and JSON body.
type Answer = (u16, &'static str);

const USER_ITEM: Answer = (
    200,
    r#"{"Item": {"pk": {"S": "USER"}, "sk": {"N": "1"}, "name": {"S": "Ada"},
        "email": {"S": "ada@example.com"}, "email_key": {"S": "ada@example.com"},
        "age": {"N": "36"}, "version": {"N": "1"}}}"#,
);
const COMMITTED: Answer = (200, "{}");
const CONFLICT: Answer = (
    400,
    r#"{"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None]",
        "CancellationReasons": [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}, {"Code": "None"}]}"#,
);
const THROTTLED: Answer = (
    400,
    r#"{"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "The level of configured provisioned throughput for the table was exceeded."}"#,
);
const SERVER_ERROR: Answer = (
    500,
    r#"{"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "Internal server error"}"#,
);
const NO_TABLE: Answer = (
    400,
    r#"{"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "message": "Requested resource not found"}"#,
);

/// A store whose client gets `answers` in order, one per HTTP request, with the SDK's own retries
/// off (what is tested is this store's handling); returns the operations it was asked for.
fn scripted(answers: Vec<Answer>) -> (DynamoStore, Arc<Mutex<Vec<String>>>) {
    let answers = Mutex::new(VecDeque::from(answers));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    let http = infallible_client_fn(move |request: http::Request<_>| {
        let target = request
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        log.lock()
            .unwrap()
            .push(target.trim_start_matches("DynamoDB_20120810.").to_owned());
        let (status, body) = answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| panic!("no scripted answer left for {target}"));
        http::Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.0")
            .body(body)
            .unwrap()
    });
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::for_tests())
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .http_client(http)
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    (DynamoStore::new(client, "users", 50), asked)
}

fn id() -> UserId {
    UserId::new(1).unwrap()
}

fn asked(log: &Mutex<Vec<String>>) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[tokio::test]
async fn a_transaction_conflict_is_read_again_and_retried() {
    let (store, log) = scripted(vec![USER_ITEM, CONFLICT, USER_ITEM, COMMITTED]);
    store.delete(id(), Precondition::None).await.unwrap();
    assert_eq!(
        asked(&log),
        [
            "GetItem",
            "TransactWriteItems",
            "GetItem",
            "TransactWriteItems"
        ]
    );
}

#[tokio::test]
async fn endless_conflicts_end_as_unavailable_after_four_attempts() {
    let (store, log) = scripted([USER_ITEM, CONFLICT].repeat(4));
    let error = store.delete(id(), Precondition::None).await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable { .. }), "{error:?}");
    assert_eq!(asked(&log).len(), 8, "four rounds of read and transaction");
}

#[tokio::test]
async fn server_errors_are_transient_and_a_missing_table_is_not() {
    let (store, _) = scripted(vec![SERVER_ERROR, NO_TABLE]);
    let error = store.get(id()).await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable { .. }), "{error:?}");
    let error = store.get(id()).await.unwrap_err();
    assert!(matches!(error, StoreError::Internal(_)), "{error:?}");
}

#[test]
fn throttling_is_transient_and_counted() {
    let ((), counters) = recorded(|| async {
        let (store, _) = scripted(vec![THROTTLED, USER_ITEM]);
        let error = store.get(id()).await.unwrap_err();
        assert!(matches!(error, StoreError::Unavailable { .. }), "{error:?}");
        assert!(store.get(id()).await.unwrap().is_some());
    });
    assert_eq!(
        moved(&counters, "dynamodb_throttles_total"),
        [(vec![], 1)],
        "one throttled call, one counted"
    );
}
