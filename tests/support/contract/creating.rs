//! Contract cases: Create.

use super::*;

pub async fn create_returns_201_location_and_the_user(target: &impl Target) {
    let reply = post(
        target,
        json!({"name": "Ada Lovelace", "email": "ada@example.com", "age": 36}),
    )
    .await;
    assert_eq!(reply.status, 201);
    assert_json(&reply);
    let body = reply.json();
    let user = &body["user"];
    let id = user["id"].as_u64().expect("numeric id");
    assert!(id >= 1);
    assert_eq!(
        user,
        &json!({"id": id, "name": "Ada Lovelace", "email": "ada@example.com", "age": 36})
    );
    assert_eq!(
        body.as_object().unwrap().len(),
        1,
        "only the user envelope: {body}"
    );
    assert_eq!(
        reply.header("location"),
        Some(format!("/users/{id}").as_str())
    );
    let fetched = get(target, &format!("/users/{id}")).await;
    assert_eq!(fetched.json()["user"], *user);
}

pub async fn create_defaults_age_and_trims_fields(target: &impl Target) {
    let reply = post(
        target,
        json!({"name": "  Grace Hopper  ", "email": " Grace@Example.com\t"}),
    )
    .await;
    assert_eq!(reply.status, 201);
    let user = &reply.json()["user"];
    assert_eq!(user["name"], "Grace Hopper");
    assert_eq!(
        user["email"], "Grace@Example.com",
        "the user's spelling is kept"
    );
    assert_eq!(user["age"], 0);
}

pub async fn create_requires_name_and_email(target: &impl Target) {
    for body in [
        json!({"email": "a@example.com", "age": 3}),
        json!({"name": "A", "age": 3}),
        json!({}),
    ] {
        assert_error(&post(target, body).await, 400, "invalid_argument");
    }
    assert!(
        all_users(target).await.is_empty(),
        "failed creates leave nothing behind"
    );
}

pub async fn create_validates_every_field(target: &impl Target) {
    let long_email = format!("{}@{}.com", "a".repeat(64), "b".repeat(186));
    assert_eq!(long_email.chars().count(), 255);
    for body in [
        json!({"name": "", "email": "a@example.com"}),
        json!({"name": "   ", "email": "a@example.com"}),
        json!({"name": "a".repeat(101), "email": "a@example.com"}),
        json!({"name": "Ann\u{0007}", "email": "a@example.com"}),
        json!({"name": "Ann", "email": "not-an-email"}),
        json!({"name": "Ann", "email": "ann@"}),
        json!({"name": "Ann", "email": "Ann <ann@example.com>"}),
        json!({"name": "Ann", "email": long_email}),
        json!({"name": "Ann", "email": "a@example.com", "age": -1}),
        json!({"name": "Ann", "email": "a@example.com", "age": 151}),
        json!({"name": "Ann", "email": "a@example.com", "age": 4294967296u64}),
    ] {
        let reply = post(target, body.clone()).await;
        assert_eq!(reply.status, 400, "{body} was accepted");
        assert_error(&reply, 400, "invalid_argument");
    }
    assert!(all_users(target).await.is_empty());
    // The boundaries themselves are accepted.
    create(target, &"a".repeat(100), "edge@example.com", 150).await;
    create(target, "Zero", "zero@example.com", 0).await;
}

pub async fn create_counts_name_length_in_characters(target: &impl Target) {
    let name = "é".repeat(100); // 200 bytes, 100 characters
    let user = create(target, &name, "accent@example.com", 20).await;
    assert_eq!(user["name"], name);
    let too_long = post(
        target,
        json!({"name": "é".repeat(101), "email": "b@example.com"}),
    )
    .await;
    assert_error(&too_long, 400, "invalid_argument");
}

pub async fn wrong_types_and_malformed_json_are_400(target: &impl Target) {
    let user = create(target, "Typed", "typed@example.com", 30).await;
    let bad_bodies: [&[u8]; 11] = [
        br#"{"name": 12, "email": "x@example.com"}"#,
        br#"{"name": "X", "email": ["x@example.com"]}"#,
        br#"{"name": "X", "email": "x@example.com", "age": "30"}"#,
        br#"{"name": "X", "email": "x@example.com", "age": 30.5}"#,
        br#"{"name": "X", "email": "x@example.com", "age": null}"#,
        br#"{"name": "X", "email": "x@example.com", "admin": true}"#,
        br#"{"name": "X", "email": "x@example.com""#,
        br#"[{"name": "X", "email": "x@example.com"}]"#,
        b"name=X&email=x@example.com",
        b"",
        b"null",
    ];
    refused_as_invalid_json(target, user, &bad_bodies).await;
}

/// Sends each body as a create and as an update of `user`: each is `400 invalid_json`, and
/// nothing is created or changed.
pub(crate) async fn refused_as_invalid_json(target: &impl Target, user: Value, bodies: &[&[u8]]) {
    let item = format!("/users/{}", user["id"]);
    for body in bodies {
        let created = target
            .send(TestRequest::new(Method::POST, "/users").raw(*body))
            .await;
        assert_error(&created, 400, "invalid_json");
        let updated = target
            .send(TestRequest::new(Method::PUT, &item).raw(*body))
            .await;
        assert_error(&updated, 400, "invalid_json");
    }
    assert_eq!(
        all_users(target).await,
        vec![user],
        "nothing was created or changed"
    );
}

pub async fn bodies_that_are_not_utf8_are_400(target: &impl Target) {
    let user = create(target, "Bytes", "bytes@example.com", 30).await;
    let bodies: [&[u8]; 2] = [
        b"\xff\xfe{}",
        b"{\"name\": \"\xc3\x28\", \"email\": \"b@example.com\"}",
    ];
    refused_as_invalid_json(target, user, &bodies).await;
}

pub async fn duplicate_email_is_409_ignoring_case(target: &impl Target) {
    let first = create(target, "First", "Dup@Example.com", 1).await;
    for email in [
        "Dup@Example.com",
        "dup@example.com",
        "DUP@EXAMPLE.COM",
        "  dup@example.com ",
    ] {
        let reply = post(target, json!({"name": "Second", "email": email})).await;
        assert_error(&reply, 409, "email_taken");
    }
    assert_eq!(all_users(target).await, vec![first]);
}

pub async fn bodies_over_64_kib_are_413(target: &impl Target) {
    let padding = " ".repeat(64 * 1024);
    let body = format!(r#"{{"name": "Big", "email": "big@example.com"{padding}}}"#);
    let reply = target
        .send(TestRequest::new(Method::POST, "/users").raw(body.clone()))
        .await;
    assert_error(&reply, 413, "payload_too_large");
    let user = create(target, "Small", "small@example.com", 5).await;
    let item = format!("/users/{}", user["id"]);
    let update = target
        .send(TestRequest::new(Method::PUT, &item).raw(body))
        .await;
    assert_error(&update, 413, "payload_too_large");
    assert_eq!(all_users(target).await, vec![user]);
}
