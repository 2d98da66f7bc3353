//! The contract fuzzed: schemathesis (`.venv-fuzz`, installed by the test command) reads
//! `local-api`'s `/openapi.json` and throws generated requests at it, on the in-memory store and
//! on the DynamoDB test server: every check it has (no 5xx, documented statuses, headers and
//! content types, responses matching their schemas, schema-valid requests accepted, invalid ones
//! refused, unsupported methods answered 405), and stateful sequences that follow the spec's links
//! (create, then get, update and delete the user it returned). Fixed seed, bounded examples:
//! deterministic, and about a minute on two cores.

use integration_tests::dynamo::{as_pairs, fresh_table, process_env};
use integration_tests::processes::LocalApi;
use integration_tests::sam::repo_root;

async fn fuzz(api: &LocalApi) {
    let root = repo_root();
    let schemathesis = root.join(".venv-fuzz/bin/schemathesis");
    let url = api.client.base_url().to_owned();
    let output = tokio::process::Command::new(&schemathesis)
        .arg("--no-color")
        .arg("--config-file")
        .arg(root.join("tests/schemathesis.toml"))
        .args(["run", &format!("{url}/openapi.json"), "--url", &url])
        .args(["--checks", "all", "--max-examples", "20", "--seed", "1"])
        .arg("--generation-deterministic")
        .args(["--output-sanitize", "false"])
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; ./scripts/test installs schemathesis there",
                schemathesis.display()
            )
        });
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures against {url}:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("passed"), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_contract_holds_under_fuzzing_in_memory() {
    fuzz(&LocalApi::start(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_contract_holds_under_fuzzing_on_dynamodb() {
    let env = process_env(&fresh_table("fuzz").await);
    fuzz(&LocalApi::start(&as_pairs(&env)).await).await;
}
