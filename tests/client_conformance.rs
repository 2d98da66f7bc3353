//! The `UserStore` conformance cases the HTTP API can express, run through the typed client
//! against a real `local-api` on each store (see tests/support/client_store.rs for the cases left
//! out and why). Also left out: the three listing cases that compare listed users' versions,
//! which the wire's listings do not carry (a single user's version is its `ETag`); the client's
//! listing is walked in tests/client.rs.

macro_rules! through_the_client {
    ($make:expr) => {
        integration_tests::conformance_tests!(@cases $make;
            create_assigns_fresh_increasing_ids,
            get_of_a_missing_user_is_none,
            emails_are_unique_ignoring_case,
            racing_creates_of_one_email_have_one_winner,
            concurrent_creates_get_distinct_ids,
            update_changes_present_fields_only,
            update_moves_the_email_claim,
            update_to_a_taken_email_changes_nothing,
            update_and_delete_of_missing_users_are_not_found,
            racing_updates_to_one_email_have_one_winner,
            delete_frees_the_email,
            racing_deletes_have_one_winner,
            a_stale_version_changes_nothing,
            preconditions_on_a_missing_user_fail,
            the_matching_version_writes_including_an_email_move,
            racing_writes_from_one_version_have_one_winner,
        );
    };
}

mod memory {
    through_the_client!(integration_tests::client_store::ClientStore::in_memory().await);
}

mod dynamodb {
    through_the_client!(integration_tests::client_store::ClientStore::on_dynamodb().await);
}
