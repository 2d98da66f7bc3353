//! Which layout a table's users are in, known before this process gives an answer that rests on it.
//!
//! The id counter records the shard count the table's users were first written with
//! ([`USER_SHARDS_ATTRIBUTE`]), set by the same `UpdateItem` that reserves ids, and that update
//! refuses a counter recording another count. So no create can ever write a user where this
//! version would not read it, and the stamp, once set, never changes.
//!
//! A user found at the key this version computes is that user whatever the table's layout (a
//! user's sort key is its id, and no other version writes where this one would not read), so a
//! get that finds one answers at once: a process's first GET of a user that exists is one round
//! trip ([`LayoutCheck::after_a_miss`]). Only an answer that rests on absence needs the layout: a
//! miss is checked after it was read (one strongly consistent `GetItem` of the counter's two
//! attributes, on the connection the read opened), and stands if the counter is absent (no user
//! existed when the read ran, since the counter is written before any user) or records this
//! version's count. Lists, updates and deletes check before they run ([`LayoutCheck::around`]),
//! so a foreign table is neither listed nor written. A check that saw this version's stamp, or
//! this process's own reservation, is kept for the life of the process; while the table has no
//! counter, each operation checks again after it ran, so a table stamped in another layout
//! meanwhile is refused rather than served half-visible. A table written before users were
//! sharded (a counter without the attribute) or with another shard count is refused with a
//! message naming "Upgrading a table" in docs/storage.md: the operation's result is dropped, and
//! an update or delete writes nothing.

use aws_sdk_dynamodb::Client;
use tokio::sync::OnceCell;

use super::errors::classify;
use super::items::{Item, counter_key};
use super::schema::USER_SHARDS_ATTRIBUTE;
use crate::store::StoreError;

/// This process's knowledge that the table is laid out in `shards` shards.
#[derive(Debug)]
pub(super) struct LayoutCheck {
    shards: u16,
    confirmed: OnceCell<()>,
}

/// What a look at the counter found, when it did not refuse the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// The counter records this process's layout: known for good.
    Confirmed,
    /// No counter yet: no user was ever written, so nothing can be half-visible now, but the
    /// first create (of any version) may stamp it at any moment.
    Unstamped,
}

impl LayoutCheck {
    pub fn new(shards: u16) -> Self {
        Self {
            shards,
            confirmed: OnceCell::new(),
        }
    }

    /// Reads the counter's layout stamp unless this process already knows it is right. A failure
    /// to read it is returned (and the check made again next time), never taken as a yes; so is
    /// a table with no stamp yet.
    pub async fn ensure(&self, client: &Client, table: &str) -> Result<Layout, StoreError> {
        if self.confirmed.initialized() {
            return Ok(Layout::Confirmed);
        }
        let layout = self.verify(client, table).await?;
        if layout == Layout::Confirmed {
            self.confirm();
        }
        Ok(layout)
    }

    /// Runs `operation` under the check: before it, and again after the operation when the table
    /// had no stamp, so that an answer is only ever given from a table this process can read
    /// whole.
    pub async fn around<T>(
        &self,
        client: &Client,
        table: &str,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let layout = self.ensure(client, table).await?;
        let result = operation.await;
        if layout == Layout::Unstamped {
            self.ensure(client, table).await?;
        }
        result
    }

    /// Runs a read of one user: a user found is the answer as it stands; a miss stands only once
    /// the table is known to be in this process's layout (checked after the read, so the first
    /// GET of a user that exists costs no extra round trip). A failed read is returned as it is.
    pub async fn after_a_miss<T>(
        &self,
        client: &Client,
        table: &str,
        read: impl Future<Output = Result<Option<T>, StoreError>>,
    ) -> Result<Option<T>, StoreError> {
        let found = read.await?;
        if found.is_none() {
            self.ensure(client, table).await?;
        }
        Ok(found)
    }

    /// The shard count this process reads and writes.
    pub fn shards(&self) -> u16 {
        self.shards
    }

    /// Records that the table is laid out as expected: the counter just accepted this shard count.
    pub fn confirm(&self) {
        let _ = self.confirmed.set(());
    }

    /// Reads the layout the counter records, and refuses it unless it is this process's: what
    /// the health check asks every time, and [`ensure`](Self::ensure) until it is confirmed.
    pub async fn verify(&self, client: &Client, table: &str) -> Result<Layout, StoreError> {
        let output = client
            .get_item()
            .table_name(table)
            .set_key(Some(counter_key()?))
            .projection_expression("last_id, #shards")
            .expression_attribute_names("#shards", USER_SHARDS_ATTRIBUTE)
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        match output.item {
            Some(counter) => self.check(table, &counter).map(|()| Layout::Confirmed),
            // No user was ever created: the first create stamps the layout.
            None => Ok(Layout::Unstamped),
        }
    }

    /// Whether `counter` (the id counter item, as read or as a failed condition returned it)
    /// records this process's layout.
    pub fn check(&self, table: &str, counter: &Item) -> Result<(), StoreError> {
        let stamp = counter
            .get(USER_SHARDS_ATTRIBUTE)
            .and_then(|value| value.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok());
        let found = match stamp {
            Some(shards) if shards == u64::from(self.shards) => return Ok(()),
            None if !counter.contains_key("last_id") => return Ok(()),
            Some(count) => format!("in {count} shards"),
            None => "in one partition (written before users were sharded)".to_owned(),
        };
        Err(StoreError::Internal(
            format!(
                "table {table} holds users laid out {found}, and this version reads {} shards: \
                 nothing was read or written; see \"Upgrading a table\" in docs/storage.md",
                self.shards
            )
            .into(),
        ))
    }
}
