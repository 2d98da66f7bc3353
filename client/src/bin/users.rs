//! `users`: the users API from a shell, over the typed client (discovery, balancing, safe
//! retries, circuit breaking, SigV4).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use client::bulk::{self, BulkSettings, Outcome, Progress};
use client::discovery::{self, BaseUrl};
use client::policy::RetryPolicy;
use client::signing::Signer;
use client::{
    ClientConfig, CreateUser, ErrorKind, UserRecord, UserUpdate, Users, UsersClient, UsersError,
};
use serde::Deserialize;
use shared::domain::{Precondition, UserId};

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
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(level)
        .init();
    match run(cli).await {
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
            import(Arc::new(client), &file, format, &settings).await?
        }
        Command::Export { format, patience } => {
            let settings = BulkSettings {
                ceiling: 1,
                patience: Duration::from_secs(patience),
                pause: Duration::from_millis(200),
            };
            export(&client, format, &settings).await?
        }
    }
    Ok(())
}

fn print_users(output: Output, users: &[UserRecord], single: bool) {
    let mut stdout = std::io::stdout().lock();
    match output {
        Output::Json if single && users.len() == 1 => {
            let _ = writeln!(
                stdout,
                "{}",
                serde_json::to_string(&users[0]).expect("plain data")
            );
        }
        Output::Json => {
            for user in users {
                let _ = writeln!(
                    stdout,
                    "{}",
                    serde_json::to_string(user).expect("plain data")
                );
            }
        }
        Output::Table => {
            let _ = write!(stdout, "{}", table(users));
        }
    }
}

fn print_page(output: Output, page: &client::UserPage) {
    match output {
        Output::Json => println!("{}", serde_json::to_string(page).expect("plain data")),
        Output::Table => {
            print!("{}", table(&page.users));
            if let Some(cursor) = &page.next_cursor {
                println!("next: --cursor {cursor}");
            }
        }
    }
}

/// Users as aligned columns; a version column when the users have versions (a listing does not
/// carry them).
fn table(users: &[UserRecord]) -> String {
    let versions = users.iter().any(|u| u.version.is_some());
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            let mut row = vec![
                u.id.to_string(),
                u.name.clone(),
                u.email.clone(),
                u.age.to_string(),
            ];
            if versions {
                row.push(u.version.map(|v| v.to_string()).unwrap_or_default());
            }
            row
        })
        .collect();
    let mut header: Vec<String> = ["ID", "NAME", "EMAIL", "AGE"].map(str::to_owned).into();
    if versions {
        header.push("VERSION".to_owned());
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// One row of an import file.
#[derive(Debug, Clone, Deserialize)]
struct Row {
    name: String,
    email: String,
    #[serde(default)]
    age: Option<i64>,
}

/// The rows of a file with their line numbers, each read or why it could not be.
type NumberedRows = Vec<(u64, Result<Row, String>)>;

fn read_rows(file: &std::path::Path, format: Format) -> Result<NumberedRows, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::usage(format!("{}: {e}", file.display())))?;
    match format {
        Format::Ndjson => Ok(text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                (
                    i as u64 + 1,
                    serde_json::from_str(line).map_err(|e| e.to_string()),
                )
            })
            .collect()),
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .from_reader(text.as_bytes());
            let headers = reader
                .headers()
                .map_err(|e| Failure::usage(format!("{}: {e}", file.display())))?
                .clone();
            let mut rows = Vec::new();
            for record in reader.records() {
                let row = match record {
                    Ok(record) => {
                        let line = record.position().map_or(0, |p| p.line());
                        (
                            line,
                            record
                                .deserialize(Some(&headers))
                                .map_err(|e| e.to_string()),
                        )
                    }
                    Err(e) => (e.position().map_or(0, |p| p.line()), Err(e.to_string())),
                };
                rows.push(row);
            }
            Ok(rows)
        }
    }
}

/// The idempotency key of a row: its line and content, so that rerunning the same file replays
/// every create that already happened, and a corrected row is created anew. SHA-256 over the
/// fields, each ended by a separator: stable across runs, platforms and versions of this tool.
fn row_key(line: u64, row: &Row) -> String {
    use sha2::{Digest, Sha256};
    let age = row.age.map(|age| age.to_string()).unwrap_or_default();
    let mut hash = Sha256::new();
    for field in [&line.to_string(), &row.name, &row.email, &age] {
        hash.update(field.as_bytes());
        hash.update([0x1f]);
    }
    let digest = hash.finalize();
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("import-{line}-{hex}")
}

/// The import's progress bar on a terminal's stderr (none elsewhere): rows answered, rate, time
/// left, and what the job is doing.
fn progress_bar(total: usize) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {percent:>3}% {pos}/{len} rows  {per_sec:.0}  eta {eta}  {msg}",
        )
        .expect("a valid template"),
    );
    bar
}

/// The bar's message: what the counts do not show.
fn progress_message(progress: &Progress) -> String {
    format!(
        "imported {}, refused {}, retrying {}, concurrency {}",
        progress.done, progress.refused, progress.retrying, progress.concurrency
    )
}

