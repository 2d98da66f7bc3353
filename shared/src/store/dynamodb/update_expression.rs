//! The `UpdateItem` expression of an update: the changed fields, the version bump and the
//! condition, with their names and values bound.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::errors::internal;
use super::items::{Item, value, write_trace};
use crate::domain::{UserChanges, email_key};
use crate::store::StoreError;

/// `SET` for the changed fields plus a version bump, conditional on the user still being at the
/// version that was read.
pub(super) struct UpdateExpression {
    pub expression: String,
    pub condition: String,
    pub names: HashMap<String, String>,
    pub values: Item,
}

impl UpdateExpression {
    /// The update of a user read at `expected_version`, made by the write named `write_token`.
    pub fn new(
        changes: &UserChanges,
        expected_version: u64,
        write_token: &str,
    ) -> Result<Self, StoreError> {
        let mut this = Self {
            expression: String::new(),
            condition: "#version = :expected_version".to_owned(),
            names: Default::default(),
            values: Default::default(),
        };
        let mut sets = vec![this.bind("write_token", value(write_token)?)];
        // The change's event joins this write's trace; a write in no trace must not leave the
        // previous write's behind.
        let trace = write_trace();
        match &trace {
            Some(trace) => sets.push(this.bind("trace", value(trace)?)),
            None => {
                this.names.insert("#trace".into(), "trace".into());
            }
        }
        if let Some(name) = &changes.name {
            sets.push(this.bind("name", value(name)?));
        }
        if let Some(email) = &changes.email {
            sets.push(this.bind("email", value(email)?));
            sets.push(this.bind("email_key", value(email_key(email))?));
        }
        if let Some(age) = changes.age {
            sets.push(this.bind("age", value(age)?));
        }
        this.values.insert(":one".into(), value(1u64)?);
        this.names.insert("#version".into(), "version".into());
        this.expression = format!("SET {} ADD #version :one", sets.join(", "));
        if trace.is_none() {
            this.expression.push_str(" REMOVE #trace");
        }
        this.values
            .insert(":expected_version".into(), value(expected_version)?);
        Ok(this)
    }

    fn bind(&mut self, attribute: &str, value: AttributeValue) -> String {
        self.names
            .insert(format!("#{attribute}"), attribute.to_owned());
        self.values.insert(format!(":{attribute}"), value);
        format!("#{attribute} = :{attribute}")
    }

    pub fn transact_item(self, table: &str, key: Item) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(self.expression)
            .condition_expression(self.condition)
            .set_expression_attribute_names(Some(self.names))
            .set_expression_attribute_values(Some(self.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}
