//! The benchmark behind `./scripts/bench`: prints one table and writes it as JSON.
//!
//! It expects release binaries next to itself (`target/release`), `wrk` on `PATH` and a
//! DynamoDB-compatible server at `MOTO_ENDPOINT`; `./scripts/bench` arranges all three. Figures
//! are medians and percentiles of repeated runs on this machine; nothing here is a pass/fail test.

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use integration_tests::dynamo;
use integration_tests::lambda_target::{fixture, with_user_id};
use integration_tests::processes::{ALL_FUNCTIONS, LocalApi, binary, spawn_listening};
use integration_tests::recording::{CallLog, recording_client};
use integration_tests::runtime_api::{
    RuntimeApi, assert_not_server_error, lambda_command, lambda_command_under,
};
use integration_tests::sam::zipped_size;
use integration_tests::{IN_MEMORY, TestRequest};
use lambda_http::http::Method;
use serde_json::{Value, json};
use shared::domain::{NewUser, PageLimit, PageStart, Precondition, UserChanges, UserId};
use shared::store::{
    DynamoStore, MemoryStore, StoreCreate, StoreDelete, StoreGet, StoreList, StoreUpdate,
};

mod calls;
mod capacity;
mod cold;
mod http;
mod instructions;
mod listing;
mod managed;
mod share;
mod sizes;
mod typed_client;
mod warm;
use calls::*;
use capacity::*;
use cold::*;
use http::*;
use instructions::*;
use listing::*;
use managed::*;
use share::*;
use sizes::*;
use typed_client::*;
use warm::*;

const COLD_SPAWNS: usize = 40;
const WARM_INVOCATIONS: usize = 10_000;
/// Seconds of each wrk run.
const WRK_SECONDS: u64 = 5;
/// Rounds of a ceiling run followed by a `GET /users/{id}` run; the published ratio is the median
/// of the rounds' ratios.
const HTTP_ROUNDS: usize = 5;

#[tokio::main]
async fn main() {
    let mut report = BTreeMap::new();
    report.insert("machine", machine());
    println!("# users-api benchmark\n\n{}\n", report["machine"]);
    // Sections named on the command line run alone (`bench cold warm`): for tuning one figure
    // without waiting for the rest. The published table is always a full run.
    let only: Vec<String> = std::env::args().skip(1).collect();
    let wanted = |section: &str| only.is_empty() || only.iter().any(|s| s == section);
    if wanted("sizes") {
        report.insert("sizes", sizes());
    }
    if wanted("cold") {
        report.insert("cold_start", cold_starts().await);
    }
    if wanted("share") {
        report.insert(
            "first_request_at_cpu_share",
            first_request_at_cpu_share().await,
        );
    }
    if wanted("warm") {
        report.insert("warm", warm().await);
    }
    if wanted("http") {
        report.insert("local_api_http", http_throughput().await);
    }
    if wanted("instructions") {
        report.insert("instructions_per_request", instructions().await);
    }
    if wanted("listing") {
        report.insert("listing", listing().await);
    }
    if wanted("calls") {
        report.insert("dynamodb_calls", dynamodb_calls().await);
    }
    if wanted("client") {
        report.insert("client", client_figures().await);
    }
    if wanted("capacity") {
        report.insert("capacity", capacity().await);
    }
    if wanted("managed") {
        report.insert("managed_instances", managed_instances().await);
    }
    let out = repo().join("bench-results");
    std::fs::create_dir_all(&out).unwrap();
    let path = out.join("latest.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("\nwritten to {}", path.display());
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    // "-dirty" when the tree has uncommitted changes: those figures belong to no commit.
    let commit = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--exclude", "*"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    json!({"cpu": cpu, "cores": cores, "arch": std::env::consts::ARCH, "commit": commit})
}
