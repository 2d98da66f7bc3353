//! One `UserStore` conformance suite, run against both backends.

mod memory {
    integration_tests::conformance_tests!(shared::store::MemoryStore::new());
}

mod dynamodb {
    // Block size 3, so that the suites cross several id blocks.
    integration_tests::conformance_tests!(integration_tests::dynamo::fresh_store(3).await);
}
