//! Users in id order across shards: a k-way merge of bounded per-shard queries.
//!
//! Each shard is one partition key whose sort key is the user id, so each is already in id order.
//! A page of `want` users asks every shard, at once, for about its share (`want / shards + 1`).
//! Everything up to the *bound* (the lowest id at which a shard that has more stopped) is then
//! known, from every shard; when that prefix holds `want` users the page is those. When it does not
//! (shards of uneven density: deletions, ids reserved by a process that stopped), only the shards
//! stopped at the bound are read further. With ids dealt out evenly, the first round suffices: a
//! page costs one `Query` per shard, made concurrently, and reads at most `2 x shards` items it
//! does not return.

use std::num::NonZeroU64;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use futures_util::future::try_join_all;

use super::DynamoStore;
use super::errors::classify;
use super::items::{Item, UserItem, value};
use super::schema::{SORT_KEY, shard_partition};
use crate::domain::{Page, PageLimit, PageStart, UserId};
use crate::store::{StoreError, StoreList};

/// Largest page of keys read while skipping for `?page=P`.
const SKIP_QUERY_LIMIT: u64 = 1000;

/// What one shard has given so far.
struct Shard {
    partition: String,
    /// The items read, in id order, and their ids.
    items: Vec<Item>,
    ids: Vec<u64>,
    /// The id the shard was read up to: its next query starts after it.
    read_to: Option<u64>,
    /// Whether the shard may hold users beyond `read_to`.
    more: bool,
}

/// Up to `want` user items with ids above `after`, in id order, from a table of `shards` shards.
/// `projection` narrows what each item carries; it must include the sort key.
pub(super) async fn users_after(
    client: &Client,
    table: &str,
    shards: u16,
    after: Option<u64>,
    want: u64,
    projection: Option<&str>,
) -> Result<Vec<Item>, StoreError> {
    let mut state = (0..u64::from(shards.max(1)))
        .map(|shard| Shard {
            partition: shard_partition(shard),
            items: Vec::new(),
            ids: Vec::new(),
            read_to: after,
            more: true,
        })
        .collect::<Vec<_>>();
    let mut reading = (0..state.len()).collect::<Vec<_>>();
    let mut short_by = want;
    loop {
        let limit = short_by.div_ceil(reading.len() as u64) + 1;
        let reads = reading.iter().map(|&index| {
            let shard = &state[index];
            query(
                client,
                table,
                &shard.partition,
                shard.read_to,
                limit,
                projection,
            )
        });
        for (index, (items, read_to)) in reading.iter().zip(try_join_all(reads).await?) {
            let shard = &mut state[*index];
            for item in items {
                shard.ids.push(sort_key(&item)?);
                shard.items.push(item);
            }
            shard.more = read_to.is_some();
            shard.read_to = read_to.or(shard.read_to);
        }
        let bound = state
            .iter()
            .filter(|shard| shard.more)
            .filter_map(|shard| shard.read_to)
            .min();
        let complete = state
            .iter()
            .map(|shard| match bound {
                Some(bound) => shard.ids.partition_point(|id| *id <= bound),
                None => shard.ids.len(),
            })
            .sum::<usize>() as u64;
        if complete >= want || bound.is_none() {
            let mut known = state
                .into_iter()
                .flat_map(|shard| shard.ids.into_iter().zip(shard.items))
                .filter(|(id, _)| bound.is_none_or(|bound| *id <= bound))
                .collect::<Vec<_>>();
            known.sort_unstable_by_key(|(id, _)| *id);
            known.truncate(usize::try_from(want).unwrap_or(usize::MAX));
            return Ok(known.into_iter().map(|(_, item)| item).collect());
        }
        short_by = want - complete;
        reading = (0..state.len())
            .filter(|&index| state[index].more && state[index].read_to == bound)
            .collect();
    }
}

/// One `Query` of up to `limit` items of `partition` after `after`: the items, and the id to go
/// on from if the shard may have more (its `LastEvaluatedKey`, set when the limit or DynamoDB's
/// 1 MB page cut the answer short).
async fn query(
    client: &Client,
    table: &str,
    partition: &str,
    after: Option<u64>,
    limit: u64,
    projection: Option<&str>,
) -> Result<(Vec<Item>, Option<u64>), StoreError> {
    let mut request = client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", value(partition)?)
        .consistent_read(true)
        .limit(i32::try_from(limit).unwrap_or(i32::MAX))
        .set_projection_expression(projection.map(str::to_owned));
    if let Some(after) = after {
        request = request
            .key_condition_expression("pk = :pk AND sk > :after")
            .expression_attribute_values(":after", value(after)?);
    }
    let output = request.send().await.map_err(classify)?;
    let read_to = output
        .last_evaluated_key
        .as_ref()
        .map(sort_key)
        .transpose()?;
    Ok((output.items.unwrap_or_default(), read_to))
}

/// The user id an item or key holds.
pub(super) fn sort_key(item: &Item) -> Result<u64, StoreError> {
    item.get(SORT_KEY)
        .and_then(|sk| sk.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| StoreError::Internal("a listed user has no numeric sort key".into()))
}

#[async_trait]
impl StoreList for DynamoStore {
    async fn list(&self, start: PageStart, limit: PageLimit) -> Result<Page, StoreError> {
        self.checked(self.page(start, limit)).await
    }
}

impl DynamoStore {
    /// Up to `want` user items with ids above `after`, in id order, merged from every shard.
    async fn users_after(
        &self,
        after: Option<UserId>,
        want: u64,
        projection: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        users_after(
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
            let last = keys.last().map(sort_key).transpose()?;
            match last.and_then(UserId::new) {
                Some(last) if keys.len() as u64 == batch => after = Some(last),
                _ => return Ok(None),
            }
        }
        Ok(after)
    }

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
