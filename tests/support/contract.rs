//! The HTTP contract of the users API as executable cases. Each case is generic over the
//! [`Target`] it runs against and starts from an empty store; [`contract_tests!`] turns the whole
//! list into `#[tokio::test]`s for one target, so every runtime is held to the same cases.

use std::collections::BTreeSet;

use http::Method;
use serde_json::{Value, json};

use crate::{Reply, Target, TestRequest};

/// Expands to one test per contract case, each on a fresh target built by `$make` (an async
/// expression). Listing the cases here keeps every target on the full contract.
///
/// `contract_tests!(in_order TARGET, RESET, except [CASE, ...])` instead runs the cases one after
/// another on one target (an expression of type `&impl Target`), awaiting `RESET` (an async
/// expression that empties its store) before each: for a target too costly to start per case.
/// The cases named after `except` are left out; each must be a case of the list, and the target's
/// tests say why it differs there.
#[macro_export]
macro_rules! contract_tests {
    ($make:expr) => {
        $crate::contract_tests!(@list (@tests $make));
    };
    (in_order $target:expr, $reset:expr, except [$($left_out:ident),* $(,)?]) => {
        $crate::contract_tests!(@list (@in_order $target, $reset, [$($left_out),*]))
    };
    (@list ($($mode:tt)*)) => {
        $crate::contract_tests! { $($mode)*;
            create_returns_201_location_and_the_user,
            create_defaults_age_and_trims_fields,
            create_requires_name_and_email,
            create_validates_every_field,
            create_counts_name_length_in_characters,
            wrong_types_and_malformed_json_are_400,
            bodies_that_are_not_utf8_are_400,
            duplicate_email_is_409_ignoring_case,
            bodies_over_64_kib_are_413,
            get_returns_the_user_or_404,
            bad_ids_are_400_on_every_item_route,
            percent_encoded_ids_are_400,
            put_changes_only_present_fields,
            patch_is_an_alias_of_put,
            invalid_updates_are_400_and_change_nothing,
            update_to_a_taken_email_is_409,
            update_of_a_missing_user_is_404,
            delete_is_204_then_404_and_frees_the_email,
            list_defaults_to_page_1_limit_10_in_id_order,
            list_pages_by_number_and_limit,
            list_rejects_bad_parameters,
            offset_pages_stop_at_10000_skipped_users,
            responses_carry_the_version_as_etag_and_get_honours_if_none_match,
            if_match_prevents_the_lost_update,
            listed_versions_are_the_etags_and_serve_if_match,
            if_match_on_a_missing_user_or_malformed_is_refused,
            an_idempotency_key_makes_a_create_safe_to_retry,
            cursor_walk_sees_every_stable_user_once_despite_churn,
            unknown_routes_are_404,
            wrong_methods_are_405_with_allow,
            ids_increase,
        }
    };
    (@tests $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let target = $make;
                $crate::contract::$case(&target).await;
            }
        )*
    };
    (@in_order $target:expr, $reset:expr, [$($left_out:ident),*]; $($case:ident),* $(,)?) => {{
        let cases: &[&str] = &[$(stringify!($case)),*];
        let left_out: &[&str] = &[$(stringify!($left_out)),*];
        for name in left_out {
            assert!(cases.contains(name), "{name} is not a contract case");
        }
        let mut ran = 0;
        $(
            if !left_out.contains(&stringify!($case)) {
                $reset.await;
                eprintln!("contract case {}", stringify!($case));
                $crate::contract::$case($target).await;
                ran += 1;
            }
        )*
        assert_eq!(ran, cases.len() - left_out.len());
        ran
    }};
}

// ---- helpers -------------------------------------------------------------------------------

pub async fn post(target: &impl Target, body: Value) -> Reply {
    target
        .send(TestRequest::new(Method::POST, "/users").json(&body))
        .await
}

pub async fn get(target: &impl Target, path: &str) -> Reply {
    target.send(TestRequest::new(Method::GET, path)).await
}

