//! Contract cases: Find by email.

use super::*;

const FIND: &str = "/users/find";

pub(crate) async fn find(target: &impl Target, body: &[u8]) -> Reply {
    target
        .send(TestRequest::new(Method::POST, FIND).raw(body.to_vec()))
        .await
}

/// Asserts a refusal that does not repeat the address it was sent.
fn assert_refused_without(reply: &Reply, status: u16, code: &str, address: &str) {
    assert_error(reply, status, code);
    let body = String::from_utf8_lossy(&reply.body).to_lowercase();
    assert!(
        !body.contains(address),
        "the answer repeats the address: {body}"
    );
}

pub async fn find_returns_the_user_and_its_etag_ignoring_case(target: &impl Target) {
    let ada = create(target, "Ada", "Ada@Example.com", 36).await;
    create(target, "Grace", "grace@example.com", 45).await;
    for spelling in ["Ada@Example.com", "ada@example.com", " ADA@EXAMPLE.COM "] {
        let reply = find(target, json!({ "email": spelling }).to_string().as_bytes()).await;
        assert_eq!(reply.status, 200, "{spelling}");
        assert_json(&reply);
        assert_eq!(reply.header("etag"), Some("\"1\""));
        assert_eq!(reply.json(), json!({ "user": ada }));
    }
}

pub async fn find_of_an_email_no_one_holds_is_404_and_does_not_repeat_it(target: &impl Target) {
    let ada = create(target, "Ada", "ada@example.com", 36).await;
    let reply = find(target, br#"{"email": "nobody@example.com"}"#).await;
    assert_refused_without(&reply, 404, "user_not_found", "nobody@example.com");
    // Once its holder moves away, the old address is no one's.
    let id = ada["id"].as_u64().unwrap();
    let moved = target
        .send(
            TestRequest::new(Method::PATCH, format!("/users/{id}"))
                .json(&json!({"email": "lovelace@example.com"})),
        )
        .await;
    assert_eq!(moved.status, 200);
    let reply = find(target, br#"{"email": "ada@example.com"}"#).await;
    assert_refused_without(&reply, 404, "user_not_found", "ada@example.com");
    let found = find(target, br#"{"email": "lovelace@example.com"}"#).await;
    assert_eq!(found.json()["user"]["id"], id);
}

pub async fn find_refuses_bad_bodies_without_repeating_the_address(target: &impl Target) {
    create(target, "Ada", "ada@example.com", 36).await;
    let address = "ada@example.com";
    let invalid_json: [&[u8]; 9] = [
        b"",
        b"null",
        br#"{}"#,
        br#"{"email": null}"#,
        br#"{"email": 5}"#,
        br#"{"email": ["ada@example.com"]}"#,
        br#"{"email": "ada@example.com", "name": "Ada"}"#,
        br#"[{"email": "ada@example.com"}]"#,
        b"email=ada@example.com",
    ];
    for body in invalid_json {
        assert_refused_without(&find(target, body).await, 400, "invalid_json", address);
    }
    for body in [
        br#"{"email": "ada@"}"#.as_slice(),
        br#"{"email": "Ada Lovelace <ada@example.com>"}"#,
        br#"{"email": ""}"#,
    ] {
        assert_refused_without(&find(target, body).await, 400, "invalid_argument", address);
    }
    let padding = " ".repeat(64 * 1024);
    let huge = format!(r#"{{"email": "{address}"{padding}}}"#);
    assert_refused_without(
        &find(target, huge.as_bytes()).await,
        413,
        "payload_too_large",
        address,
    );
}

pub async fn find_answers_post_only(target: &impl Target) {
    for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
        let reply = target.send(TestRequest::new(method, FIND)).await;
        assert_error(&reply, 405, "method_not_allowed");
        assert_eq!(reply.header("allow"), Some("POST"));
    }
}
