//! The DynamoDB backend: the production store, correct under any number of concurrent Lambda
//! instances because every invariant is enforced by DynamoDB conditions, never by a read followed
//! by a write.
//!
//! Round trips per operation (all reads strongly consistent, so a client reads its own writes):
//!
//! | operation | calls |
//! |---|---|
//! | get | 1 `GetItem` |
//! | create | 1 `TransactWriteItems` (user + email claim), plus 1 `UpdateItem` on the counter once per id block |
//! | update (no new email) | 1 `GetItem` + 1 `TransactWriteItems` (the user alone) |
//! | update with a new email | 1 `GetItem` + 1 `TransactWriteItems` (user + old claim + new claim) |
//! | delete | 1 `GetItem` + 1 `TransactWriteItems` (user + claim) |
//! | list by cursor | 1 `Query` per shard, concurrently, of about `limit / shards + 1` items each ([`listing`]) |
//! | list by `page=P` | the same, key-only, per 1,000 users skipped, then the page's |
//!
//! Once per process, before its first update, delete or list, or after its first get that finds no
//! user, one strongly consistent `GetItem` of the counter checks the table's layout ([`layout`]).
//! A get that finds its user needs no check.
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

mod attempts;
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

pub(crate) use self::items::{trace_from_image, user_from_image};
pub(crate) use self::metrics::AttemptMetrics;
pub(crate) use self::trace_header::TraceHeader;

use std::num::NonZeroU64;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};

use self::attempts::{Attempt, moved_since_read, out_of_step, with_retries};
use self::errors::{classify, internal};
use self::ids::IdAllocator;
use self::items::{
    EmailClaim, IdempotencyRecord, Item, UserItem, idempotency_key, user_key, value,
};
use self::layout::LayoutCheck;
use self::schema::{SORT_KEY, USER_SHARDS};
use self::transaction::{Transaction, write_token};
use self::update_expression::UpdateExpression;
use super::{
    Created, IdempotentCreate, StoreCreate, StoreDelete, StoreError, StoreGet, StoreList,
    StorePing, StoreUpdate,
};
use crate::domain::{
    NewUser, Page, PageLimit, PageStart, Precondition, User, UserChanges, UserId, email_key,
};

/// Default ids reserved per counter update; see [`ids`](self::ids) for the trade-off.
pub const DEFAULT_ID_BLOCK_SIZE: u64 = 50;

/// How often an operation that lost a race (a concurrent update, a transaction conflict) is
/// re-run from a fresh read before giving up with `Unavailable`.
pub(super) const MAX_OPTIMISTIC_ROUNDS: u32 = 4;

