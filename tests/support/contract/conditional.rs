//! Contract cases: versions as ETags, If-Match and If-None-Match.

use super::*;

pub async fn responses_carry_the_version_as_etag_and_get_honours_if_none_match(
    target: &impl Target,
) {
    let created = post(target, json!({"name": "Ann", "email": "ann@example.com"})).await;
    assert_eq!(created.header("etag"), Some("\"1\""));
    let path = format!("/users/{}", created.json()["user"]["id"]);
    assert_eq!(get(target, &path).await.header("etag"), Some("\"1\""));
    let fresh = send_with(target, Method::GET, &path, ("If-None-Match", "\"1\""), None).await;
    assert_eq!(fresh.status, 304);
    assert_eq!(fresh.header("etag"), Some("\"1\""));
    assert!(fresh.body.is_empty(), "a 304 has no body");
    let changed = send_with(
        target,
        Method::PATCH,
        &path,
        ("If-Match", "\"1\""),
        Some(json!({"age": 40})),
    )
    .await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.header("etag"), Some("\"2\""));
    // The client's copy is now stale: the full user comes back.
    let stale = send_with(target, Method::GET, &path, ("If-None-Match", "\"1\""), None).await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.json()["user"]["age"], 40);
    assert_eq!(stale.header("etag"), Some("\"2\""));
}

pub async fn if_match_prevents_the_lost_update(target: &impl Target) {
    let ann = create(target, "Ann", "ann@example.com", 30).await;
    let path = format!("/users/{}", ann["id"]);
    // Two clients read version 1 and both write conditionally on it.
    let first = send_with(
        target,
        Method::PUT,
        &path,
        ("If-Match", "\"1\""),
        Some(json!({"age": 31})),
    )
    .await;
    assert_eq!(first.status, 200);
    let second = send_with(
        target,
        Method::PUT,
        &path,
        ("If-Match", "\"1\""),
        Some(json!({"name": "Loser", "email": "loser@example.com"})),
    )
    .await;
    assert_error(&second, 412, "precondition_failed");
    let now = get(target, &path).await;
    assert_eq!(
        now.json()["user"],
        json!({"id": ann["id"], "name": "Ann", "email": "ann@example.com", "age": 31})
    );
    // The loser's email was not claimed.
    create(target, "Free", "loser@example.com", 1).await;
    // A stale delete is refused too, and the user stays.
    let delete = send_with(target, Method::DELETE, &path, ("If-Match", "\"1\""), None).await;
    assert_error(&delete, 412, "precondition_failed");
    assert_eq!(get(target, &path).await.status, 200);
    let delete = send_with(target, Method::DELETE, &path, ("If-Match", "\"2\""), None).await;
    assert_eq!(delete.status, 204);
}

pub async fn listed_versions_are_the_etags_and_serve_if_match(target: &impl Target) {
    let ann = create(target, "Ann", "ann@example.com", 30).await;
    let bob = create(target, "Bob", "bob@example.com", 40).await;
    let ann_path = format!("/users/{}", ann["id"]);
    for age in [31, 32] {
        let request = TestRequest::new(Method::PATCH, &ann_path).json(&json!({"age": age}));
        assert_eq!(target.send(request).await.status, 200);
    }
    let page = get(target, "/users").await.json();
    let versions = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| (user["id"].clone(), user["version"].clone()))
        .collect::<Vec<_>>();
    assert_eq!(
        versions,
        vec![(ann["id"].clone(), json!(3)), (bob["id"].clone(), json!(1))]
    );
    assert_eq!(get(target, &ann_path).await.header("etag"), Some("\"3\""));
    // List, then write each user conditionally on its listed version: no GET in between.
    for user in page["users"].as_array().unwrap() {
        let tag = format!("\"{}\"", user["version"]);
        let path = format!("/users/{}", user["id"]);
        let reply = send_with(
            target,
            Method::PATCH,
            &path,
            ("If-Match", &tag),
            Some(json!({"age": 50})),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.json());
        let stale = send_with(
            target,
            Method::PATCH,
            &path,
            ("If-Match", &tag),
            Some(json!({"age": 51})),
        )
        .await;
        assert_error(&stale, 412, "precondition_failed");
    }
}

pub async fn if_match_on_a_missing_user_or_malformed_is_refused(target: &impl Target) {
    for (method, body) in [
        (Method::PUT, Some(json!({"age": 1}))),
        (Method::DELETE, None),
    ] {
        let reply = send_with(
            target,
            method.clone(),
            "/users/999999",
            ("If-Match", "*"),
            body.clone(),
        )
        .await;
        assert_error(&reply, 412, "precondition_failed");
        let ann = create(target, "Ann", &format!("{method}@example.com"), 1).await;
        let path = format!("/users/{}", ann["id"]);
        for malformed in ["1", "\"1", "\"1\", \"2\""] {
            let reply = send_with(
                target,
                method.clone(),
                &path,
                ("If-Match", malformed),
                body.clone(),
            )
            .await;
            assert_error(&reply, 400, "invalid_argument");
        }
        // If-Match: * on an existing user is an ordinary write.
        let reply = send_with(target, method.clone(), &path, ("If-Match", "*"), body).await;
        assert!(
            reply.status == 200 || reply.status == 204,
            "{}",
            reply.status
        );
    }
}
