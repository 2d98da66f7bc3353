//! The HTTP contract of the users API as executable cases. Each case is generic over the
//! [`Target`] it runs against and starts from an empty store; [`contract_tests!`] turns the whole
//! list into `#[tokio::test]`s for one target, so every runtime is held to the same cases.

use std::collections::BTreeSet;

use http::Method;
use serde_json::{Value, json};

use crate::{Reply, Target, TestRequest};

mod conditional;
mod creating;
mod deleting;
mod finding;
mod idempotency;
mod listing;
mod reading;
mod routing;
mod updating;
pub use conditional::*;
pub use creating::*;
pub use deleting::*;
pub use finding::*;
pub use idempotency::*;
pub use listing::*;
pub use reading::*;
pub use routing::*;
pub use updating::*;

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
            find_returns_the_user_and_its_etag_ignoring_case,
            find_of_an_email_no_one_holds_is_404_and_does_not_repeat_it,
            find_refuses_bad_bodies_without_repeating_the_address,
            find_answers_post_only,
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

/// A request for `path` with one extra header.
pub async fn send_with(
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
