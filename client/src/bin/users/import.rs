//! `users import`: rows from CSV or NDJSON, each created once however often the file is run.

use std::io::IsTerminal;
use std::sync::Arc;

use client::bulk::{self, BulkSettings, Outcome, Progress};
use client::{CreateUser, Users, UsersClient};
use serde::Deserialize;

use crate::{Failure, Format};

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
    format!("import-{line}-{}", hex::encode(&digest[..12]))
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

pub(crate) async fn import(
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
