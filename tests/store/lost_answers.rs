//! Writes whose answer is lost after DynamoDB applied them: the SDK sends the same request again,
//! and the store must answer it as the write it was, never as its own conflict (a false 409 for
//! the user's own email, a false 412 for its own version bump, a second version bump), and no 503
//! when the retry fits the budget. A [`LossyHop`] between the store and the DynamoDB test server
//! forwards each chosen write, lets the server apply it, and drops (or delays) its answer once.
//!
//! Every write is a transaction. The test server honours transactions' `ClientRequestToken` as
//! DynamoDB documents (`scripts/dynamodb_test_server.py`); where a server does not, the store
//! recognises its own applied write by the write token it leaves on the item.

use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use http::Method;
use integration_tests::dynamo::{
    OwnServer, as_pairs, assert_users_and_claims_agree, client_for, endpoint, fresh_table,
    process_env, unique_table,
};
use integration_tests::lossy_hop::{Loss, LossyHop, Rule};
use integration_tests::processes::LocalApi;
use integration_tests::{Target, TestRequest};
use serde_json::json;
use shared::domain::{NewUser, Precondition, UserChanges};
use shared::store::dynamodb::schema;
use shared::store::{
    Created, DynamoStore, IdempotentCreate, StoreCreate, StoreDelete, StoreGet, StoreUpdate,
};

const TRANSACTION: &str = "TransactWriteItems";

/// An attempt times out after this long: what the functions' defaults give each of their three
/// attempts (STORE_TIMEOUT_MS 3000 / DYNAMODB_MAX_ATTEMPTS 3).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

fn once(kind: &'static str, loss: Loss) -> Vec<Rule> {
    vec![Rule {
        kind,
        count: 1,
        loss,
    }]
}

/// A hop to the test server that loses nothing yet.
async fn hop() -> LossyHop {
    hop_to(&endpoint()).await
}

async fn hop_to(server: &str) -> LossyHop {
    LossyHop::start(server.trim_start_matches("http://"), Vec::new()).await
}

/// A store on a fresh table of the test server, reaching it through `hop` with the functions'
/// retry settings (three attempts, each bounded).
async fn store_behind(hop: &LossyHop) -> (DynamoStore, String) {
    store_on(hop, fresh_table("lost").await)
}

fn store_on(hop: &LossyHop, table: String) -> (DynamoStore, String) {
    let config = client_for(&hop.endpoint())
        .config()
        .to_builder()
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), &table, 50);
    (store, table)
}

fn ada() -> NewUser {
    NewUser {
        name: "Ada".into(),
        email: "ada@example.com".into(),
        age: 36,
    }
}

fn age(age: u8) -> UserChanges {
    UserChanges {
        age: Some(age),
        ..Default::default()
    }
}

fn email(address: &str) -> UserChanges {
    UserChanges {
        email: Some(address.into()),
        ..Default::default()
    }
}

