//! What `sam build` ships, run: the six arm64 `bootstrap` binaries that the test command builds
//! with `sam build` from `template.yaml` (cargo-lambda, zig, the release profile) are checked to
//! load on `provided.al2023`, kept under a deployment size budget, and run under qemu behind AWS's
//! own Lambda Runtime Interface Emulator, in memory and on the test server (DynamoDB, EventBridge,
//! SQS), each answering and publishing exactly as the x86_64 build of the same function does
//! behind the same emulator.

use std::collections::BTreeSet;
use std::process::Command;

use integration_tests::IN_MEMORY;
use integration_tests::dynamo::{as_pairs, fresh_table, process_env};
use integration_tests::emulator::{EmulatedFunction, Machine};
use integration_tests::events::{Subscription, publisher_env, stream_fixture};
use integration_tests::lambda_target::{fixture, with_user_id};
use integration_tests::processes::{ALL_FUNCTIONS, EVENTS_FUNCTION, binary};
use integration_tests::sam::{built_bootstrap, zipped_size};
use serde_json::{Value, json};
use shared::contract::Operation;

/// The shared libraries a `provided.al2023` function can load: glibc's own, nothing else (the
/// runtime image holds no OpenSSL, no libgcc_s a binary may rely on, no libstdc++).
const AL2023_LIBRARIES: [&str; 7] = [
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "ld-linux-aarch64.so.1",
];

/// glibc of Amazon Linux 2023, which `provided.al2023` runs: a binary needing a newer symbol
/// version fails to start there, whatever it did here.
const AL2023_GLIBC: (u32, u32) = (2, 34);

/// Upper bound of a function's deployment zip. A guard against regressions (a dependency that
/// drags in a second TLS stack, a lost `strip`), not a benchmark: today's zips are ~2.5 MB.
const ZIP_BUDGET_BYTES: u64 = 4_000_000;

fn readelf(args: &[&str], binary: &std::path::Path) -> String {
    let output = Command::new("readelf")
        .args(args)
        .arg(binary)
        .output()
        .expect("readelf (binutils; ./scripts/test installs it)");
    assert!(output.status.success(), "readelf {args:?} failed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The value after `label` on the line of `text` that has it (`Machine:  AArch64`).
fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.trim().strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label} in\n{text}"))
}

