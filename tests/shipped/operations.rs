//! docs/architecture.md's "Adding an operation", walked for every operation of the contract: an
//! operation added to `Operation` without its function, workspace member, event fixture or CLI
//! command fails here, by name. (The template, `openapi.yaml`, the reference page and the
//! handler are held to the operations by their own tests and by the compiler.)

use std::collections::BTreeSet;

use integration_tests::processes::{EVENTS_FUNCTION, binary};
use integration_tests::sam::repo_root;
use shared::contract::Operation;

#[test]
fn every_operation_is_a_function_crate_and_a_workspace_member_and_nothing_else_is() {
    let root = repo_root();
    let members = workspace_members();
    for operation in Operation::ALL {
        let name = operation.name();
        let main = root.join("functions").join(name).join("src/main.rs");
        let code = std::fs::read_to_string(&main)
            .unwrap_or_else(|_| panic!("{name}: no function crate ({})", main.display()));
        let constructor = format!("Api::{}", name.replace('-', "_"));
        assert!(
            code.contains(&constructor),
            "{name}: its main must serve {constructor}"
        );
        assert!(
            members.contains(&format!("functions/{name}")),
            "{name}: not a member of the workspace"
        );
    }
    let folders: BTreeSet<String> = std::fs::read_dir(root.join("functions"))
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = Operation::ALL
        .iter()
        .map(|operation| operation.name().to_owned())
        .chain([EVENTS_FUNCTION.to_owned()])
        .collect();
    assert_eq!(
        folders, expected,
        "functions/ holds one crate per operation"
    );
}

#[test]
fn every_operation_has_an_api_gateway_event_fixture_on_one_of_its_routes() {
    for operation in Operation::ALL {
        let name = operation.name();
        let path = repo_root().join(format!("tests/fixtures/apigw-v2/{name}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{name}: no event fixture ({})", path.display()));
        let event: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
        let routes: Vec<String> = Operation::routes()
            .filter(|route| route.operation == operation)
            .map(|route| format!("{} {}", route.method, route.path))
            .collect();
        let route_key = event["routeKey"].as_str().unwrap_or_default();
        assert!(
            routes.iter().any(|route| route == route_key),
            "{name}: its fixture's routeKey {route_key:?} is none of {routes:?}"
        );
    }
}

#[test]
fn every_operation_is_a_command_of_the_users_cli() {
    for operation in Operation::ALL {
        // `create-user` is `users create`, `list-users` is `users list`.
        let verb = operation.name().split('-').next().unwrap();
        let output = std::process::Command::new(binary("users"))
            .args([verb, "--help"])
            .output()
            .expect("the users CLI (the test command builds it)");
        assert!(
            output.status.success(),
            "{}: `users {verb}` is not a command: {}",
            operation.name(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The workspace's members as cargo reads them, as paths under the repository
/// (`functions/get-user`).
fn workspace_members() -> BTreeSet<String> {
    let root = repo_root();
    let output = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(&root)
        .output()
        .expect("cargo metadata");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|package| {
            let manifest = std::path::Path::new(package["manifest_path"].as_str()?);
            let dir = manifest.parent()?.strip_prefix(&root).ok()?;
            Some(dir.to_string_lossy().into_owned())
        })
        .collect()
}
