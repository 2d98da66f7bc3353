//! `users export`: every user, page by page as the pages arrive.

use std::io::Write;

use client::bulk::{self, BulkSettings};
use client::{Users, UsersClient};

use crate::{Failure, Format};

pub(crate) async fn export(
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