/// The `GLIBC_x.y` versions a binary's imports need, from its version-needs section.
fn glibc_versions_needed(version_info: &str) -> BTreeSet<(u32, u32)> {
    version_info
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter_map(|version| {
            let mut parts = version.split('.').map(|n| n.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .collect()
}

#[test]
fn every_bootstrap_is_a_hardened_arm64_executable_that_loads_on_provided_al2023() {
    for name in ALL_FUNCTIONS {
        let bootstrap = built_bootstrap(name);
        let header = readelf(&["--file-header", "--wide"], &bootstrap);
        assert_eq!(field(&header, "Machine:"), "AArch64", "{name}");
        // Position-independent, so the kernel randomises where the function's own code lives.
        assert!(
            field(&header, "Type:").starts_with("DYN"),
            "{name} is not a position-independent executable: {}",
            field(&header, "Type:")
        );
        let dynamic = readelf(&["--dynamic", "--wide"], &bootstrap);
        let needed: Vec<&str> = dynamic
            .lines()
            .filter(|line| line.contains("(NEEDED)"))
            .filter_map(|line| line.split('[').nth(1)?.split(']').next())
            .collect();
        assert!(needed.contains(&"libc.so.6"), "{name}: {needed:?}");
        for library in &needed {
            assert!(
                AL2023_LIBRARIES.contains(library),
                "{name} needs {library}, which provided.al2023 does not have"
            );
        }
        let versions = glibc_versions_needed(&readelf(&["--version-info", "--wide"], &bootstrap));
        let newest = versions.last().copied().expect("glibc symbol versions");
        assert!(
            newest <= AL2023_GLIBC,
            "{name} needs GLIBC_{}.{}, newer than provided.al2023's {}.{}",
            newest.0,
            newest.1,
            AL2023_GLIBC.0,
            AL2023_GLIBC.1
        );
    }
}

#[test]
fn glibc_versions_are_read_from_version_needs() {
    let sample = "Version needs section '.gnu.version_r' contains 1 entry:\n \
        0x0010: Name: GLIBC_2.17  Flags: none  Version: 2\n \
        0x0020: Name: GLIBC_2.34  Flags: none  Version: 5\n \
        0x0030: Name: GLIBC_2.3  Flags: none  Version: 6\n";
    let versions = glibc_versions_needed(sample);
    assert_eq!(
        versions.into_iter().collect::<Vec<_>>(),
        [(2, 3), (2, 17), (2, 34)]
    );
    assert!((2, 35) > AL2023_GLIBC && (2, 4) < AL2023_GLIBC);
}

#[test]
fn every_deployment_zip_stays_under_budget() {
    for name in ALL_FUNCTIONS {
        let zipped = zipped_size(&built_bootstrap(name));
        assert!(
            zipped < ZIP_BUDGET_BYTES,
            "{name}: {zipped} bytes zipped, over the {ZIP_BUDGET_BYTES} budget"
        );
    }
}

/// An API Gateway response with what legitimately differs between two runs removed: the request
/// id, which the emulator draws at random for each invocation, and the request's span id.
fn comparable(mut response: Value) -> Value {
    if let Some(headers) = response["headers"].as_object_mut() {
        headers.remove("x-request-id");
        // The trace is the event's and must match; the request's span id is new each time.
        if let Some(Value::String(traceresponse)) = headers.get_mut("traceresponse") {
            let parts: Vec<&str> = traceresponse.split('-').collect();
            assert_eq!(parts.len(), 4, "{traceresponse}");
            *traceresponse = format!("{}-{}-<span>-{}", parts[0], parts[1], parts[3]);
        }
    }
    response
}

/// The function built from `name`, arm64 (what `sam build` made) and x86_64 (the workspace's own
/// build), each behind its own emulator with `env`.
async fn both_builds(name: &str, env: &[(&str, &str)]) -> [EmulatedFunction; 2] {
    [
        EmulatedFunction::start(&built_bootstrap(name), Machine::Arm64, env).await,
        EmulatedFunction::start(&binary(name), Machine::Native, env).await,
    ]
}

/// Sends `event` to both builds; asserts they answered alike and with `status`; returns the answer.
async fn same_answer(builds: &[EmulatedFunction; 2], event: &Value, status: u64) -> Value {
    let arm64 = comparable(builds[0].invoke(event).await);
    let x86_64 = comparable(builds[1].invoke(event).await);
    assert_eq!(
        arm64, x86_64,
        "arm64 and x86_64 answered differently to {event}"
    );
    assert_eq!(arm64["statusCode"], status, "{arm64}");
    arm64
}

fn body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().expect("a body")).expect("a JSON body")
}

#[tokio::test(flavor = "multi_thread")]
async fn in_memory_each_arm64_function_answers_as_the_x86_64_one() {
    for operation in Operation::ALL {
        // The status its own event gets from an empty store.
        let status = match operation {
            Operation::CreateUser => 201,
            Operation::ListUsers => 200,
            Operation::GetUser
            | Operation::UpdateUser
            | Operation::DeleteUser
            | Operation::FindUser => 404,
        };
        let name = operation.name();
        let builds = both_builds(name, IN_MEMORY).await;
        let own = fixture(&format!("{name}.json"));
        same_answer(&builds, &own, status).await;
        // Input errors and foreign routes take the same paths on both architectures.
        if own["pathParameters"]["id"].is_string() {
            let invalid = same_answer(&builds, &with_user_id(own.clone(), "abc"), 400).await;
            assert_eq!(body(&invalid)["code"], "invalid_argument");
        }
        let foreign = if name == "get-user" {
            "create-user.json"
        } else {
            "get-user.json"
        };
        let routed = same_answer(&builds, &fixture(foreign), 404).await;
        assert_eq!(body(&routed)["code"], "route_not_found");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn on_dynamodb_the_arm64_functions_walk_a_user_through_its_life_as_the_x86_64_ones() {
    let mut walks = Vec::new();
    for machine in [Machine::Arm64, Machine::Native] {
        let env = process_env(&fresh_table("shipped").await);
        let env = as_pairs(&env);
        let start = |name: &'static str| {
            let path = match machine {
                Machine::Arm64 => built_bootstrap(name),
                Machine::Native => binary(name),
            };
            let env = env.clone();
            async move { EmulatedFunction::start(&path, machine, &env).await }
        };
        let create = start("create-user").await;
        let get = start("get-user").await;
        let update = start("update-user").await;
        let list = start("list-users").await;
        let delete = start("delete-user").await;
        let find = start("find-user").await;
        let mut walk = Vec::new();
        walk.push(create.invoke(&fixture("create-user.json")).await);
        walk.push(get.invoke(&fixture("get-user.json")).await);
        walk.push(find.invoke(&fixture("find-user.json")).await);
        walk.push(update.invoke(&fixture("update-user.json")).await);
        walk.push(list.invoke(&fixture("list-users.json")).await);
        walk.push(delete.invoke(&fixture("delete-user.json")).await);
        walk.push(get.invoke(&fixture("get-user.json")).await);
        walks.push(walk.into_iter().map(comparable).collect::<Vec<_>>());
    }
    let (arm64, x86_64) = (&walks[0], &walks[1]);
    assert_eq!(arm64, x86_64, "arm64 and x86_64 walked differently");
    let statuses: Vec<&Value> = arm64.iter().map(|r| &r["statusCode"]).collect();
    assert_eq!(statuses, [201, 200, 200, 200, 200, 204, 404]);
    let ada = json!({"id": 1, "name": "Ada Lovelace", "email": "ada@example.com", "age": 36});
    assert_eq!(body(&arm64[0]), json!({"user": ada}));
    assert_eq!(body(&arm64[1]), json!({"user": ada}));
    assert_eq!(
        body(&arm64[2]),
        json!({"user": ada}),
        "found by ADA@example.com"
    );
    let older = json!({"id": 1, "name": "Ada Lovelace", "email": "ada@example.com", "age": 37});
    assert_eq!(body(&arm64[3]), json!({"user": older}));
    // A listed user carries its version (the update made it 2).
    let mut listed = older.clone();
    listed["version"] = json!(2);
    assert_eq!(
        body(&arm64[4]),
        json!({"users": [listed], "next_cursor": null})
    );
    assert_eq!(body(&arm64[6])["code"], "user_not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_arm64_events_function_publishes_a_stream_batch_as_the_x86_64_one() {
    let mut published = Vec::new();
    for machine in [Machine::Arm64, Machine::Native] {
        let subscription = Subscription::create("shipped-events", "users-api").await;
        let env = publisher_env(&subscription.bus);
        let path = match machine {
            Machine::Arm64 => built_bootstrap(EVENTS_FUNCTION),
            Machine::Native => binary(EVENTS_FUNCTION),
        };
        let function = EmulatedFunction::start(&path, machine, &as_pairs(&env)).await;
        let response = function.invoke(&stream_fixture()).await;
        assert_eq!(response, json!({"batchItemFailures": []}));
        let events: Vec<(Value, Value)> = subscription
            .receive(4)
            .await
            .into_iter()
            .map(|e| (e["detail-type"].clone(), e["detail"].clone()))
            .collect();
        published.push(events);
    }
    assert_eq!(
        published[0], published[1],
        "arm64 and x86_64 published differently"
    );
    let kinds: Vec<&Value> = published[0].iter().map(|(kind, _)| kind).collect();
    assert_eq!(
        kinds,
        ["UserCreated", "UserUpdated", "UserUpdated", "UserDeleted"]
    );
}
