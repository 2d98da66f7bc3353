//! The `UserStore` conformance cases the HTTP API can express (the macro's `@through_the_api`
//! group, which says what is left out and why), run through the typed client against a real
//! `local-api` on each store.

mod memory {
    integration_tests::conformance_tests!(@through_the_api
        integration_tests::client_store::ClientStore::in_memory().await);
}

mod dynamodb {
    integration_tests::conformance_tests!(@through_the_api
        integration_tests::client_store::ClientStore::on_dynamodb().await);
}
