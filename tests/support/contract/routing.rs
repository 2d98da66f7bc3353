//! Contract cases: Routing.

use super::*;

pub async fn unknown_routes_are_404(target: &impl Target) {
    for path in ["/", "/user", "/users/1/friends", "/health-check", "/USERS"] {
        assert_error(&get(target, path).await, 404, "route_not_found");
    }
}

pub async fn wrong_methods_are_405_with_allow(target: &impl Target) {
    let collection = target
        .send(TestRequest::new(Method::DELETE, "/users"))
        .await;
    assert_error(&collection, 405, "method_not_allowed");
    assert_eq!(collection.header("allow"), Some("POST, GET"));
    let item = target
        .send(TestRequest::new(Method::POST, "/users/1"))
        .await;
    assert_error(&item, 405, "method_not_allowed");
    assert_eq!(item.header("allow"), Some("GET, PATCH, PUT, DELETE"));
}

pub async fn ids_increase(target: &impl Target) {
    let mut last = 0;
    for i in 0..5 {
        let id = create(target, "Counter", &format!("c{i}@example.com"), 1).await["id"]
            .as_u64()
            .unwrap();
        assert!(id > last, "{id} after {last}");
        last = id;
    }
}
