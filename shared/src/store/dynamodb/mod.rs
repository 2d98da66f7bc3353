//! The DynamoDB backend: the production store, correct under any number of concurrent Lambda
//! instances because every invariant is enforced by DynamoDB conditions, never by a read followed
//! by a write.
//!
//! Round trips per operation (all reads strongly consistent, so a client reads its own writes):
//!
//! | operation | calls |
//! |---|---|
//! | get | 1 `GetItem` |
//! | find by email | 2 `GetItem`s, one after the other: the email's claim, then the user it names |
//! | create | 1 `TransactWriteItems` (user + email claim), plus 1 `UpdateItem` on the counter once per id block |
//! | update (no new email) | 1 `GetItem` + 1 `TransactWriteItems` (the user alone) |
//! | update with a new email | 1 `GetItem` + 1 `TransactWriteItems` (user + old claim + new claim) |
//! | delete | 1 `GetItem` + 1 `TransactWriteItems` (user + claim) |
//! | list by cursor | 1 `Query` per shard, concurrently, of about `limit / shards + 1` items each ([`listing`]) |
//! | list by `page=P` | the same, key-only, per 1,000 users skipped, then the page's |
//!
//! Once per process, before its first update, delete or list, or after its first get or find that
//! finds no user, one strongly consistent `GetItem` of the counter checks the table's layout
//! ([`layout`]). A get or find that finds its user needs no check.
//!
//! Every write is a transaction under a request token, conditional on what was read. A write
//! whose answer is lost after DynamoDB applied it is sent again by the SDK, and DynamoDB answers
//! the repeat from its `ClientRequestToken` (within 10 minutes, whatever was written since):
//! never applied twice, never answered as its own conflict ([`DynamoStore::transact`]). Where a
//! server does not honour the token, the `write_token` each write leaves on the user's item,
//! read back from a failed condition (`ReturnValuesOnConditionCheckFailure`, no extra call),
//! still recognises the repeat while no one else has written since.
//!
//! An update costs 2 write units (a transaction's) and 1 read unit, where a bare `UpdateItem`
//! would cost 1 write unit: a bare `UpdateItem` carries no request token, and its resend after a
//! lost answer was applied a second time, over later acknowledged writes.
//!
//! One module per operation beside this one, which holds the store and its reads: [`creating`],
//! [`updating`], [`deleting`] and [`listing`].

mod attempts;
mod creating;
mod deleting;
mod errors;
mod ids;
mod items;
mod layout;
mod listing;
mod metrics;
pub mod schema;
#[cfg(test)]
mod scripted_tests;
mod trace_header;
mod transaction;
mod update_expression;
mod updating;

pub(crate) use self::items::{trace_from_image, user_from_image};
pub(crate) use self::metrics::AttemptMetrics;
pub(crate) use self::trace_header::TraceHeader;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

use self::errors::classify;
use self::ids::IdAllocator;
use self::items::{EmailClaim, Item, UserItem, claim_key, user_key};
use self::layout::LayoutCheck;
use self::schema::USER_SHARDS;
use super::{StoreError, StoreFind, StoreGet, StorePing};
use crate::domain::{User, UserId, email_key};

/// Default ids reserved per counter update; see [`ids`](self::ids) for the trade-off.
pub const DEFAULT_ID_BLOCK_SIZE: u64 = 50;

/// How often an operation that lost a race (a concurrent update, a transaction conflict) is
/// re-run from a fresh read before giving up with `Unavailable`.
pub(super) const MAX_OPTIMISTIC_ROUNDS: u32 = 4;

/// Users in a DynamoDB table laid out as [`schema`] describes.
#[derive(Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    ids: IdAllocator,
    layout: LayoutCheck,
}

impl DynamoStore {
    /// A store over `table`, its users in [`USER_SHARDS`] shards. The client is built once per
    /// process and shared by every request.
    pub fn new(client: Client, table: impl Into<String>, id_block_size: u64) -> Self {
        Self {
            client,
            table: table.into(),
            ids: IdAllocator::new(id_block_size),
            layout: LayoutCheck::new(USER_SHARDS),
        }
    }

    /// The same store with its users in `shards` shards instead: what the benchmark and the tests
    /// compare layouts with. A table keeps the count it was first written with.
    pub fn with_user_shards(self, shards: u16) -> Self {
        Self {
            layout: LayoutCheck::new(shards.max(1)),
            ..self
        }
    }

    /// Runs a list or a write once the table is known to be laid out as this store reads it
    /// (see [`layout`]).
    async fn checked<T>(
        &self,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.layout
            .around(&self.client, &self.table, operation)
            .await
    }

    fn shards(&self) -> u16 {
        self.layout.shards()
    }

    /// The key of user `id` in this store's layout.
    fn key(&self, id: UserId) -> Result<Item, StoreError> {
        user_key(id, self.shards())
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The item at `key`, read strongly consistently (so a client reads its own writes).
    async fn read_item(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(output.item)
    }

    async fn read(&self, id: UserId) -> Result<Option<UserItem>, StoreError> {
        let item = self.read_item(self.key(id)?).await?;
        item.map(UserItem::from_item).transpose()
    }

    /// The claim of `email`, then the user it names. The two are written and removed together,
    /// in one transaction, but read here one after the other: a user deleted in between is not
    /// found, and one whose email changed in between no longer holds it. Either answer is one
    /// the email really had during the call: a claim moves to another user only by being
    /// removed first, so between the first holder letting it go and the next taking it (if one
    /// did) there was a moment when no user held it.
    async fn find(&self, email: &str) -> Result<Option<User>, StoreError> {
        let key = email_key(email);
        let claim = self.read_item(claim_key(&key)?).await?;
        let Some(claim) = claim.map(EmailClaim::from_item).transpose()? else {
            return Ok(None);
        };
        let id = UserId::new(claim.user_id)
            .ok_or_else(|| StoreError::Internal("email claim for user 0".into()))?;
        match self.read(id).await? {
            Some(item) if item.email_key == key => item.to_user().map(Some),
            _ => Ok(None),
        }
    }
}

#[async_trait]
impl StorePing for DynamoStore {
    fn backend(&self) -> &'static str {
        "dynamodb"
    }

    /// The layout check, made afresh: one strongly consistent `GetItem` of the counter item,
    /// one read unit, using only an action every reading function already has. So a table
    /// this version refuses is unhealthy too, not only unreachable ones.
    async fn ping(&self) -> Result<(), StoreError> {
        self.layout
            .verify(&self.client, &self.table)
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl StoreFind for DynamoStore {
    /// A miss stands, as a get's does, once the table is known to be in this process's layout:
    /// a claim whose user is not where this layout puts it must not read as "no such user".
    async fn find_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.layout
            .after_a_miss(&self.client, &self.table, self.find(email))
            .await
    }
}

#[async_trait]
impl StoreGet for DynamoStore {
    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.layout
            .after_a_miss(&self.client, &self.table, self.read(id))
            .await?
            .map(|item| item.to_user())
            .transpose()
    }
}
