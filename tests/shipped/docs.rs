//! The README and the guides in `docs/` kept true by tests: their curl and `users` examples,
//! replayed in order against a fresh `local-api` (the output a page shows must be what the API
//! answers), the client program, the `sam local` commands, the configuration guide, which must
//! name every environment variable the code reads, and every relative link.
//!
//! Each `$ curl ...` line of a curl block is parsed (only the flags the pages use; any other flag
//! fails the test, so an example cannot silently go unchecked) and sent as curl would send it,
//! including curl's form content type for `-d` without `-H`. The expected status line and the
//! headers shown under `-i` must match (headers a page leaves out, such as `date`, are not
//! compared), and the body must match exactly.

use std::path::{Path, PathBuf};

use http::Method;
use integration_tests::processes::LocalApi;
use integration_tests::sam::repo_root;
use integration_tests::{Reply, TestRequest};

const README: &str = include_str!("../../README.md");
const API: &str = include_str!("../../docs/api.md");
const CLIENT: &str = include_str!("../../docs/client.md");
const CONFIGURATION: &str = include_str!("../../docs/configuration.md");
const LOCAL_EMULATION: &str = include_str!("../../docs/local-emulation.md");

/// The README's tour and the API guide's fuller set: each block starts on a fresh `local-api`.
const CURL_BLOCKS: [(&str, &str); 2] = [
    (README, "### With curl"),
    (API, "## curl examples (real output)"),
];
const USERS_BLOCKS: [(&str, &str); 2] = [
    (README, "### With the `users` CLI"),
    (CLIENT, "## `users` examples (real output)"),
];

/// One `$ curl` command and the lines the page shows after it.
#[derive(Debug)]
struct Example {
    command: String,
    output: Vec<String>,
}

/// The curl examples in the first `console` block after `heading` in `page`.
fn curl_examples(page: &'static str, heading: &str) -> Vec<Example> {
    let block = console_block(page, heading);
    // A backslash-newline continues a command on the next line, as in a shell.
    let block = block.replace("\\\n", " ");
    let mut examples: Vec<Example> = Vec::new();
    for line in block.lines() {
        if let Some(command) = line.strip_prefix("$ ") {
            examples.push(Example {
                command: command.to_owned(),
                output: Vec::new(),
            });
        } else if let Some(example) = examples.last_mut() {
            example.output.push(line.to_owned());
        }
    }
    for example in &mut examples {
        while example.output.last().is_some_and(|l| l.is_empty()) {
            example.output.pop();
        }
    }
    examples
}

/// What a curl command line asks for.
#[derive(Debug)]
struct Curl {
    show_headers: bool,
    request: TestRequest,
}

