//! A DynamoDB client that records every call it makes, as the IAM actions the call needs: the
//! ground truth for least-privilege policies and for counting round trips per operation.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::operation::{
    batch_get_item::BatchGetItemInput, batch_write_item::BatchWriteItemInput,
    delete_item::DeleteItemInput, get_item::GetItemInput, put_item::PutItemInput,
    query::QueryInput, scan::ScanInput, transact_get_items::TransactGetItemsInput,
    transact_write_items::TransactWriteItemsInput, update_item::UpdateItemInput,
};

/// One API call and the IAM actions it needs (a transaction needs one per item kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub api: &'static str,
    pub actions: Vec<&'static str>,
}

/// Calls recorded so far; cloning shares the log.
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

impl CallLog {
    /// Removes and returns everything recorded.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut self.0.lock().unwrap())
    }

    /// The IAM actions a list of calls needed, as `dynamodb:Action` strings.
    pub fn actions(calls: &[Call]) -> BTreeSet<String> {
        calls
            .iter()
            .flat_map(|c| c.actions.iter().map(|a| format!("dynamodb:{a}")))
            .collect()
    }
}

#[derive(Debug)]
struct Recorder(CallLog);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "CallRecorder"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let input = context.input();
        let single = |api: &'static str| Call {
            api,
            actions: vec![api],
        };
        let call = if input.downcast_ref::<GetItemInput>().is_some() {
            single("GetItem")
        } else if input.downcast_ref::<PutItemInput>().is_some() {
            single("PutItem")
        } else if input.downcast_ref::<UpdateItemInput>().is_some() {
            single("UpdateItem")
        } else if input.downcast_ref::<DeleteItemInput>().is_some() {
            single("DeleteItem")
        } else if input.downcast_ref::<QueryInput>().is_some() {
            single("Query")
        } else if input.downcast_ref::<ScanInput>().is_some() {
            single("Scan")
        } else if input.downcast_ref::<BatchGetItemInput>().is_some() {
            single("BatchGetItem")
        } else if input.downcast_ref::<BatchWriteItemInput>().is_some() {
            single("BatchWriteItem")
        } else if input.downcast_ref::<TransactGetItemsInput>().is_some() {
            Call {
                api: "TransactGetItems",
                actions: vec!["GetItem"],
            }
        } else if let Some(tx) = input.downcast_ref::<TransactWriteItemsInput>() {
            let mut actions = Vec::new();
            for item in tx.transact_items() {
                if item.put().is_some() {
                    actions.push("PutItem");
                }
                if item.update().is_some() {
                    actions.push("UpdateItem");
                }
                if item.delete().is_some() {
                    actions.push("DeleteItem");
                }
                if item.condition_check().is_some() {
                    actions.push("ConditionCheckItem");
                }
            }
            Call {
                api: "TransactWriteItems",
                actions,
            }
        } else {
            Call {
                api: "Other",
                actions: vec!["Unknown"],
            }
        };
        self.0.0.lock().unwrap().push(call);
        Ok(())
    }
}

/// A client for the test server that records into `log`.
pub fn recording_client(log: &CallLog) -> Client {
    let base = crate::dynamo::client();
    let config = base
        .config()
        .to_builder()
        .interceptor(Recorder(log.clone()))
        .build();
    Client::from_conf(config)
}
