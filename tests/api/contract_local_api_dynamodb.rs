//! The HTTP contract against a real `local-api` process on the DynamoDB-compatible test server,
//! each test on a table of its own that `--create-table` makes.

use integration_tests::contract_tests;
use integration_tests::dynamo::{as_pairs, process_env, unique_table};
use integration_tests::processes::LocalApi;

async fn local_api_on_a_fresh_table() -> LocalApi {
    let env = process_env(&unique_table("contract"));
    LocalApi::launch(&as_pairs(&env), &["--port", "0", "--create-table"]).await
}

contract_tests!(local_api_on_a_fresh_table().await);
