//! The DynamoDB store against scripted HTTP answers (the SDK's own test HTTP client): the branches
//! a DynamoDB-compatible test server cannot reach. It serialises requests, so two transactions
//! never conflict there, and it never throttles.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::test_util::infallible_client_fn;

use super::DynamoStore;
use crate::domain::{NewUser, Precondition, UserChanges, UserId};
use crate::store::{Created, StoreCreate, StoreDelete, StoreError, StoreGet, StoreUpdate};
use crate::test_metrics::{moved, recorded};

/// One scripted answer: HTTP status and JSON body.
type Answer = (u16, &'static str);

const USER_ITEM: Answer = (
    200,
    r#"{"Item": {"pk": {"S": "USER#1"}, "sk": {"N": "1"}, "name": {"S": "Ada"},
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
/// DynamoDB's answer when it throttles one item of a transaction (TransactWriteItems API
/// reference): a cancellation, the throttled item's reason `ThrottlingError`, the others `None`.
const CLAIM_THROTTLED: Answer = (
    400,
    r#"{"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ThrottlingError]",
        "CancellationReasons": [{"Code": "None"}, {"Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly."}]}"#,
);
/// The same with the first (the user's) item throttled, as provisioned tables answer.
const USER_THROTTLED: Answer = (
    400,
    r#"{"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [ProvisionedThroughputExceeded, None, None]",
        "CancellationReasons": [{"Code": "ProvisionedThroughputExceeded", "Message": "The level of configured provisioned throughput for the table was exceeded."}, {"Code": "None"}, {"Code": "None"}]}"#,
);
const ID_BLOCK: Answer = (200, r#"{"Attributes": {"last_id": {"N": "50"}}}"#);
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
    let store = DynamoStore::new(client, "users", 50);
    // The layout is checked against a real server (tests/store/dynamodb.rs); scripts leave it out.
    store.layout.confirm();
    (store, asked)
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
async fn endless_conflicts_end_as_contention_after_four_attempts() {
    let (store, log) = scripted([USER_ITEM, CONFLICT].repeat(4));
    let error = store.delete(id(), Precondition::None).await.unwrap_err();
    // Not Unavailable: the breaker must not count one busy user against every other user.
    assert!(matches!(error, StoreError::Contended { .. }), "{error:?}");
    assert_eq!(asked(&log).len(), 8, "four rounds of read and transaction");
}

/// A single-item write meeting a transaction on its item (the SDK does not retry it).
const CONFLICT_EXCEPTION: Answer = (
    400,
    r#"{"__type": "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
        "message": "Transaction is ongoing for the item"}"#,
);

#[tokio::test]
async fn a_transaction_conflict_exception_is_contention_not_unavailability() {
    let (store, _) = scripted(vec![CONFLICT_EXCEPTION]);
    let error = store.get(id()).await.unwrap_err();
    assert!(matches!(error, StoreError::Contended { .. }), "{error:?}");
}

/// The user at version 2 with the new address, as a twin of this change left it.
const USER_MOVED_TO_NEW: Answer = (
    200,
    r#"{"Item": {"pk": {"S": "USER#1"}, "sk": {"N": "1"}, "name": {"S": "Ada"},
        "email": {"S": "new@example.com"}, "email_key": {"S": "new@example.com"},
        "age": {"N": "36"}, "version": {"N": "2"}}}"#,
);

/// DynamoDB's cancellation of an email change whose twin committed first: the user's version
/// moved, the old claim is gone, and the new claim is there, held by this very user.
const TWIN_COMMITTED_FIRST: Answer = (
    400,
    r#"{"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, ConditionalCheckFailed, ConditionalCheckFailed]",
        "CancellationReasons": [
          {"Code": "ConditionalCheckFailed", "Item": {"pk": {"S": "USER#1"}, "sk": {"N": "1"}, "name": {"S": "Ada"},
            "email": {"S": "new@example.com"}, "email_key": {"S": "new@example.com"}, "age": {"N": "36"}, "version": {"N": "2"},
            "write_token": {"S": "another"}}},
          {"Code": "ConditionalCheckFailed"},
          {"Code": "ConditionalCheckFailed", "Item": {"pk": {"S": "EMAIL#new@example.com"}, "sk": {"N": "0"}, "user_id": {"N": "1"}}}]}"#,
);

/// The new claim held by user 2, the user's own condition holding.
const CLAIM_HELD_BY_ANOTHER: Answer = (
    400,
    r#"{"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [None, None, ConditionalCheckFailed]",
        "CancellationReasons": [{"Code": "None"}, {"Code": "None"},
          {"Code": "ConditionalCheckFailed", "Item": {"pk": {"S": "EMAIL#new@example.com"}, "sk": {"N": "0"}, "user_id": {"N": "2"}}}]}"#,
);

fn new_email() -> UserChanges {
    UserChanges {
        email: Some("new@example.com".into()),
        ..UserChanges::default()
    }
}

