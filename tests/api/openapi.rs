//! `openapi.yaml` held to the code: the same routes, the same statuses, the same error codes, and
//! `local-api` serving exactly that document at `/openapi.json`. A route, status or code on one
//! side only fails here.

use std::collections::BTreeSet;

use http::Method;
use integration_tests::TestRequest;
use integration_tests::openapi::{METHODS, resolve, spec};
use integration_tests::processes::LocalApi;
use shared::contract::ErrorCode;
use shared::contract::Operation;

#[test]
fn the_routes_are_the_route_table() {
    let spec = spec();
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let routed: BTreeSet<(String, String)> = Operation::routes()
        .map(|route| (route.method.to_string(), route.path.to_owned()))
        .collect();
    assert_eq!(documented, routed);
}

/// Each route's document against its operation's description in the contract: the statuses it
/// answers, the query and header parameters it reads, whether it takes a body.
#[test]
fn each_route_documents_what_its_operation_is_described_as() {
    let spec = spec();
    for route in Operation::routes() {
        let operation = route.operation;
        let (method, path) = (route.method.as_str().to_ascii_lowercase(), route.path);
        let item = &spec["paths"][path];
        let documented = &item[&method];
        let at = format!("{} {path}", route.method);

        let statuses: Vec<u16> = documented["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{at} has no responses"))
            .keys()
            .map(|status| status.parse().unwrap())
            .collect();
        assert_eq!(statuses, operation.statuses(), "{at}: statuses");

        let parameters = item["parameters"]
            .as_array()
            .into_iter()
            .chain(documented["parameters"].as_array())
            .flatten()
            .map(|parameter| resolve(&spec, parameter));
        let (mut query, mut headers) = (Vec::new(), Vec::new());
        for parameter in parameters {
            let name = parameter["name"].as_str().unwrap().to_ascii_lowercase();
            match parameter["in"].as_str().unwrap() {
                "query" => query.push(name),
                "header" => headers.push(name),
                _ => {}
            }
        }
        assert_eq!(query, operation.query(), "{at}: query parameters");
        let read: Vec<&str> = operation
            .request_headers()
            .iter()
            .map(|name| name.as_str())
            .collect();
        assert_eq!(headers, read, "{at}: header parameters");
        assert_eq!(
            documented.get("requestBody").is_some(),
            operation.takes_body(),
            "{at}: request body"
        );
    }
}

#[test]
fn the_statuses_and_error_codes_are_the_codes() {
    let spec = spec();
    let codes: BTreeSet<&str> =
        spec["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
    let errors: BTreeSet<&str> = ErrorCode::ALL.map(ErrorCode::name).into_iter().collect();
    assert_eq!(codes, errors, "error codes");

    let mut statuses = BTreeSet::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for method in METHODS.iter().filter_map(|m| item.get(*m)) {
            for (status, response) in method["responses"].as_object().unwrap() {
                statuses.insert(status.parse::<u16>().unwrap());
                let response = resolve(&spec, response);
                // Every error status answers with the error body.
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/Error", "{status}");
                }
            }
        }
    }
    // Successes, plus every error status except 405, which answers methods no route documents.
    let mut expected: BTreeSet<u16> = [200, 201, 204, 304].into();
    expected.extend(
        ErrorCode::ALL
            .map(ErrorCode::status)
            .into_iter()
            .filter(|s| *s != 405),
    );
    assert_eq!(statuses, expected, "statuses");
}

#[tokio::test]
async fn local_api_serves_the_document_as_json() {
    let api = LocalApi::start(&[]).await;
    let reply = api
        .client
        .send(TestRequest::new(Method::GET, "/openapi.json"))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json(), spec());
}
