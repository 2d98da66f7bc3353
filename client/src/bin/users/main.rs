//! `users`: the users API from a shell, over the typed client (discovery, balancing, safe
//! retries, circuit breaking, SigV4).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use client::bulk::BulkSettings;
use client::discovery::{self, BaseUrl};
use client::policy::RetryPolicy;
use client::signing::Signer;
use client::{ClientConfig, CreateUser, ErrorKind, UserUpdate, Users, UsersClient, UsersError};
use shared::domain::{Precondition, UserId};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

mod export;
mod import;
mod output;

use self::output::{print_page, print_users};

const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  internal error (a server bug, or an answer that is not the API's)
  2  usage error
  3  invalid request (bad id, bad field)
  4  user not found
  5  conflict: email taken, changed since --if-match, idempotency key reused
  6  unavailable: no endpoint answered in time (retry later)
  7  not allowed: unsigned request, wrong credentials or no execute-api:Invoke permission
  8  import: some rows were refused (each reported with its line number)
  6  also for an import the API stopped answering for --patience seconds (run it again to finish)

Examples:
  users --endpoint http://127.0.0.1:3000 create --name 'Ada Lovelace' --email ada@example.com --age 36
  users --endpoint http://127.0.0.1:3000 get 1
  users --endpoint http://127.0.0.1:3000 find --email ADA@example.com
  users --endpoint http://127.0.0.1:3000 update 1 --age 37 --if-match 1
  users --endpoint http://127.0.0.1:3000 list --all --output json
  USERS_API_URL=http://127.0.0.1:3000,http://127.0.0.1:3001 users import people.csv
  users --stack users-api export --format csv > users.csv   # deployed: signed with your AWS credentials";

/// The users API from a shell.
#[derive(Debug, Parser)]
#[command(name = "users", version, about, after_help = EXIT_CODES)]
struct Cli {
    /// API base URL; repeat for several endpoints (calls are balanced across them).
    #[arg(
        long = "endpoint",
        value_name = "URL",
        env = "USERS_API_URL",
        value_delimiter = ',',
        global = true
    )]
    endpoints: Vec<String>,
    /// Read the API's URL from this CloudFormation stack's ApiUrl output (the stack sam deploy
    /// made); takes precedence over --endpoint and USERS_API_URL.
    #[arg(long, value_name = "NAME", global = true)]
    stack: Option<String>,
    /// Sign requests with SigV4 (default: only for API Gateway URLs).
    #[arg(long, global = true, overrides_with = "no_sign")]
    sign: bool,
    /// Never sign requests.
    #[arg(long, global = true)]
    no_sign: bool,
    /// Output format (default: a table on a terminal, JSON otherwise).
    #[arg(long, value_enum, global = true)]
    output: Option<Output>,
    /// Attempts per call, the first included.
    #[arg(long, default_value_t = 3, global = true, value_parser = clap::value_parser!(u32).range(1..=10))]
    attempts: u32,
    /// Time allowed for a whole call, retries included, in milliseconds.
    #[arg(long, default_value_t = 3000, global = true)]
    budget_ms: u64,
    /// Time allowed for one attempt, in milliseconds.
    #[arg(long, default_value_t = 2000, global = true)]
    attempt_timeout_ms: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Csv,
    Ndjson,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a user.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        age: Option<i64>,
        /// Reuse a key to make a retried create safe across runs of this command.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Show a user (with its version, for --if-match).
    Get { id: String },
    /// Change some of a user's fields.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        age: Option<i64>,
        /// Only if the user is still at this version (`*`: only if it still exists).
        #[arg(long, value_name = "VERSION", value_parser = precondition)]
        if_match: Option<Precondition>,
    },
    /// Delete a user.
    Delete {
        id: String,
        /// Only if the user is still at this version (`*`: only if it still exists).
        #[arg(long, value_name = "VERSION", value_parser = precondition)]
        if_match: Option<Precondition>,
    },
    /// Show the user holding an email (in any case). The address goes in the request's body,
    /// never its URL, so no access log keeps it.
    Find {
        #[arg(long)]
        email: String,
    },
    /// List users in id order.
    List {
        /// Users per page (1 to 100).
        #[arg(long)]
        limit: Option<u32>,
        /// Start after this cursor (the next_cursor of a previous page).
        #[arg(long)]
        cursor: Option<String>,
        /// Follow the cursors to the end, printing users as they arrive.
        #[arg(long)]
        all: bool,
    },
    /// Create users from a CSV file (header row: name,email[,age]) or NDJSON; safe to rerun.
    Import {
        file: PathBuf,
        /// Default: from the extension (.csv, else NDJSON).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Most creates in flight at once; fewer while the API is slow, throttles or sheds load.
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=256))]
        concurrency: u32,
        /// Seconds without any answer from the API after which the import stops, reporting the
        /// rows it could not import (a rerun finishes them).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86400))]
        patience: u64,
    },
    /// Print every user, streamed.
    Export {
        #[arg(long, value_enum, default_value = "ndjson")]
        format: Format,
        /// Seconds a page may wait for an API that is unavailable, throttles or sheds load
        /// before the export stops.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86400))]
        patience: u64,
    },
}

