//! The HTTP contract through lambda_http's API Gateway (payload 2.0) event handling, in-process.

use http::Method;
use integration_tests::lambda_target::{
    LambdaTarget, event_for, invoke, reply_from_gateway_response,
};
use integration_tests::{TestRequest, contract_tests};
use serde_json::json;

contract_tests!(LambdaTarget::in_memory());

/// Behind IAM authorization, an idempotency key is the caller's own: another principal using the
/// same key creates its own user instead of replaying someone else's.
#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_iam_caller() {
    let target = LambdaTarget::in_memory();
    let create_as = |caller: &str, email: &str| {
        let request = TestRequest::new(Method::POST, "/users")
            .header("Idempotency-Key", "same-key")
            .json(&json!({"name": "Ann", "email": email}));
        let mut event = event_for(&request);
        event["requestContext"]["authorizer"] = json!({"iam": {
            "accountId": "123456789012",
            "callerId": "AIDAEXAMPLE",
            "userArn": format!("arn:aws:iam::123456789012:user/{caller}"),
        }});
        let api = target.api.clone();
        async move { reply_from_gateway_response(&invoke(&api, event).await) }
    };
    let alice = create_as("alice", "alice@example.com").await;
    assert_eq!(alice.status, 201);
    let bob = create_as("bob", "bob@example.com").await;
    assert_eq!(bob.status, 201);
    assert_eq!(bob.header("idempotent-replayed"), None);
    assert_ne!(bob.json()["user"]["id"], alice.json()["user"]["id"]);
    let alice_again = create_as("alice", "alice@example.com").await;
    assert_eq!(alice_again.header("idempotent-replayed"), Some("true"));
    assert_eq!(alice_again.json(), alice.json());
}
