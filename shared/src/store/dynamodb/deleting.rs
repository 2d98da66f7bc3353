//! Deleting a user: a read, then one transaction of the user and its email claim, conditional on
//! the version read.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};

use super::DynamoStore;
use super::attempts::{Attempt, moved_since_read, out_of_step, with_retries};
use super::errors::internal;
use super::items::value;
use super::transaction::{Transaction, write_token};
use crate::domain::{Precondition, UserId};
use crate::store::{StoreDelete, StoreError};

impl DynamoStore {
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
}

#[async_trait]
impl StoreDelete for DynamoStore {
    async fn delete(&self, id: UserId, precondition: Precondition) -> Result<(), StoreError> {
        self.checked(with_retries(|| self.try_delete(id, precondition)))
            .await
    }
}
