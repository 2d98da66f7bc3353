//! Contract cases: Idempotency-Key on create.

use super::*;

pub async fn an_idempotency_key_makes_a_create_safe_to_retry(target: &impl Target) {
    let ann = json!({"name": "Ann", "email": "ann@example.com", "age": 30});
    let key = ("Idempotency-Key", "order-7f3a");
    let first = send_with(target, Method::POST, "/users", key, Some(ann.clone())).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), None);
    // The response was lost; the client sends the same request again.
    let again = send_with(target, Method::POST, "/users", key, Some(ann.clone())).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json(), first.json());
    for header in ["location", "etag", "content-type"] {
        assert_eq!(again.header(header), first.header(header), "{header}");
    }
    // The same key for a different request is refused, and creates nothing.
    let bob = json!({"name": "Bob", "email": "bob@example.com"});
    let reused = send_with(target, Method::POST, "/users", key, Some(bob.clone())).await;
    assert_error(&reused, 422, "idempotency_key_reused");
    assert_eq!(all_users(target).await, vec![first.json()["user"].clone()]);
    // Without a key, the same request is a new create (here: a taken email).
    assert_error(&post(target, ann).await, 409, "email_taken");
    for bad in ["", "   ", &"k".repeat(256)] {
        let reply = send_with(
            target,
            Method::POST,
            "/users",
            ("Idempotency-Key", bad),
            Some(bob.clone()),
        )
        .await;
        assert_error(&reply, 400, "invalid_argument");
    }
    // A quoted key (the draft's structured-field string) is the same key.
    let quoted = ("Idempotency-Key", "\"order-7f3a\"");
    let replay = send_with(
        target,
        Method::POST,
        "/users",
        quoted,
        Some(json!({"name": "Ann", "email": "ann@example.com", "age": 30})),
    )
    .await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
}