/// Asserts that `kind`'s answer was lost once and the request reached the server again.
fn assert_lost_and_resent(hop: &LossyHop, kind: &str, before: usize) {
    assert_eq!(hop.lost(kind), 1, "{kind}: one answer lost");
    assert!(
        hop.seen(kind) - before >= 2,
        "{kind}: the SDK sent the request again ({} sent)",
        hop.seen(kind) - before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_is_lost_creates_one_user_and_says_so() {
    for loss in [Loss::Drop, Loss::Delay(ATTEMPT_TIMEOUT * 2)] {
        let hop = hop().await;
        let (store, table) = store_behind(&hop).await;
        hop.set_rules(once(TRANSACTION, loss));
        let created = store.create(ada()).await.expect("created, not email_taken");
        assert_lost_and_resent(&hop, TRANSACTION, 0);
        assert_eq!(created.version, 1);
        assert_eq!(store.get(created.id).await.unwrap(), Some(created));
        assert_eq!(assert_users_and_claims_agree(&table).await, 1, "{loss:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_create_whose_answer_is_lost_is_new_then_replayed() {
    let hop = hop().await;
    let (store, table) = store_behind(&hop).await;
    hop.set_rules(once(TRANSACTION, Loss::Drop));
    let request = || IdempotentCreate {
        key: format!("{:064x}", 1),
        fingerprint: format!("{:064x}", 2),
        now: 1_000,
        expires_at: 90_000,
    };
    let first = store.create_idempotent(ada(), Some(request())).await;
    let Ok(Created::New(user)) = first else {
        panic!("the first answer is the new user: {first:?}");
    };
    assert_lost_and_resent(&hop, TRANSACTION, 0);
    let again = store.create_idempotent(ada(), Some(request())).await;
    assert!(
        matches!(again, Ok(Created::Replayed(ref u)) if *u == user),
        "{again:?}"
    );
    assert_eq!(assert_users_and_claims_agree(&table).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_whose_answer_is_lost_applies_once() {
    let cases = [
        (age(40), Precondition::None, Loss::Drop, TRANSACTION),
        (age(41), Precondition::Version(1), Loss::Drop, TRANSACTION),
        (
            age(42),
            Precondition::Version(1),
            Loss::Delay(ATTEMPT_TIMEOUT * 2),
            TRANSACTION,
        ),
        (age(43), Precondition::Exists, Loss::Drop, TRANSACTION),
        (
            email("lovelace@example.com"),
            Precondition::None,
            Loss::Drop,
            TRANSACTION,
        ),
        (
            email("lovelace@example.com"),
            Precondition::Version(1),
            Loss::Drop,
            TRANSACTION,
        ),
        (
            email("lovelace@example.com"),
            Precondition::Version(1),
            Loss::Delay(ATTEMPT_TIMEOUT * 2),
            TRANSACTION,
        ),
    ];
    for (changes, precondition, loss, kind) in cases {
        let hop = hop().await;
        let (store, table) = store_behind(&hop).await;
        let user = store.create(ada()).await.unwrap();
        let before = hop.seen(kind);
        hop.set_rules(once(kind, loss));
        let case = format!("{changes:?} {precondition:?} {loss:?}");
        let updated = store
            .update(user.id, changes.clone(), precondition)
            .await
            .unwrap_or_else(|e| panic!("{case}: {e:?}"));
        assert_lost_and_resent(&hop, kind, before);
        assert_eq!(updated.version, 2, "{case}: one version bump");
        let mut expected = user.clone();
        changes.apply_to(&mut expected);
        expected.version = 2;
        assert_eq!(updated, expected, "{case}");
        assert_eq!(store.get(user.id).await.unwrap(), Some(expected), "{case}");
        assert_eq!(assert_users_and_claims_agree(&table).await, 1, "{case}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_whose_answer_is_lost_deletes_and_says_so() {
    for (precondition, loss) in [
        (Precondition::None, Loss::Drop),
        (Precondition::Version(1), Loss::Drop),
        (Precondition::Exists, Loss::Delay(ATTEMPT_TIMEOUT * 2)),
    ] {
        let hop = hop().await;
        let (store, table) = store_behind(&hop).await;
        let user = store.create(ada()).await.unwrap();
        let before = hop.seen(TRANSACTION);
        hop.set_rules(once(TRANSACTION, loss));
        store
            .delete(user.id, precondition)
            .await
            .unwrap_or_else(|e| panic!("{precondition:?} {loss:?}: {e:?}"));
        assert_lost_and_resent(&hop, TRANSACTION, before);
        assert_eq!(store.get(user.id).await.unwrap(), None);
        assert_eq!(assert_users_and_claims_agree(&table).await, 0);
        // The email is free again.
        store.create(ada()).await.unwrap();
    }
}

/// On a server that ignores request tokens (moto itself; DynamoDB after its 10-minute window), a
/// repeated transaction is evaluated again and cancelled by its own writes: the store still
/// recognises its own create and email change by the write token on the user's item. (A repeated
/// delete leaves no item to recognise: there the request token is all there is.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_request_tokens_a_repeated_create_or_email_change_is_recognised_by_its_item() {
    let server = OwnServer::start_ignoring_request_tokens().await;
    let hop = hop_to(&server.endpoint()).await;
    let table = unique_table("untokened");
    schema::create_table(&client_for(&server.endpoint()), &table)
        .await
        .expect("create the table");
    let (store, _) = store_on(&hop, table);

    hop.set_rules(once(TRANSACTION, Loss::Drop));
    let user = store.create(ada()).await.expect("created, not email_taken");
    assert_lost_and_resent(&hop, TRANSACTION, 0);
    assert_eq!(user.version, 1);

    let before = hop.seen(TRANSACTION);
    hop.set_rules(once(TRANSACTION, Loss::Drop));
    let moved = store
        .update(
            user.id,
            email("lovelace@example.com"),
            Precondition::Version(1),
        )
        .await
        .expect("updated, not precondition_failed");
    assert_eq!(hop.lost(TRANSACTION), 2);
    assert!(hop.seen(TRANSACTION) - before >= 2);
    assert_eq!(
        (moved.version, moved.email.as_str()),
        (2, "lovelace@example.com")
    );
    assert_eq!(store.get(user.id).await.unwrap(), Some(moved));
}

/// The same through HTTP: `local-api` with the functions' default retry settings, its DynamoDB
/// endpoint the hop, answers each write whose DynamoDB answer was lost as that write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_a_write_whose_store_answer_is_lost_gets_its_own_answer() {
    let hop = hop().await;
    let table = fresh_table("lost-http").await;
    let mut env = process_env(&table);
    for (name, value) in &mut env {
        if *name == "AWS_ENDPOINT_URL" {
            *value = hop.endpoint();
        }
    }
    let api = LocalApi::start(&as_pairs(&env)).await;
    // Each write with the loss its DynamoDB call meets, and the status its caller must get.
    let send = |rules: Vec<Rule>, request: TestRequest, status: u16| {
        let (api, hop) = (&api, &hop);
        async move {
            hop.set_rules(rules);
            let described = format!("{} {}", request.method, request.target);
            let reply = api.send(request).await;
            let body = String::from_utf8_lossy(&reply.body).into_owned();
            assert_eq!(reply.status, status, "{described}: {body}");
            reply
        }
    };

    let ada = json!({"name": "Ada", "email": "ada@example.com"});
    let created = send(
        once(TRANSACTION, Loss::Drop),
        TestRequest::new(Method::POST, "/users").json(&ada),
        201,
    )
    .await;
    let item = format!("/users/{}", created.json()["user"]["id"]);
    let aged = send(
        once(TRANSACTION, Loss::Delay(ATTEMPT_TIMEOUT * 2)),
        TestRequest::new(Method::PUT, &item)
            .header("if-match", "\"1\"")
            .json(&json!({"age": 37})),
        200,
    )
    .await;
    assert_eq!(aged.header("etag"), Some("\"2\""));
    let moved = send(
        once(TRANSACTION, Loss::Drop),
        TestRequest::new(Method::PATCH, &item)
            .header("if-match", "\"2\"")
            .json(&json!({"email": "lovelace@example.com"})),
        200,
    )
    .await;
    assert_eq!(moved.header("etag"), Some("\"3\""));
    assert_eq!(moved.json()["user"]["email"], "lovelace@example.com");
    send(
        once(TRANSACTION, Loss::Drop),
        TestRequest::new(Method::DELETE, &item).header("if-match", "\"3\""),
        204,
    )
    .await;
    assert_eq!(hop.lost(TRANSACTION), 4);
    assert_eq!(assert_users_and_claims_agree(&table).await, 0);
}