/// Creates a user that must be accepted and returns its JSON.
pub async fn create(target: &impl Target, name: &str, email: &str, age: u64) -> Value {
    let reply = post(target, json!({"name": name, "email": email, "age": age})).await;
    assert_eq!(
        reply.status,
        201,
        "create {email}: {:?}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["user"].clone()
}

/// Asserts a contract error: status, `code`, a non-empty message, JSON content type, and nothing
/// beyond `error` and `code` in the body (no internals leak).
pub fn assert_error(reply: &Reply, status: u16, code: &str) {
    let body = reply.json();
    assert_eq!(reply.status, status, "expected {status} {code}, got {body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(2),
        "only error and code: {body}"
    );
    assert_json(reply);
}

pub fn assert_json(reply: &Reply) {
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

/// A page's users as a single user's body shows them: each listed user carries its version
/// (checked here to be one), which a single user's answer carries as its `ETag` instead.
pub fn listed_users(page: &Value) -> Vec<Value> {
    let users = page["users"].as_array().expect("a page has users");
    users
        .iter()
        .map(|user| {
            let mut user = user.clone();
            let version = user.as_object_mut().and_then(|u| u.remove("version"));
            assert!(
                version
                    .as_ref()
                    .and_then(Value::as_u64)
                    .is_some_and(|v| v >= 1),
                "a listed user carries its version: {version:?}"
            );
            user
        })
        .collect()
}

/// Every user in the store, by walking cursors from the first page.
pub async fn all_users(target: &impl Target) -> Vec<Value> {
    let mut users = Vec::new();
    let mut path = "/users?limit=100".to_owned();
    loop {
        let reply = get(target, &path).await;
        assert_eq!(reply.status, 200);
        let body = reply.json();
        users.extend(listed_users(&body));
        match body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/users?limit=100&cursor={cursor}"),
            None => return users,
        }
    }
}

// ---- create --------------------------------------------------------------------------------

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
async fn refused_as_invalid_json(target: &impl Target, user: Value, bodies: &[&[u8]]) {
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

// ---- get -----------------------------------------------------------------------------------

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
        let path = format!("/users/{id}");
        for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
            let mut request = TestRequest::new(method.clone(), &path);
            if method == Method::PUT || method == Method::PATCH {
                request = request.json(&json!({"age": 10}));
            }
            assert_error(&target.send(request).await, 400, "invalid_argument");
        }
    }
    assert_eq!(all_users(target).await, vec![user]);
}

pub async fn percent_encoded_ids_are_400(target: &impl Target) {
    let user = create(target, "Kept", "kept@example.com", 9).await;
    // "%31" is "1" encoded: an id is digits as sent, never decoded into one.
    for id in ["%20", "%31"] {
        let path = format!("/users/{id}");
        for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
            let mut request = TestRequest::new(method.clone(), &path);
            if method == Method::PUT || method == Method::PATCH {
                request = request.json(&json!({"age": 10}));
            }
            assert_error(&target.send(request).await, 400, "invalid_argument");
        }
    }
    assert_eq!(all_users(target).await, vec![user]);
}

// ---- update --------------------------------------------------------------------------------

async fn update(target: &impl Target, method: Method, id: &Value, body: Value) -> Reply {
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

// ---- delete --------------------------------------------------------------------------------

pub async fn delete_is_204_then_404_and_frees_the_email(target: &impl Target) {
    let gone = create(target, "Gone", "gone@example.com", 70).await;
    let kept = create(target, "Kept", "kept@example.com", 71).await;
    let path = format!("/users/{}", gone["id"]);
    let reply = target.send(TestRequest::new(Method::DELETE, &path)).await;
    assert_eq!(reply.status, 204);
    assert!(reply.body.is_empty(), "204 has no body");
    assert_error(&get(target, &path).await, 404, "user_not_found");
    assert_error(
        &target.send(TestRequest::new(Method::DELETE, &path)).await,
        404,
        "user_not_found",
    );
    assert_eq!(all_users(target).await, vec![kept]);
    create(target, "Again", "GONE@example.com", 1).await;
}

// ---- list ----------------------------------------------------------------------------------

fn ids(users: &Value) -> Vec<u64> {
    users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_u64().unwrap())
        .collect()
}

pub async fn list_defaults_to_page_1_limit_10_in_id_order(target: &impl Target) {
    let empty = get(target, "/users").await;
    assert_eq!(empty.status, 200);
    assert_json(&empty);
    assert_eq!(empty.json(), json!({"users": [], "next_cursor": null}));
    let mut created = Vec::new();
    for i in 0..12 {
        created.push(
            create(
                target,
                &format!("User {i}"),
                &format!("user{i}@example.com"),
                i,
            )
            .await,
        );
    }
    let body = get(target, "/users").await.json();
    assert_eq!(listed_users(&body), created[..10].to_vec());
    assert!(body["next_cursor"].is_string());
    let mut sorted = ids(&body["users"]);
    sorted.sort_unstable();
    assert_eq!(ids(&body["users"]), sorted);
}

