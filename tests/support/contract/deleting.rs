//! Contract cases: Delete.

use super::*;

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
