//! Updating a user: a read, then one transaction conditional on the version read, moving the email
//! claim when the normalised email changes.

use async_trait::async_trait;

use super::DynamoStore;
use super::attempts::{Attempt, moved_since_read, out_of_step, with_retries};
use super::items::EmailClaim;
use super::transaction::{Transaction, write_token};
use super::update_expression::UpdateExpression;
use crate::domain::{Precondition, User, UserChanges, UserId, email_key};
use crate::store::{StoreError, StoreUpdate};

impl DynamoStore {
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