/// Largest page of keys read while skipping for `?page=P`.
const SKIP_QUERY_LIMIT: u64 = 1000;

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

    async fn read(&self, id: UserId) -> Result<Option<UserItem>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(id)?))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        output.item.map(UserItem::from_item).transpose()
    }

    /// One `TransactWriteItems`: the user, its email claim and, for an idempotent create, the
    /// key's record (new, or replacing an expired one), each conditional.
    async fn try_create(
        &self,
        user: &User,
        idempotency: Option<&IdempotentCreate>,
    ) -> Result<Attempt<Created>, StoreError> {
        let write_token = write_token()?;
        let claim = EmailClaim::new(&email_key(&user.email), user.id);
        let mut items = vec![
            self.put(
                UserItem::created(user, &write_token, self.shards()).to_item()?,
                "attribute_not_exists(pk)",
            )?,
            self.put(claim.to_item()?, "attribute_not_exists(pk)")?,
        ];
        if let Some(request) = idempotency {
            let record = IdempotencyRecord::new(
                &request.key,
                &request.fingerprint,
                user.id,
                request.expires_at,
            );
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(record.to_item()?))
                .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
                .expression_attribute_values(":now", value(request.now)?)
                .build()
                .map_err(internal)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        match self.transact(items, &write_token).await? {
            Transaction::Committed => Ok(Attempt::Done(Created::New(user.clone()))),
            Transaction::Conflict => Ok(Attempt::Retry),
            // This very transaction committed before (a retry whose first answer was lost, on a
            // server that does not honour the request token).
            Transaction::Cancelled {
                user: Some(item), ..
            } if item.written_by(&write_token) => Ok(Attempt::Done(Created::New(item.to_user()?))),
            Transaction::Cancelled { codes, .. } => match (codes.as_slice(), idempotency) {
                // The key is recorded and live: this is a retry (or a reuse) of an earlier create.
                ([_, _, Some(_)], Some(request)) => self.replay(request).await,
                ([_, Some(_), ..], _) => Err(StoreError::EmailTaken),
                _ => Err(out_of_step(user.id, &codes)),
            },
        }
    }

    /// Answers a retry from the key's record: the user it created, as it is now, if the request
    /// is the same; `IdempotencyKeyReused` if not. A record gone since the transaction (expired
    /// and removed) means the create may simply run again.
    async fn replay(&self, request: &IdempotentCreate) -> Result<Attempt<Created>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(idempotency_key(&request.key)?))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        let Some(item) = output.item else {
            return Ok(Attempt::Retry);
        };
        let record = IdempotencyRecord::from_item(item)?;
        if record.expires_at <= request.now {
            return Ok(Attempt::Retry);
        }
        if record.fingerprint != request.fingerprint {
            return Err(StoreError::IdempotencyKeyReused);
        }
        let id = UserId::new(record.user_id)
            .ok_or_else(|| StoreError::Internal("idempotency record with user 0".into()))?;
        Ok(Attempt::Done(match self.read(id).await? {
            Some(item) => Created::Replayed(item.to_user()?),
            None => Created::ReplayedGone(id),
        }))
    }

    /// One `GetItem`, then one `TransactWriteItems` under a request token, conditional on the
    /// version read: the user alone, or with the old claim deleted and the new one put when the
    /// normalised email changes. Every update is a transaction so that DynamoDB answers the SDK's
    /// resend of an applied one from its token (for 10 minutes, whatever was written since): a
    /// bare `UpdateItem` carries no token, and its resend after a lost answer was applied again,
    /// over a later acknowledged write.
    async fn try_update(
        &self,
        id: UserId,
        changes: &UserChanges,
        precondition: Precondition,
    ) -> Result<Attempt<User>, StoreError> {
        let current = self.read(id).await?;
        precondition.check(current.as_ref().map(|user| user.version))?;
        let Some(current) = current else {
            return Err(StoreError::NotFound);
        };
        let mut updated = current.to_user()?;
        changes.apply_to(&mut updated);
        updated.version += 1;
        let write_token = write_token()?;
        let update = UpdateExpression::new(changes, current.version, &write_token)?;
        let mut items = vec![update.transact_item(&self.table, self.key(id)?)?];
        let new_key = changes
            .email
            .as_deref()
            .map(email_key)
            .filter(|key| *key != current.email_key);
        if let Some(new_key) = &new_key {
            items.push(self.delete_claim(&current.email_key, id)?);
            items.push(self.put(
                EmailClaim::new(new_key, id).to_item()?,
                "attribute_not_exists(pk)",
            )?);
        }
        match self.transact(items, &write_token).await? {
            Transaction::Committed => Ok(Attempt::Done(updated)),
            Transaction::Conflict => Ok(Attempt::Retry),
            Transaction::Cancelled {
                user: Some(item), ..
            } if item.written_by(&write_token) => Ok(Attempt::Done(item.to_user()?)),
            // The user's own condition first: a twin of this change that committed first has
            // also taken the new claim, and that is this user's, not someone else's.
            Transaction::Cancelled { codes, .. } if codes.first().is_some_and(Option::is_some) => {
                moved_since_read(precondition)
            }
            Transaction::Cancelled {
                codes, claim_owner, ..
            } => match (codes.as_slice(), claim_owner) {
                ([None, _, Some(_)], Some(owner)) if owner != id.get() => {
                    Err(StoreError::EmailTaken)
                }
                _ => Err(out_of_step(id, &codes)),
            },
        }
    }

    async fn try_delete(
        &self,
        id: UserId,
        precondition: Precondition,
    ) -> Result<Attempt<()>, StoreError> {
        let current = self.read(id).await?;
        precondition.check(current.as_ref().map(|user| user.version))?;
        let Some(current) = current else {
            return Err(StoreError::NotFound);
        };
        let delete_user = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(self.key(id)?))
            .condition_expression("version = :version")
            .expression_attribute_values(":version", value(current.version)?)
            .build()
            .map_err(internal)?;
        let outcome = self
            .transact(
                vec![
                    TransactWriteItem::builder().delete(delete_user).build(),
                    self.delete_claim(&current.email_key, id)?,
                ],
                &write_token()?,
            )
            .await?;
        match outcome {
            Transaction::Committed => Ok(Attempt::Done(())),
            Transaction::Conflict => Ok(Attempt::Retry),
            Transaction::Cancelled { codes, .. } => match codes.as_slice() {
                [Some(_), _] => moved_since_read(precondition),
                _ => Err(out_of_step(id, &codes)),
            },
        }
    }

    /// Up to `want` user items with ids above `after`, in id order, merged from every shard.
    async fn users_after(
        &self,
        after: Option<UserId>,
        want: u64,
        projection: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        listing::users_after(
            &self.client,
            &self.table,
            self.shards(),
            after.map(UserId::get),
            want,
            projection,
        )
        .await
    }

    /// The id after which a page that skips `count` users starts, reading keys only; `None` when
    /// the table ends first.
    async fn skip(&self, count: NonZeroU64) -> Result<Option<UserId>, StoreError> {
        let (mut count, mut after) = (count.get(), None);
        while count > 0 {
            let batch = count.min(SKIP_QUERY_LIMIT);
            let keys = self.users_after(after, batch, Some(SORT_KEY)).await?;
            count -= keys.len() as u64;
            let last = keys.last().map(listing::sort_key).transpose()?;
            match last.and_then(UserId::new) {
                Some(last) if keys.len() as u64 == batch => after = Some(last),
                _ => return Ok(None),
            }
        }
        Ok(after)
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
impl StoreGet for DynamoStore {
    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.layout
            .after_a_miss(&self.client, &self.table, self.read(id))
            .await?
            .map(|item| item.to_user())
            .transpose()
    }
}

