//! Creating a user: its id from the counter's block, then one transaction of the user, its email
//! claim and, for an idempotent create, the key's record; a retry under the same key replays.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use super::DynamoStore;
use super::attempts::{Attempt, out_of_step, with_retries};
use super::errors::internal;
use super::items::{EmailClaim, IdempotencyRecord, UserItem, idempotency_key, value};
use super::transaction::{Transaction, write_token};
use crate::domain::{NewUser, User, UserId, email_key};
use crate::store::{Created, IdempotentCreate, StoreCreate, StoreError};

impl DynamoStore {
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
        let Some(item) = self.read_item(idempotency_key(&request.key)?).await? else {
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
