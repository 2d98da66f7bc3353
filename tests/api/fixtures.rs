//! The checked-in API Gateway events, run in sequence through one in-process API: the full life
//! of a user as API Gateway would deliver it, including base64 bodies, a named stage and the IAM
//! authorizer context that the deployed API adds to every event.

use integration_tests::lambda_target::{
    LambdaTarget, fixture, invoke, reply_from_gateway_response,
};
use serde_json::json;

#[tokio::test]
async fn fixture_events_drive_a_user_through_its_life() {
    let target = LambdaTarget::in_memory();
    let send = |name: &'static str| {
        let api = target.api.clone();
        async move { reply_from_gateway_response(&invoke(&api, fixture(name)).await) }
    };
    let created = send("create-user.json").await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["user"]["id"], 1);
    let second = send("create-user-base64.json").await;
    assert_eq!(
        second.json()["user"],
        json!({"id": 2, "name": "Grace Hopper", "email": "grace@example.com", "age": 0})
    );

    let fetched = send("get-user.json").await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json()["user"]["name"], "Ada Lovelace");
    let signed = send("get-user-iam.json").await;
    assert_eq!(
        signed.status, 200,
        "an IAM-authorized event (as the template's API sends) is served alike"
    );
    assert_eq!(signed.json()["user"]["id"], 1);
    let staged = send("get-user-named-stage.json").await;
    assert_eq!(
        staged.status, 200,
        "the /prod stage prefix is not part of the route"
    );
    assert_eq!(staged.json()["user"]["id"], 2);

    let updated = send("update-user.json").await;
    assert_eq!(
        updated.json()["user"],
        json!({"id": 1, "name": "Ada Lovelace", "email": "ada@example.com", "age": 37})
    );

    let page = send("list-users.json").await.json();
    assert_eq!(page["users"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string());

    let deleted = invoke(&target.api, fixture("delete-user.json")).await;
    assert_eq!(
        deleted["body"], "",
        "an empty answer carries an empty body rather than none, which sam local warns of"
    );
    let deleted = reply_from_gateway_response(&deleted);
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    assert_eq!(send("get-user.json").await.status, 404);
}