pub async fn list_pages_by_number_and_limit(target: &impl Target) {
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            create(target, &format!("P{i}"), &format!("p{i}@example.com"), i).await["id"]
                .as_u64()
                .unwrap(),
        );
    }
    let page = |n: u32| format!("/users?page={n}&limit=3");
    assert_eq!(
        ids(&get(target, &page(1)).await.json()["users"]),
        created[0..3]
    );
    assert_eq!(
        ids(&get(target, &page(2)).await.json()["users"]),
        created[3..6]
    );
    let last = get(target, &page(3)).await.json();
    assert_eq!(ids(&last["users"]), created[6..7]);
    assert_eq!(last["next_cursor"], Value::Null);
    assert_eq!(
        get(target, &page(4)).await.json(),
        json!({"users": [], "next_cursor": null})
    );
    let exact = get(target, "/users?limit=7").await.json();
    assert_eq!(ids(&exact["users"]), created);
    assert_eq!(
        exact["next_cursor"],
        Value::Null,
        "no cursor when nothing follows"
    );
    assert_eq!(
        ids(&get(target, "/users?limit=100").await.json()["users"]),
        created
    );
    assert_eq!(
        get(target, "/users?limit=1").await.json()["users"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

pub async fn list_rejects_bad_parameters(target: &impl Target) {
    create(target, "Listed", "listed@example.com", 1).await;
    for query in [
        "page=0",
        "page=-1",
        "page=abc",
        "page=1.5",
        "page=",
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=ten",
        "limit=",
        "cursor=not-a-cursor",
        "cursor=",
        "page=1&cursor=djE6MQ",
        "limit=5&limit=6",
    ] {
        assert_error(
            &get(target, &format!("/users?{query}")).await,
            400,
            "invalid_argument",
        );
    }
}

pub async fn offset_pages_stop_at_10000_skipped_users(target: &impl Target) {
    let user = create(target, "Deep", "deep@example.com", 1).await;
    // The first page, asked for either way, is the same page.
    let first = get(target, "/users?page=1&limit=5").await;
    assert_eq!(first.json(), get(target, "/users?limit=5").await.json());
    assert_eq!(listed_users(&first.json()), vec![user]);
    // Up to 10,000 skipped users is an ordinary (here empty) page; beyond, a 400 that points to
    // cursors, answered without reading the store.
    for deep_enough in [
        "page=1001&limit=10",
        "page=101&limit=100",
        "page=10001&limit=1",
    ] {
        let reply = get(target, &format!("/users?{deep_enough}")).await;
        assert_eq!(
            reply.json(),
            json!({"users": [], "next_cursor": null}),
            "{deep_enough}"
        );
    }
    for too_deep in [
        "page=1002&limit=10",
        "page=1000000",
        "page=18446744073709551615",
    ] {
        let reply = get(target, &format!("/users?{too_deep}")).await;
        assert_error(&reply, 400, "invalid_argument");
        let message = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(message.contains("next_cursor"), "{too_deep}: {message}");
    }
}

/// A request for `path` with one extra header.
async fn send_with(
    target: &impl Target,
    method: Method,
    path: &str,
    header: (&str, &str),
    body: Option<Value>,
) -> Reply {
    let mut request = TestRequest::new(method, path).header(header.0, header.1);
    if let Some(body) = body {
        request = request.json(&body);
    }
    target.send(request).await
}

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

pub async fn cursor_walk_sees_every_stable_user_once_despite_churn(target: &impl Target) {
    let mut stable = BTreeSet::new();
    let mut doomed = Vec::new();
    for i in 0..25 {
        let user = create(target, &format!("W{i}"), &format!("w{i}@example.com"), 1).await;
        if i % 5 == 2 {
            doomed.push(user["id"].as_u64().unwrap());
        } else {
            stable.insert(user["id"].as_u64().unwrap());
        }
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut round = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/users?limit=4&cursor={c}"),
            None => "/users?limit=4".to_owned(),
        };
        let body = get(target, &path).await.json();
        seen.extend(ids(&body["users"]));
        // Churn between pages: delete users not yet reached and add new ones.
        if let Some(id) = doomed.pop() {
            let reply = target
                .send(TestRequest::new(Method::DELETE, format!("/users/{id}")))
                .await;
            assert_eq!(reply.status, 204);
        }
        create(target, "Late", &format!("late{round}@example.com"), 1).await;
        round += 1;
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(round < 100, "walk does not end");
    }
    let seen_set: BTreeSet<u64> = seen.iter().copied().collect();
    assert_eq!(
        seen.len(),
        seen_set.len(),
        "no user is seen twice: {seen:?}"
    );
    assert!(
        stable.is_subset(&seen_set),
        "every stable user is seen: {seen:?}"
    );
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    assert_eq!(seen, sorted, "ascending id order across pages");
}

// ---- routing -------------------------------------------------------------------------------

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
    assert_eq!(item.header("allow"), Some("GET, PUT, PATCH, DELETE"));
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