#[async_trait]
impl StoreCreate for DynamoStore {
    async fn create_idempotent(
        &self,
        new_user: NewUser,
        idempotency: Option<IdempotentCreate>,
    ) -> Result<Created, StoreError> {
        let id = self
            .ids
            .next(&self.client, &self.table, &self.layout)
            .await?;
        let user = new_user.with_id(id);
        with_retries(|| self.try_create(&user, idempotency.as_ref())).await
    }
}

#[async_trait]
impl StoreUpdate for DynamoStore {
    async fn update(
        &self,
        id: UserId,
        changes: UserChanges,
        precondition: Precondition,
    ) -> Result<User, StoreError> {
        self.checked(with_retries(|| self.try_update(id, &changes, precondition)))
            .await
    }
}

#[async_trait]
impl StoreDelete for DynamoStore {
    async fn delete(&self, id: UserId, precondition: Precondition) -> Result<(), StoreError> {
        self.checked(with_retries(|| self.try_delete(id, precondition)))
            .await
    }
}

#[async_trait]
impl StoreList for DynamoStore {
    async fn list(&self, start: PageStart, limit: PageLimit) -> Result<Page, StoreError> {
        self.checked(self.page(start, limit)).await
    }
}

impl DynamoStore {
    async fn page(&self, start: PageStart, limit: PageLimit) -> Result<Page, StoreError> {
        let after = match start {
            PageStart::First => None,
            PageStart::After(id) => Some(id),
            PageStart::Skip(count) => match self.skip(count).await? {
                Some(after) => Some(after),
                None => {
                    return Ok(Page {
                        users: Vec::new(),
                        next_after: None,
                    });
                }
            },
        };
        let items = self
            .users_after(after, u64::from(limit.get()) + 1, None)
            .await?;
        let users = items
            .into_iter()
            .map(|item| UserItem::from_item(item)?.to_user())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_lookahead(users, limit))
    }
}
