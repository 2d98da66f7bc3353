//! The reference page at `/docs`, as a person sees it: headless Chromium loads it from a fresh
//! `local-api`, waits for the operations to render, finds every route and, under each, every
//! status the contract documents with the error codes it stands for, then tries a create (with an
//! `Idempotency-Key`) and conditional updates (with `If-Match`) from the page's own forms. Any
//! console error, exception, failed or refused asset fails the test. The screenshot is left at
//! `target/reference-page.png` of the clone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use http::Method;
use integration_tests::TestRequest;
use integration_tests::browser::{Browser, Problem};
use integration_tests::openapi::{METHODS, spec};
use integration_tests::processes::LocalApi;
use integration_tests::sam::repo_root;
use serde_json::json;
use shared::contract::ErrorCode;
use shared::contract::Operation;

/// How long Swagger UI takes to hand typed text to its state: its inputs debounce by 300 ms.
const DEBOUNCE: Duration = Duration::from_millis(1000);

/// (method, path) -> the statuses the contract documents for it.
fn documented_statuses() -> BTreeMap<(String, String), BTreeSet<String>> {
    let spec = spec();
    let mut statuses = BTreeMap::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            let responses = item[*method]["responses"].as_object().unwrap();
            statuses.insert(
                (method.to_uppercase(), path.clone()),
                responses.keys().cloned().collect(),
            );
        }
    }
    statuses
}

/// Each operation block on the page: its method, path, and its response rows (status -> text).
const RENDERED: &str = r#"[...document.querySelectorAll('.opblock')].map(block => ({
    method: block.querySelector('.opblock-summary-method').textContent.trim(),
    path: block.querySelector('.opblock-summary-path').dataset.path,
    responses: Object.fromEntries([...block.querySelectorAll('.responses-table tr.response')]
        .map(row => [row.dataset.code, row.textContent])),
}))"#;

/// The selector of an operation's block: Swagger UI names it by tag (`default`: the contract
/// has none) and `operationId`.
fn block(operation_id: &str) -> String {
    format!("#operations-default-{operation_id}")
}

/// Fills the header or path parameter `name` of an operation whose "Try it out" is open.
async fn fill_parameter(browser: &mut Browser, operation_id: &str, name: &str, value: &str) {
    let selector = format!(
        "{} tr[data-param-name=\"{name}\"] input",
        block(operation_id)
    );
    browser.type_into(&selector, value).await;
}

/// Clears the previous answer, presses Execute and waits for the answer's status to show;
/// returns it with the page's display of the answer (headers and body).
async fn execute(browser: &mut Browser, operation_id: &str) -> (String, String) {
    let block = block(operation_id);
    let answer = format!("document.querySelector('{block} .live-responses-table')");
    if browser.evaluate(&format!("Boolean({answer})")).await == json!(true) {
        browser.click(&format!("{block} button.btn-clear")).await;
        browser.wait_for(&format!("!{answer}")).await;
    }
    tokio::time::sleep(DEBOUNCE).await;
    browser.click(&format!("{block} button.execute")).await;
    let status = format!("{block} .live-responses-table .response .response-col_status");
    browser
        .wait_for(&format!("document.querySelector('{status}')"))
        .await;
    let shown = browser
        .evaluate(&format!(
            "[document.querySelector('{status}').textContent.trim(), {answer}.textContent]"
        ))
        .await;
    (
        shown[0].as_str().unwrap().to_owned(),
        shown[1].as_str().unwrap().to_owned(),
    )
}

/// Opens an operation's block and its "Try it out".
async fn try_out(browser: &mut Browser, operation_id: &str) {
    let block = block(operation_id);
    browser
        .click(&format!("{block} .try-out__btn:not(.cancel)"))
        .await;
    browser
        .wait_for(&format!("document.querySelector('{block} button.execute')"))
        .await;
}