#[tokio::test]
async fn an_email_change_whose_twin_committed_first_is_read_again_not_taken() {
    let (store, log) = scripted(vec![
        USER_ITEM,
        TWIN_COMMITTED_FIRST,
        USER_MOVED_TO_NEW,
        COMMITTED,
    ]);
    let user = store
        .update(id(), new_email(), Precondition::None)
        .await
        .expect("the user's own new address is not taken");
    assert_eq!((user.email.as_str(), user.version), ("new@example.com", 3));
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
async fn a_stale_if_match_on_an_email_change_is_412_even_when_the_claim_is_held() {
    let (store, _) = scripted(vec![USER_ITEM, TWIN_COMMITTED_FIRST]);
    let error = store
        .update(id(), new_email(), Precondition::Version(1))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::PreconditionFailed), "{error:?}");
}

#[tokio::test]
async fn an_address_held_by_another_user_is_taken() {
    let (store, _) = scripted(vec![USER_ITEM, CLAIM_HELD_BY_ANOTHER]);
    let error = store
        .update(id(), new_email(), Precondition::None)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::EmailTaken), "{error:?}");
}

#[tokio::test]
async fn server_errors_are_transient_and_a_missing_table_is_not() {
    let (store, _) = scripted(vec![SERVER_ERROR, NO_TABLE]);
    let error = store.get(id()).await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    let error = store.get(id()).await.unwrap_err();
    assert!(matches!(error, StoreError::Internal(_)), "{error:?}");
}

#[test]
fn a_throttled_read_is_throttled_and_counted() {
    let ((), counters) = recorded(|| async {
        let (store, _) = scripted(vec![THROTTLED, USER_ITEM]);
        let error = store.get(id()).await.unwrap_err();
        assert!(matches!(error, StoreError::Throttled { .. }), "{error:?}");
        assert!(store.get(id()).await.unwrap().is_some());
    });
    assert_eq!(
        moved(&counters, "dynamodb_throttles_total"),
        [(vec![], 1)],
        "one throttled call, one counted"
    );
}

fn ada() -> NewUser {
    NewUser {
        name: "Ada".into(),
        email: "ada@example.com".into(),
        age: 36,
    }
}

/// The email claim is throttled: the create is sent again (nothing was written) and succeeds,
/// never a 409 for an email nobody has.
#[tokio::test]
async fn a_create_whose_claim_was_throttled_is_sent_again() {
    let (store, log) = scripted(vec![ID_BLOCK, CLAIM_THROTTLED, CLAIM_THROTTLED, COMMITTED]);
    let created = store.create_idempotent(ada(), None).await.unwrap();
    assert!(matches!(created, Created::New(_)), "{created:?}");
    assert_eq!(
        asked(&log),
        [
            "UpdateItem",
            "TransactWriteItems",
            "TransactWriteItems",
            "TransactWriteItems"
        ]
    );
}

/// Throttled every time: the store gives up after its rounds with `Throttled` (a 503 with
/// Retry-After to the client), counted once, never `EmailTaken` or an internal error.
#[test]
fn a_create_throttled_to_the_end_is_throttled_not_a_taken_email() {
    let ((), counters) = recorded(|| async {
        let mut answers = vec![ID_BLOCK];
        answers.extend([CLAIM_THROTTLED].repeat(4));
        let (store, log) = scripted(answers);
        let error = store.create_idempotent(ada(), None).await.unwrap_err();
        assert!(matches!(error, StoreError::Throttled { .. }), "{error:?}");
        assert_eq!(asked(&log).len(), 5, "the counter, then four rounds");
    });
    assert_eq!(moved(&counters, "dynamodb_throttles_total"), [(vec![], 1)]);
}

/// An email change whose user item is throttled is not a lost race (read again) nor a
/// precondition failure: the same transaction goes again, then ends as `Throttled`.
#[tokio::test]
async fn an_email_change_throttled_to_the_end_is_throttled() {
    let mut answers = vec![USER_ITEM];
    answers.extend([USER_THROTTLED].repeat(4));
    let (store, log) = scripted(answers);
    let changes = UserChanges {
        email: Some("grace@example.com".into()),
        ..UserChanges::default()
    };
    let error = store
        .update(id(), changes, Precondition::Version(1))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Throttled { .. }), "{error:?}");
    assert_eq!(
        asked(&log),
        ["GetItem"]
            .into_iter()
            .chain(["TransactWriteItems"; 4])
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_delete_throttled_to_the_end_is_throttled() {
    let mut answers = vec![USER_ITEM];
    answers.extend([CLAIM_THROTTLED].repeat(4));
    let (store, _) = scripted(answers);
    let error = store.delete(id(), Precondition::None).await.unwrap_err();
    assert!(matches!(error, StoreError::Throttled { .. }), "{error:?}");
}
