//! `openapi.yaml`, the contract, as the tests read it.

use serde_json::Value;

use crate::sam::repo_root;

/// The methods an OpenAPI path item can hold that the API routes.
pub const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `openapi.yaml`, parsed.
pub fn spec() -> Value {
    let text = std::fs::read_to_string(repo_root().join("openapi.yaml")).expect("openapi.yaml");
    serde_yaml::from_str(&text).expect("openapi.yaml is YAML")
}

/// Follows a local `$ref` (`#/components/...`) to what it names.
pub fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(
                spec,
                spec.pointer(pointer)
                    .unwrap_or_else(|| panic!("{reference}")),
            )
        }
        None => value,
    }
}
