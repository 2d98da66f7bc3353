//! What the commands print: JSON, or a table for people.

use std::io::Write;

use client::UserRecord;

use crate::Output;

pub(crate) fn print_users(output: Output, users: &[UserRecord], single: bool) {
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

pub(crate) fn print_page(output: Output, page: &client::UserPage) {
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
