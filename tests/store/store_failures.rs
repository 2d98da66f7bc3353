//! How store failures reach clients: 503 with Retry-After when the store is unavailable, 500
//! otherwise, and never a word of the underlying cause.

use std::sync::Arc;

use http::Method;
use integration_tests::contract::assert_error;
use integration_tests::faults::{Fault, FaultyStore};
use integration_tests::lambda_target::LambdaTarget;
use integration_tests::{Target, TestRequest};
use serde_json::json;
use shared::contract::Operation;

/// A valid request of each operation, each of which must reach the store.
fn every_operation() -> Vec<TestRequest> {
    Operation::ALL
        .map(|operation| {
            let path = operation.path().replace("{id}", "1");
            let request = TestRequest::new(operation.method(), path);
            match operation {
                Operation::CreateUser => {
                    request.json(&json!({"name": "Ann", "email": "ann@example.com"}))
                }
                Operation::UpdateUser => request.json(&json!({"age": 3})),
                Operation::FindUser => request.json(&json!({"email": "ann@example.com"})),
                Operation::GetUser | Operation::DeleteUser | Operation::ListUsers => request,
            }
        })
        .into()
}

/// A store that is down and one that throttles get the same answer: nothing was written, try
/// again after Retry-After. Never a 500, nor (for a throttled email claim) a 409.
#[tokio::test]
async fn an_unavailable_or_throttled_store_is_503_with_retry_after() {
    for fault in [Fault::Unavailable, Fault::Throttled] {
        let target = LambdaTarget::over(Arc::new(FaultyStore::failing(fault)));
        for request in every_operation() {
            let reply = target.send(request).await;
            assert_error(&reply, 503, "unavailable");
            assert_eq!(reply.header("retry-after"), Some("1"), "{fault:?}");
            assert!(!String::from_utf8_lossy(&reply.body).contains("Throttling"));
        }
    }
}

#[tokio::test]
async fn a_broken_store_is_500_with_a_generic_message() {
    let target = LambdaTarget::over(Arc::new(FaultyStore::failing(Fault::Internal)));
    for request in every_operation() {
        let reply = target.send(request).await;
        assert_error(&reply, 500, "internal");
        assert_eq!(reply.json()["error"], "internal error");
        assert!(!String::from_utf8_lossy(&reply.body).contains("arn:aws"));
    }
}

#[tokio::test]
async fn validation_still_comes_first_when_the_store_is_down() {
    let target = LambdaTarget::over(Arc::new(FaultyStore::failing(Fault::Unavailable)));
    let reply = target
        .send(TestRequest::new(Method::POST, "/users").json(&json!({"name": ""})))
        .await;
    assert_error(&reply, 400, "invalid_argument");
}

/// An idempotent create that fails leaves nothing behind, neither the user nor the key's record:
/// they are written in one step. The retry is a fresh create, not a replay of a phantom.
#[tokio::test]
async fn a_failed_idempotent_create_leaves_neither_user_nor_record() {
    let store = Arc::new(FaultyStore::failing(Fault::Unavailable));
    let target = LambdaTarget::over(store.clone());
    let create = || {
        target.send(
            TestRequest::new(Method::POST, "/users")
                .header("Idempotency-Key", "retry-me")
                .json(&json!({"name": "Ann", "email": "ann@example.com"})),
        )
    };
    assert_error(&create().await, 503, "unavailable");
    store.set(Fault::None);
    let retried = create().await;
    assert_eq!(retried.status, 201);
    assert_eq!(
        retried.header("idempotent-replayed"),
        None,
        "nothing to replay"
    );
    let again = create().await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json(), retried.json());
}