/// Parses `curl [-i] [-X METHOD] [-H 'Name: value']... [-d BODY] URL` with curl's defaults: `-d`
/// makes the method POST and the content type `application/x-www-form-urlencoded`.
fn parse(command: &str) -> Curl {
    let words = shlex::split(command).unwrap_or_else(|| panic!("unbalanced quotes: {command}"));
    assert_eq!(words.first().map(String::as_str), Some("curl"), "{command}");
    let (mut show_headers, mut method, mut headers, mut body, mut url) =
        (false, None, Vec::new(), None, None);
    let mut words = words.into_iter().skip(1);
    while let Some(word) = words.next() {
        let mut value = || {
            words
                .next()
                .unwrap_or_else(|| panic!("{word} needs a value: {command}"))
        };
        match word.as_str() {
            "-i" => show_headers = true,
            "-X" => method = Some(Method::from_bytes(value().as_bytes()).expect("a method")),
            "-H" => {
                let header = value();
                let (name, value) = header.split_once(':').expect("-H 'Name: value'");
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
            "-d" => body = Some(value()),
            flag if flag.starts_with('-') => panic!("flag {flag} is not understood: {command}"),
            _ => url = Some(word),
        }
    }
    let url = url.unwrap_or_else(|| panic!("no URL: {command}"));
    let target = url
        .strip_prefix("localhost:3000")
        .unwrap_or_else(|| panic!("examples use localhost:3000: {command}"));
    let typed = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    let method = method.unwrap_or(if body.is_some() {
        Method::POST
    } else {
        Method::GET
    });
    let mut request = TestRequest::new(method, target);
    if let Some(body) = body {
        request = request.raw(body);
        if !typed {
            request = request.header("content-type", "application/x-www-form-urlencoded");
        }
    }
    for (name, value) in headers {
        request = request.header(name, value);
    }
    Curl {
        show_headers,
        request,
    }
}

/// Checks a reply against the lines the page shows for it.
fn check(example: &Example, show_headers: bool, reply: &Reply) {
    let context = format!("example `{}`", example.command);
    let mut lines = example.output.iter().map(String::as_str);
    if show_headers {
        let status_line = lines
            .next()
            .unwrap_or_else(|| panic!("{context}: no status line"));
        let status = http::StatusCode::from_u16(reply.status).unwrap();
        let actual = format!(
            "HTTP/1.1 {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        assert_eq!(status_line, actual, "{context}");
        for line in lines.by_ref().take_while(|line| !line.is_empty()) {
            let (name, value) = line.split_once(": ").expect("a `name: value` header line");
            assert_eq!(reply.header(name), Some(value), "{context}: header {name}");
        }
    }
    let expected_body = lines.collect::<Vec<_>>().join("\n");
    let body = String::from_utf8(reply.body.clone()).expect("UTF-8 body");
    assert_eq!(body, expected_body, "{context}: body");
}

#[tokio::test]
async fn every_curl_example_prints_what_it_shows() {
    for (page, heading) in CURL_BLOCKS {
        let examples = curl_examples(page, heading);
        assert!(
            examples.len() >= 8,
            "the curl examples under {heading:?} were not found: {examples:?}"
        );
        let api = LocalApi::start(&[]).await;
        for example in &examples {
            let Curl {
                show_headers,
                request,
            } = parse(&example.command);
            let reply = api.client.send(request).await;
            check(example, show_headers, &reply);
        }
    }
}

#[test]
fn the_parser_reads_curl_as_curl_does() {
    let curl = parse(
        "curl -i -X PUT localhost:3000/users/1 -H 'content-type: application/json' -d '{\"age\": 1}'",
    );
    assert!(curl.show_headers);
    assert_eq!(curl.request.method, Method::PUT);
    assert_eq!(curl.request.target, "/users/1");
    assert_eq!(curl.request.body.as_deref(), Some(&b"{\"age\": 1}"[..]));
    assert_eq!(
        curl.request.headers,
        [("content-type".to_owned(), "application/json".to_owned())]
    );
    let form = parse("curl localhost:3000/users -d '{}'");
    assert_eq!(form.request.method, Method::POST, "-d alone means POST");
    assert_eq!(
        form.request.headers,
        [(
            "content-type".to_owned(),
            "application/x-www-form-urlencoded".to_owned()
        )]
    );
    assert_eq!(
        parse("curl 'localhost:3000/users?limit=1'").request.method,
        Method::GET
    );
}

#[test]
#[should_panic(expected = "is not understood")]
fn an_unknown_curl_flag_fails_rather_than_going_unchecked() {
    parse("curl -s localhost:3000/users");
}

#[test]
fn examples_keep_their_continuation_lines_and_outputs() {
    let examples = curl_examples(CURL_BLOCKS[0].0, CURL_BLOCKS[0].1);
    let first = &examples[0];
    assert!(
        first.command.contains("-d '{\"name\": \"Ada Lovelace\""),
        "the continued line joins its command: {}",
        first.command
    );
    assert_eq!(first.output[0], "HTTP/1.1 201 Created");
}

/// Environment variable names a source file reads: string literals given to `env::var` /
/// `env::var_os` or to a clap `env = ...`; in `config.rs`, also the names declared as `&str`
/// constants, which `env::var` is called with there.
fn variables_read(path: &Path) -> Vec<String> {
    let source = std::fs::read_to_string(path).unwrap();
    let mut markers = vec!["env::var(\"", "env::var_os(\"", "env = \""];
    if path.ends_with("shared/src/config.rs") {
        markers.push(": &str = \"");
    }
    let mut names = Vec::new();
    for marker in markers {
        for (at, _) in source.match_indices(marker) {
            let rest = &source[at + marker.len()..];
            let name = &rest[..rest.find('"').expect("a closed string literal")];
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                names.push(name.to_owned());
            }
        }
    }
    names
}

#[test]
fn every_environment_variable_the_code_reads_is_in_the_configuration_guide() {
    let root = repo_root();
    let mut read = Vec::new();
    for dir in ["shared/src", "local-api/src", "client/src"] {
        let mut pending = vec![root.join(dir)];
        while let Some(path) = pending.pop() {
            if path.is_dir() {
                pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            } else if path.extension().is_some_and(|e| e == "rs") {
                read.extend(variables_read(&path));
            }
        }
    }
    read.sort();
    read.dedup();
    for expected in [
        "USERS_TABLE",
        "BREAKER_MIN_CALLS",
        "RUST_LOG",
        "PORT",
        "USERS_API_URL",
        "USERS_LOG",
    ] {
        assert!(
            read.iter().any(|name| name == expected),
            "the scan must find {expected}: it found {read:?}"
        );
    }
    let missing: Vec<&String> = read
        .iter()
        .filter(|name| !CONFIGURATION.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "read by the code but not in docs/configuration.md: {missing:?}"
    );
}

/// The `$ command` lines of the first `console` block after `heading` in `page`, each with the
/// lines the page shows after it.
fn console_examples(page: &'static str, heading: &str) -> Vec<Example> {
    let block = console_block(page, heading);
    let mut examples: Vec<Example> = Vec::new();
    for line in block.lines() {
        match line.strip_prefix("$ ") {
            Some(command) => examples.push(Example {
                command: command.to_owned(),
                output: Vec::new(),
            }),
            None => examples
                .last_mut()
                .expect("output after a command")
                .output
                .push(line.to_owned()),
        }
    }
    examples
}

/// The first `console` block after `heading` in `page`.
fn console_block(page: &'static str, heading: &str) -> &'static str {
    page.split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no {heading:?} heading"))
        .1
        .split_once("```console\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .unwrap_or_else(|| panic!("a ```console block after {heading:?}"))
        .0
}

/// Request ids differ from run to run: `(request id 09d2657d-00000003)` -> `(request id …)`.
fn without_request_ids(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("(request id ") {
        let (before, after) = rest.split_at(at + "(request id ".len());
        out.push_str(before);
        out.push('…');
        rest = &after[after.find(')').unwrap_or(after.len())..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn every_users_example_prints_what_it_shows() {
    for (page, heading) in USERS_BLOCKS {
        run_users_examples(console_examples(page, heading)).await;
    }
}

/// Runs each command in bash against a fresh `local-api`, with `users` on the `PATH`.
async fn run_users_examples(examples: Vec<Example>) {
    let mut examples = examples.into_iter();
    let first = examples.next().expect("examples");
    assert_eq!(first.command, "export USERS_API_URL=http://localhost:3000");
    let examples: Vec<Example> = examples.collect();
    assert!(examples.len() >= 8, "{examples:?}");
    let api = LocalApi::start(&[]).await;
    let users = integration_tests::processes::binary("users");
    let path = format!(
        "{}:{}",
        users.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let dir = std::env::temp_dir().join(format!("users-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for example in &examples {
        let output = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(format!("exec 2>&1; {}", example.command))
            .env("USERS_API_URL", api.client.base_url())
            .env("PATH", &path)
            .env_remove("USERS_LOG")
            .current_dir(&dir)
            .output()
            .await
            .expect("run bash");
        let shown = example.output.join("\n");
        let printed = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            without_request_ids(printed.trim_end()),
            without_request_ids(&shown),
            "example `{}`",
            example.command
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_client_guides_program_is_the_example_and_runs() {
    let example =
        std::fs::read_to_string(repo_root().join("client/examples/quickstart.rs")).unwrap();
    let shown = CLIENT
        .split_once("```rust\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a rust block in docs/client.md")
        .0;
    assert_eq!(
        shown, example,
        "docs/client.md's program is client/examples/quickstart.rs"
    );
    let api = LocalApi::start(&[]).await;
    let users = integration_tests::processes::binary("users");
    let program = users.parent().unwrap().join("examples/quickstart");
    let output = tokio::process::Command::new(&program)
        .env("USERS_API_URL", api.client.base_url())
        .env_remove("USERS_STACK")
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (cargo test builds the examples)",
                program.display()
            )
        });
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Ada Lovelace is 37 (version Some(2))\n"
    );
}