#[tokio::test]
async fn the_reference_page_lists_every_operation_and_tries_them_in_a_real_browser() {
    let api = LocalApi::start(&[]).await;
    let mut browser = Browser::start(1280, 1024).await;
    browser
        .open(&format!("{}/docs", api.client.base_url()))
        .await;
    browser
        .wait_for(&format!(
            "document.querySelectorAll('.opblock').length === {}",
            Operation::routes().count()
        ))
        .await;

    // Every route, each with every status of the contract once its block is open.
    browser
        .evaluate("document.querySelectorAll('.opblock-summary-control').forEach(b => b.click())")
        .await;
    browser
        .wait_for(&format!(
            "document.querySelectorAll('.opblock .responses-table').length === {}",
            Operation::routes().count()
        ))
        .await;
    let rendered = browser.evaluate(RENDERED).await;
    let mut shown = BTreeMap::new();
    let mut rows: Vec<(String, String)> = Vec::new();
    for operation in rendered.as_array().unwrap() {
        let route = (
            operation["method"].as_str().unwrap().to_owned(),
            operation["path"].as_str().unwrap().to_owned(),
        );
        let responses = operation["responses"].as_object().unwrap();
        for (status, text) in responses {
            rows.push((status.clone(), text.as_str().unwrap().to_owned()));
        }
        shown.insert(route, responses.keys().cloned().collect::<BTreeSet<_>>());
    }
    let routed: BTreeSet<(String, String)> = Operation::routes()
        .map(|route| (route.method.to_string(), route.path.to_owned()))
        .collect();
    assert_eq!(shown.keys().cloned().collect::<BTreeSet<_>>(), routed);
    assert_eq!(shown, documented_statuses());
    // 405 answers the methods no route has, so no operation lists it.
    for code in ErrorCode::ALL.into_iter().filter(|c| c.status() != 405) {
        let status = code.status().to_string();
        assert!(
            rows.iter()
                .any(|(shown, text)| *shown == status && text.contains(code.name())),
            "no {status} row on the page names {}",
            code.name()
        );
    }

    // A create tried from the page, with an Idempotency-Key.
    try_out(&mut browser, "createUser").await;
    fill_parameter(&mut browser, "createUser", "Idempotency-Key", "page-1").await;
    let body = r#"{"name": "Ada Lovelace", "email": "ada@example.com", "age": 36}"#;
    browser
        .type_into(
            &format!("{} textarea.body-param__text", block("createUser")),
            body,
        )
        .await;
    let (status, answer) = execute(&mut browser, "createUser").await;
    assert_eq!(status, "201", "{answer}");
    assert!(answer.contains("/users/1"), "the Location shown: {answer}");
    // The key reached the server with the create: another request under it is refused.
    let reused = api
        .client
        .send(
            TestRequest::new(Method::POST, "/users")
                .header("Idempotency-Key", "page-1")
                .json(&json!({"name": "Someone Else", "email": "else@example.com"})),
        )
        .await;
    assert_eq!(reused.status, 422, "{:?}", reused.json());
    // And the page sends it again when asked: the replay shows.
    let (status, answer) = execute(&mut browser, "createUser").await;
    assert_eq!(status, "201", "{answer}");
    assert!(answer.contains("idempotent-replayed: true"), "{answer}");

    // A conditional update: If-Match "1" applies once, then is stale.
    try_out(&mut browser, "patchUser").await;
    fill_parameter(&mut browser, "patchUser", "id", "1").await;
    fill_parameter(&mut browser, "patchUser", "If-Match", "\"1\"").await;
    browser
        .type_into(
            &format!("{} textarea.body-param__text", block("patchUser")),
            r#"{"age": 37}"#,
        )
        .await;
    let (status, answer) = execute(&mut browser, "patchUser").await;
    assert_eq!(status, "200", "{answer}");
    assert!(answer.contains("\"age\": 37"), "{answer}");
    let (status, answer) = execute(&mut browser, "patchUser").await;
    assert_eq!(status, "412", "{answer}");
    assert!(answer.contains("precondition_failed"), "{answer}");
    let user = api
        .client
        .send(TestRequest::new(Method::GET, "/users/1"))
        .await;
    assert_eq!(user.header("etag"), Some("\"2\""), "applied once");

    let screenshot = repo_root().join("target/reference-page.png");
    browser.screenshot(&screenshot).await;
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000);

    // The 412 tried above is the only answer the page may have seen refused.
    let refused = |problem: &Problem| {
        problem
            .url
            .as_deref()
            .is_some_and(|url| url.ends_with("/users/1"))
            && (problem.kind == "http 412" || problem.text.contains("412"))
    };
    let problems: Vec<Problem> = browser
        .problems()
        .await
        .into_iter()
        .filter(|problem| !refused(problem))
        .collect();
    assert_eq!(problems, [], "the page went wrong");
}

#[tokio::test]
async fn every_asset_and_link_of_the_page_is_served_from_local_api() {
    let api = LocalApi::start(&[]).await;
    let page = api
        .client
        .send(TestRequest::new(Method::GET, "/docs"))
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8(page.body.clone()).unwrap();
    let mut targets = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attribute) {
            let rest = &html[at + attribute.len()..];
            targets.push(rest[..rest.find('"').unwrap()].to_owned());
        }
    }
    assert!(targets.len() >= 8, "{targets:?}");
    for target in targets {
        assert!(
            target.starts_with('/'),
            "{target}: the page loads nothing from elsewhere"
        );
        let reply = api
            .client
            .send(TestRequest::new(Method::GET, &target))
            .await;
        assert_eq!(reply.status, 200, "{target}");
        let expected = match target.rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("png") => "image/png",
            Some("json") => "application/json",
            _ => "text/plain; charset=utf-8",
        };
        assert_eq!(reply.header("content-type"), Some(expected), "{target}");
    }
}

#[test]
fn the_vendored_swagger_ui_is_the_pinned_release() {
    let vendored = repo_root().join("local-api/reference/swagger-ui");
    let version = std::fs::read_to_string(vendored.join("VERSION")).unwrap();
    let script = std::fs::read_to_string(repo_root().join("scripts/vendor-swagger-ui")).unwrap();
    assert!(
        script.contains(&format!("version=${{1:-{}}}", version.trim())),
        "scripts/vendor-swagger-ui pins the vendored version {version}"
    );
    let bundle = std::fs::read_to_string(vendored.join("swagger-ui-bundle.js")).unwrap();
    assert!(bundle.contains("SwaggerUIBundle"));
    assert!(
        vendored.join("LICENSE").exists(),
        "its licence travels with it"
    );
}
