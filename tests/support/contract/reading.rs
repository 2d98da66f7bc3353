//! Contract cases: Get.

use super::*;

pub async fn get_returns_the_user_or_404(target: &impl Target) {
    let user = create(target, "Readable", "read@example.com", 44).await;
    let reply = get(target, &format!("/users/{}", user["id"])).await;
    assert_eq!(reply.status, 200);
    assert_json(&reply);
    assert_eq!(reply.json(), json!({"user": user}));
    let missing = get(
        target,
        &format!("/users/{}", user["id"].as_u64().unwrap() + 1000),
    )
    .await;
    assert_error(&missing, 404, "user_not_found");
}

pub async fn bad_ids_are_400_on_every_item_route(target: &impl Target) {
    let user = create(target, "Kept", "kept@example.com", 9).await;
    for id in [
        "abc",
        "0",
        "-1",
        "1.5",
        "+1",
        "1e3",
        "18446744073709551616",
        "0x1",
    ] {
        every_item_route_refuses_the_id(target, id).await;
    }
    assert_eq!(all_users(target).await, vec![user]);
}

pub async fn percent_encoded_ids_are_400(target: &impl Target) {
    let user = create(target, "Kept", "kept@example.com", 9).await;
    // "%31" is "1" encoded: an id is digits as sent, never decoded into one.
    for id in ["%20", "%31"] {
        every_item_route_refuses_the_id(target, id).await;
    }
    assert_eq!(all_users(target).await, vec![user]);
}

/// Every item route answers `400 invalid_argument` to `/users/<id>`.
async fn every_item_route_refuses_the_id(target: &impl Target, id: &str) {
    let path = format!("/users/{id}");
    for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
        let mut request = TestRequest::new(method.clone(), &path);
        if method == Method::PUT || method == Method::PATCH {
            request = request.json(&json!({"age": 10}));
        }
        assert_error(&target.send(request).await, 400, "invalid_argument");
    }
}