#[test]
fn the_guides_sam_local_commands_are_the_ones_the_sam_local_tests_run() {
    use integration_tests::sam_local::{
        ADD_HOST, ENV_VARS_FILE, WARM_CONTAINERS, dynamodb_port, env_vars, env_vars_file,
    };
    let command = |start: &str| -> String {
        let at = LOCAL_EMULATION
            .find(start)
            .unwrap_or_else(|| panic!("docs/local-emulation.md shows `{start}`"));
        // A command with its continuation lines.
        let mut text = String::new();
        for line in LOCAL_EMULATION[at..].lines() {
            text.push_str(line.trim_end_matches('\\'));
            text.push(' ');
            if !line.ends_with('\\') {
                break;
            }
        }
        text
    };
    let env_vars_option = format!("--env-vars {ENV_VARS_FILE}");
    for start in ["sam local start-api ", "sam local invoke "] {
        let shown = command(start);
        for option in [env_vars_option.clone(), ADD_HOST.join(" ")] {
            assert!(shown.contains(&option), "`{shown}` lacks `{option}`");
        }
    }
    let start_api = command("sam local start-api ");
    assert!(
        start_api.contains(&WARM_CONTAINERS.join(" ")),
        "{start_api}"
    );
    let port = dynamodb_port(&env_vars(&env_vars_file()));
    let server = LOCAL_EMULATION
        .lines()
        .find(|line| line.contains("dynamodb_test_server.py") && line.contains("172.17.0.1"))
        .expect("the guide starts the server for sam local on Docker's bridge address");
    assert!(
        server.contains(&format!("dynamodb_test_server.py {port} 172.17.0.1")),
        "the guide's server listens where {ENV_VARS_FILE} points: {server}"
    );
}