async fn import(
    client: Arc<UsersClient>,
    file: &std::path::Path,
    format: Option<Format>,
    settings: &BulkSettings,
) -> Result<(), Failure> {
    let format = format.unwrap_or(match file.extension().and_then(|e| e.to_str()) {
        Some("csv") => Format::Csv,
        _ => Format::Ndjson,
    });
    let rows = read_rows(file, format)?;
    let total = rows.len();
    let mut refused: Vec<(u64, String)> = Vec::new();
    let mut valid = Vec::new();
    for (line, row) in rows {
        match row {
            Ok(row) => valid.push((line, row)),
            Err(error) => refused.push((line, error)),
        }
    }
    let bar = progress_bar(total);
    let unreadable = refused.len() as u64;
    let outcomes = bulk::run(
        valid.clone(),
        settings,
        |(line, row): (u64, Row)| {
            let client = client.clone();
            async move {
                let key = row_key(line, &row);
                let user = CreateUser {
                    name: row.name,
                    email: row.email,
                    age: row.age,
                };
                client.create(user, Some(&key)).await
            }
        },
        |progress| {
            // Called twice per row: nothing to format when there is no bar to draw.
            if !bar.is_hidden() {
                bar.set_position(unreadable + (progress.done + progress.refused) as u64);
                bar.set_message(progress_message(&progress));
            }
        },
    )
    .await;
    bar.finish_and_clear();
    let mut imported = 0;
    let mut not_imported = Vec::new();
    for ((line, _), outcome) in valid.iter().zip(outcomes) {
        match outcome {
            Outcome::Done(_) => imported += 1,
            Outcome::Refused(error) => refused.push((*line, error.to_string())),
            Outcome::NotDone {
                last_error,
                attempted,
            } => {
                let why = match (attempted, last_error) {
                    (true, Some(error)) => format!("not imported, the API did not answer: {error}"),
                    _ => "not sent: the API had stopped answering".to_owned(),
                };
                not_imported.push((*line, why));
            }
        }
    }
    let mut reported: Vec<_> = refused.iter().chain(&not_imported).collect();
    reported.sort();
    for (line, error) in reported {
        eprintln!("{}:{line}: {error}", file.display());
    }
    let failed = refused.len() + not_imported.len();
    eprintln!("{imported} of {total} rows imported, {failed} failed");
    if !refused.is_empty() {
        return Err(Failure {
            code: 8,
            message: format!(
                "import incomplete: {} of {total} rows failed (listed above); fix them and run \
                 the same import again",
                failed
            ),
        });
    }
    if !not_imported.is_empty() {
        return Err(Failure {
            code: 6,
            message: format!(
                "import incomplete: the API did not answer for {} s, {} of {total} rows are not \
                 imported; run the same import again to finish",
                settings.patience.as_secs(),
                not_imported.len()
            ),
        });
    }
    Ok(())
}

async fn export(
    client: &UsersClient,
    format: Format,
    settings: &BulkSettings,
) -> Result<(), Failure> {
    // Rows go out page by page as they arrive: an export of a large table starts at once and
    // holds one page in memory.
    let mut csv = csv::Writer::from_writer(std::io::stdout());
    if format == Format::Csv {
        csv.write_record(["id", "name", "email", "age"])
            .map_err(write_failed)?;
    }
    let mut cursor: Option<String> = None;
    loop {
        let page = bulk::patiently(settings, || client.list(Some(100), cursor.as_deref())).await?;
        for user in &page.users {
            match format {
                Format::Csv => csv
                    .write_record([
                        user.id.to_string(),
                        user.name.clone(),
                        user.email.clone(),
                        user.age.to_string(),
                    ])
                    .map_err(write_failed)?,
                Format::Ndjson => {
                    let line = serde_json::to_string(user).expect("plain data");
                    writeln!(std::io::stdout(), "{line}").map_err(write_failed)?;
                }
            }
        }
        csv.flush().map_err(write_failed)?;
        cursor = page.next_cursor;
        if cursor.is_none() {
            return Ok(());
        }
    }
}

fn write_failed(error: impl std::fmt::Display) -> Failure {
    Failure {
        code: 1,
        message: format!("cannot write the export: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_message_names_every_count() {
        let progress = Progress {
            done: 5,
            refused: 1,
            retrying: 2,
            concurrency: 16,
        };
        assert_eq!(
            progress_message(&progress),
            "imported 5, refused 1, retrying 2, concurrency 16"
        );
    }

    /// The key of line 2, Ada, a@example.com, 36: SHA-256 of `2␟Ada␟a@example.com␟36␟`, as
    /// Python's hashlib computes it too.
    const KEY_OF_LINE_2: &str = "import-2-b692d529167056a63b45dedf";

    #[test]
    fn row_keys_name_the_line_and_the_content() {
        let row = |email: &str| Row {
            name: "Ada".into(),
            email: email.into(),
            age: Some(36),
        };
        let key = |line, email| row_key(line, &row(email));
        assert_eq!(key(2, "a@example.com"), key(2, "a@example.com"));
        assert_ne!(key(2, "a@example.com"), key(3, "a@example.com"));
        assert_ne!(key(2, "a@example.com"), key(2, "b@example.com"));
        // Fixed for ever: a rerun with a later version of the tool must find the same keys.
        assert_eq!(key(2, "a@example.com"), KEY_OF_LINE_2);
        let no_age = Row {
            age: None,
            ..row("a@example.com")
        };
        assert_ne!(row_key(2, &no_age), KEY_OF_LINE_2);
    }
}
