//! The README kept true by tests: its curl examples, replayed in order against a fresh `local-api`
//! (the output the README shows must be what the API answers), and its configuration table, which
//! must name every environment variable the code reads.
//!
//! Each `$ curl ...` line of the "curl examples" block is parsed (only the flags the README uses;
//! any other flag fails the test, so an example cannot silently go unchecked) and sent as curl
//! would send it, including curl's form content type for `-d` without `-H`. The expected status
//! line and the headers shown under `-i` must match (headers the README leaves out, such as `date`,
//! are not compared), and the body must match exactly.

use http::Method;
use integration_tests::processes::LocalApi;
use integration_tests::{Reply, TestRequest};

const README: &str = include_str!("../../README.md");

/// One `$ curl` command and the lines the README shows after it.
#[derive(Debug)]
struct Example {
    command: String,
    output: Vec<String>,
}

/// The examples in the first `console` block after the "curl examples" heading.
fn examples() -> Vec<Example> {
    let block = console_block("### curl examples");
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

/// Checks a reply against the lines the README shows for it.
fn check(example: &Example, show_headers: bool, reply: &Reply) {
    let context = format!("README example `{}`", example.command);
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
async fn every_curl_example_in_the_readme_prints_what_it_shows() {
    let examples = examples();
    assert!(
        examples.len() >= 10,
        "the curl examples were not found: {examples:?}"
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
    let examples = examples();
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
fn variables_read(path: &std::path::Path) -> Vec<String> {
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
fn every_environment_variable_the_code_reads_is_in_the_readme() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
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
    let configuration = README
        .split_once("## Configuration")
        .expect("README has a Configuration section")
        .1;
    let missing: Vec<&String> = read
        .iter()
        .filter(|name| !configuration.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "read by the code but not in the README's Configuration section: {missing:?}"
    );
}

/// The `$ command` lines of the first `console` block after `heading`, each with the lines the
/// README shows after it.
fn console_examples(heading: &str) -> Vec<Example> {
    let block = console_block(heading);
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

/// The first `console` block after `heading`.
fn console_block(heading: &str) -> &'static str {
    README
        .split_once(heading)
        .unwrap_or_else(|| panic!("README has a {heading:?} section"))
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
async fn every_users_example_in_the_readme_prints_what_it_shows() {
    let mut examples = console_examples("### `users` examples (real output)").into_iter();
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
            "README example `{}`",
            example.command
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_readme_client_program_is_the_example_and_runs() {
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../client/examples/quickstart.rs"),
    )
    .unwrap();
    let shown = README
        .split_once("```rust\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a rust block in the README")
        .0;
    assert_eq!(
        shown, example,
        "README's program is client/examples/quickstart.rs"
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
fn the_readmes_sam_local_commands_are_the_ones_the_sam_local_tests_run() {
    use integration_tests::sam_local::{
        ADD_HOST, ENV_VARS_FILE, WARM_CONTAINERS, dynamodb_port, env_vars, env_vars_file,
    };
    let command = |start: &str| -> String {
        let at = README
            .find(start)
            .unwrap_or_else(|| panic!("the README shows `{start}`"));
        // A command with its continuation lines.
        let mut text = String::new();
        for line in README[at..].lines() {
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
    let server = README
        .lines()
        .find(|line| line.contains("dynamodb_test_server.py") && line.contains("172.17.0.1"))
        .expect("the README starts the server for sam local on Docker's bridge address");
    assert!(
        server.contains(&format!("dynamodb_test_server.py {port} 172.17.0.1")),
        "the README's server listens where {ENV_VARS_FILE} points: {server}"
    );
}
