//! Contract cases: Update.

use super::*;

pub(crate) async fn update(target: &impl Target, method: Method, id: &Value, body: Value) -> Reply {
    target
        .send(TestRequest::new(method, format!("/users/{id}")).json(&body))
        .await
}

pub async fn put_changes_only_present_fields(target: &impl Target) {
    let user = create(target, "Before", "before@example.com", 20).await;
    let id = &user["id"];
    let reply = update(target, Method::PUT, id, json!({"age": 21})).await;
    assert_eq!(reply.status, 200);
    assert_json(&reply);
    let expected = json!({"id": id, "name": "Before", "email": "before@example.com", "age": 21});
    assert_eq!(reply.json(), json!({"user": expected}));

    let reply = update(
        target,
        Method::PUT,
        id,
        json!({"name": " After ", "email": "after@example.com"}),
    )
    .await;
    let expected = json!({"id": id, "name": "After", "email": "after@example.com", "age": 21});
    assert_eq!(reply.json()["user"], expected);
    assert_eq!(
        get(target, &format!("/users/{id}")).await.json()["user"],
        expected
    );
    // The old email is free again; the new one is taken.
    create(target, "Reuse", "before@example.com", 1).await;
    assert_error(
        &post(target, json!({"name": "X", "email": "AFTER@example.com"})).await,
        409,
        "email_taken",
    );
}

pub async fn patch_is_an_alias_of_put(target: &impl Target) {
    let user = create(target, "Patchy", "patchy@example.com", 50).await;
    let reply = update(
        target,
        Method::PATCH,
        &user["id"],
        json!({"name": "Patched"}),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["user"]["name"], "Patched");
    assert_eq!(reply.json()["user"]["age"], 50);
}

pub async fn invalid_updates_are_400_and_change_nothing(target: &impl Target) {
    let user = create(target, "Stable", "stable@example.com", 33).await;
    for body in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "x".repeat(101)}),
        json!({"email": "nope"}),
        json!({"age": 151}),
        json!({"age": -3}),
        // One bad field spoils the whole update: the valid ones are not applied either.
        json!({"name": "Changed", "age": 200}),
        json!({"age": 40, "email": "bad@"}),
    ] {
        let reply = update(target, Method::PUT, &user["id"], body.clone()).await;
        assert_eq!(reply.status, 400, "{body} was accepted");
        assert_error(&reply, 400, "invalid_argument");
    }
    assert_eq!(all_users(target).await, vec![user]);
}

pub async fn update_to_a_taken_email_is_409(target: &impl Target) {
    let ann = create(target, "Ann", "ann@example.com", 1).await;
    let bob = create(target, "Bob", "bob@example.com", 2).await;
    let reply = update(
        target,
        Method::PUT,
        &bob["id"],
        json!({"email": "ANN@example.com", "age": 99}),
    )
    .await;
    assert_error(&reply, 409, "email_taken");
    assert_eq!(all_users(target).await, vec![ann.clone(), bob]);
    // Changing only the case of one's own email is not a conflict.
    let respelled = update(
        target,
        Method::PUT,
        &ann["id"],
        json!({"email": "Ann@Example.com"}),
    )
    .await;
    assert_eq!(respelled.status, 200);
    assert_eq!(respelled.json()["user"]["email"], "Ann@Example.com");
}

pub async fn update_of_a_missing_user_is_404(target: &impl Target) {
    let reply = update(target, Method::PUT, &json!(424242), json!({"age": 1})).await;
    assert_error(&reply, 404, "user_not_found");
    assert!(
        all_users(target).await.is_empty(),
        "an update never creates"
    );
}
