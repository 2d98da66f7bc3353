//! `local-api`: every route of the users API in one process, for local development.
//!
//! It serves the very same [`shared::transport::Api`] as the Lambda functions, so what works here
//! works deployed.

mod reference;
mod server;

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use shared::ErrorChain;
use shared::bootstrap;
use shared::config::{Config, StoreConfig};
use shared::middleware::observe;
use shared::store::dynamodb::schema;
use shared::telemetry::{self, LogFormat};
use shared::transport::Api;
use tokio::net::TcpListener;

/// The users API on one local port.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to bind. Loopback by default, so nothing outside this machine can reach it.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0 picks a free one; the address is printed on stdout).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    port: u16,
    /// Create the DynamoDB table named by USERS_TABLE if it does not exist, then serve.
    #[arg(long)]
    create_table: bool,
    /// Most requests in flight at once on the users routes; the excess is answered 503 with
    /// Retry-After at once rather than queued.
    #[arg(long, env = "MAX_IN_FLIGHT", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_in_flight: u32,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    telemetry::init(LogFormat::from_env(), "local-api");
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "local-api stopped");
            eprintln!("local-api: {error}");
            ExitCode::FAILURE
        }
    }
}

/// How often queued histogram samples are folded into the exposition. Samples queue for this long
/// between upkeeps: at 100k requests/s, the exporter's default of 5 s held ~10 MiB of them, 1 s
/// holds ~2 MiB, and an upkeep costs microseconds.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(1);

/// Upper bounds, in seconds, of the latency histograms' buckets: from an in-memory read (~0.1 ms)
/// to the DynamoDB client's retries giving up (seconds).
const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// `install_recorder` leaves upkeep to its caller: without it every latency sample stays queued
/// until the next scrape of `/metrics`, so a `local-api` that nobody scrapes grows by a few bytes
/// per request for ever (measured by `./scripts/bench`: local-api memory before and after load).
fn spawn_metrics_upkeep(metrics: PrometheusHandle) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(METRICS_UPKEEP_EVERY);
        loop {
            every.tick().await;
            metrics.run_upkeep();
        }
    });
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let config = Config::from_env()?;
    if args.create_table {
        let StoreConfig::DynamoDb {
            table, trust_roots, ..
        } = &config.store
        else {
            return Err(
                "--create-table needs USERS_TABLE: the in-memory store has no table".into(),
            );
        };
        let client = bootstrap::dynamodb_client(&config, trust_roots).await;
        let outcome = schema::create_table(&client, table)
            .await
            .map_err(|e| format!("cannot create table {table}: {}", ErrorChain(e.as_ref())))?;
        tracing::info!(table = %table, ?outcome, "table ready");
    }
    let metrics = PrometheusBuilder::new()
        .set_buckets(&LATENCY_BUCKETS)?
        .install_recorder()?;
    spawn_metrics_upkeep(metrics.clone());
    observe::describe_metrics();
    metrics::describe_counter!(
        server::SHED_METRIC,
        "requests refused because max-in-flight requests were already being served"
    );
    let api = Api::all_routes(bootstrap::store(&config).await)
        .with_idempotency_ttl(config.idempotency_ttl);
    let listener = TcpListener::bind((args.host, args.port))
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", args.host, args.port))?;
    let address = listener.local_addr()?;
    let shutdown = server::shutdown_signal()?;
    // Tests and scripts read this line to find the port when started with --port 0.
    println!(
        "local-api listening on http://{address} (store: {})",
        config.store.backend_name()
    );
    server::serve(
        listener,
        api,
        metrics,
        args.max_in_flight as usize,
        shutdown,
    )
    .await;
    Ok(())
}