/// A failure of the command, with its exit code.
struct Failure {
    code: u8,
    message: String,
}

impl From<UsersError> for Failure {
    fn from(error: UsersError) -> Self {
        let code = match error.kind {
            ErrorKind::Internal { .. } => 1,
            ErrorKind::InvalidArgument { .. } => 3,
            ErrorKind::NotFound => 4,
            ErrorKind::EmailTaken
            | ErrorKind::PreconditionFailed
            | ErrorKind::IdempotencyKeyReused => 5,
            ErrorKind::Unavailable { .. } => 6,
            ErrorKind::Forbidden { .. } => 7,
        };
        Failure {
            code,
            message: error.to_string(),
        }
    }
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 3,
            message: message.into(),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Warnings (an endpoint's circuit opening) by default; USERS_LOG=info or debug for more.
    let level = match std::env::var("USERS_LOG").as_deref() {
        Ok("debug") => tracing::Level::DEBUG,
        Ok("info") => tracing::Level::INFO,
        _ => tracing::Level::WARN,
    };
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(LevelFilter::from_level(level));
    let subscriber =
        shared::otlp::with_spans(tracing_subscriber::registry().with(log), "users-cli");
    let _ = tracing::subscriber::set_global_default(subscriber);
    let outcome = run(cli).await;
    shared::otlp::flush().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("users: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

async fn client(cli: &Cli) -> Result<UsersClient, Failure> {
    let usage = |e: &dyn std::fmt::Display| Failure::usage(e.to_string());
    // The AWS configuration is loaded only when a stack or a signature needs it: it reads
    // profiles and may ask SSO.
    let mut aws = None;
    let endpoints: Vec<BaseUrl> = match &cli.stack {
        Some(stack) => discovery::from_stack(aws.insert(client::aws_config().await), stack).await,
        None => discovery::from_list(&cli.endpoints),
    }
    .map_err(|e| usage(&e))?;
    let mut config = ClientConfig::new(endpoints);
    config.sign = match (cli.sign, cli.no_sign) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    config.retry = RetryPolicy {
        max_attempts: cli.attempts,
        budget: Duration::from_millis(cli.budget_ms),
        ..RetryPolicy::default()
    };
    config.attempt_timeout = Duration::from_millis(cli.attempt_timeout_ms);
    let signer = if config.endpoints.iter().any(|e| config.signs(e)) {
        let aws = match aws {
            Some(aws) => aws,
            None => client::aws_config().await,
        };
        Some(Signer::from_config(&aws).map_err(|e| usage(&e))?)
    } else {
        None
    };
    Ok(UsersClient::new(config, signer)?)
}

/// `--if-match`: a version, or `*`.
fn precondition(raw: &str) -> Result<Precondition, String> {
    match raw.trim() {
        "*" => Ok(Precondition::Exists),
        version => version
            .trim_matches('"')
            .parse()
            .map(Precondition::Version)
            .map_err(|_| format!("{raw:?} is neither a version nor *")),
    }
}

fn user_id(raw: &str) -> Result<UserId, Failure> {
    raw.parse()
        .map_err(|e: shared::domain::InvalidUserId| Failure::usage(format!("{raw:?}: {e}")))
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let output = cli.output.unwrap_or(if std::io::stdout().is_terminal() {
        Output::Table
    } else {
        Output::Json
    });
    let client = client(&cli).await?;
    match cli.command {
        Command::Create {
            name,
            email,
            age,
            idempotency_key,
        } => {
            let user = client
                .create(CreateUser { name, email, age }, idempotency_key.as_deref())
                .await?;
            print_users(output, &[user], true);
        }
        Command::Get { id } => {
            let user = client.get(user_id(&id)?).await?;
            print_users(output, &[user], true);
        }
        Command::Update {
            id,
            name,
            email,
            age,
            if_match,
        } => {
            let user = client
                .update(
                    user_id(&id)?,
                    UserUpdate { name, email, age },
                    if_match.unwrap_or_default(),
                )
                .await?;
            print_users(output, &[user], true);
        }
        Command::Delete { id, if_match } => {
            client
                .delete(user_id(&id)?, if_match.unwrap_or_default())
                .await?;
        }
        Command::Find { email } => {
            let user = client.find_by_email(&email).await?;
            print_users(output, &[user], true);
        }
        Command::List { limit, cursor, all } => {
            let mut cursor = cursor;
            loop {
                let page = client.list(limit, cursor.as_deref()).await?;
                if all {
                    print_users(output, &page.users, false);
                } else {
                    print_page(output, &page);
                }
                cursor = page.next_cursor;
                if !all || cursor.is_none() {
                    break;
                }
            }
        }
        Command::Import {
            file,
            format,
            concurrency,
            patience,
        } => {
            let settings = BulkSettings {
                ceiling: concurrency as usize,
                patience: Duration::from_secs(patience),
                pause: Duration::from_millis(200),
            };
            import::import(Arc::new(client), &file, format, &settings).await?
        }
        Command::Export { format, patience } => {
            let settings = BulkSettings {
                ceiling: 1,
                patience: Duration::from_secs(patience),
                pause: Duration::from_millis(200),
            };
            export::export(&client, format, &settings).await?
        }
    }
    Ok(())
}