/// The pages people read: the README and every guide under `docs/`.
fn pages() -> Vec<PathBuf> {
    let root = repo_root();
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages.insert(0, root.join("README.md"));
    pages
}

/// A page's lines outside fenced code blocks, with code spans removed: what Markdown renders
/// as text, links and headings.
fn prose(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            let spans: Vec<&str> = line.split('`').collect();
            lines.push(spans.iter().step_by(2).copied().collect::<String>());
        }
    }
    lines
}

/// The targets of a page's `[text](target)` links that are neither absolute URLs nor mail.
fn relative_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    for line in prose(text) {
        for (at, _) in line.match_indices("](") {
            let rest = &line[at + 2..];
            let target = &rest[..rest.find(')').unwrap_or(rest.len())];
            if !target.contains("://") && !target.starts_with("mailto:") {
                links.push(target.to_owned());
            }
        }
    }
    links
}

/// The anchor GitHub gives a heading: lower case, spaces as `-`, other punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a page's headings (a repeated heading's get `-1`, `-2`, ... as on GitHub).
pub(crate) fn anchors(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashMap::new();
    let mut anchors = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        let heading = line.trim_start_matches('#');
        if fenced || !line.starts_with('#') || !heading.starts_with(' ') {
            continue;
        }
        let base = anchor(&heading.replace('`', ""));
        let repeats = seen.entry(base.clone()).or_insert(0);
        anchors.push(match *repeats {
            0 => base,
            n => format!("{base}-{n}"),
        });
        *repeats += 1;
    }
    anchors
}

/// Why `target`, linked from `page`, leads nowhere: a missing file, or an anchor no heading of
/// the linked page has.
fn broken(page: &Path, target: &str) -> Option<String> {
    let (file, fragment) = match target.split_once('#') {
        Some((file, fragment)) => (file, Some(fragment)),
        None => (target, None),
    };
    let linked = if file.is_empty() {
        page.to_path_buf()
    } else {
        page.parent().unwrap().join(file)
    };
    if !linked.exists() {
        return Some(format!("{} does not exist", linked.display()));
    }
    let fragment = fragment?;
    let text = std::fs::read_to_string(&linked).ok()?;
    (!anchors(&text).iter().any(|a| a == fragment))
        .then(|| format!("{} has no heading #{fragment}", linked.display()))
}

#[test]
fn every_relative_link_in_the_readme_and_the_guides_leads_somewhere() {
    let mut checked = 0;
    let mut dead = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for target in relative_links(&text) {
            checked += 1;
            if let Some(why) = broken(&page, &target) {
                dead.push(format!("{}: ({target}): {why}", page.display()));
            }
        }
    }
    assert!(
        checked >= 30,
        "only {checked} links found: the scan is broken"
    );
    assert!(dead.is_empty(), "dead links:\n{}", dead.join("\n"));
}

#[test]
fn every_guide_is_linked_from_the_readme() {
    let linked = relative_links(README);
    for page in pages().iter().skip(1) {
        let name = format!("docs/{}", page.file_name().unwrap().to_string_lossy());
        assert!(linked.contains(&name), "README.md does not link {name}");
    }
}

#[test]
fn the_link_checker_finds_what_github_would_not_render() {
    assert_eq!(
        anchor("Traces: OpenTelemetry spans over OTLP"),
        "traces-opentelemetry-spans-over-otlp"
    );
    assert_eq!(
        anchors("# A\n## `users` examples (real output)\n## A\n```\n# not a heading\n```\n"),
        ["a", "users-examples-real-output", "a-1"]
    );
    let page = repo_root().join("README.md");
    let text = "[ok](docs/api.md#errors) [gone](docs/nothing.md) `[code](x.md)` [web](https://x.y)\n\
                [no anchor](docs/api.md#nowhere) [here](#layout)";
    let links = relative_links(text);
    assert_eq!(
        links,
        [
            "docs/api.md#errors",
            "docs/nothing.md",
            "docs/api.md#nowhere",
            "#layout"
        ]
    );
    let verdicts: Vec<bool> = links.iter().map(|l| broken(&page, l).is_some()).collect();
    assert_eq!(verdicts, [false, true, true, false]);
}
