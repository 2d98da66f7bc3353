//! A partition-capacity model of DynamoDB, in front of the test server, which has no capacity
//! limits of its own.
//!
//! DynamoDB serves each partition key from one partition, which gives it at most 1,000 write units
//! and 3,000 read units a second (Developer Guide, "Throughput default quotas" and "partition key
//! design"): the limit that on-demand capacity and more money do not lift for one key. This front
//! keeps a token bucket per partition key for writes and one for reads, holding one second of
//! capacity (what DynamoDB's burst allows at least), scaled down by a divisor so the test server
//! on 2 cores can outrun it. It charges as DynamoDB does:
//!
//! - a write: 1 unit per KB of the item (`PutItem`'s item; 1 for an `UpdateItem` or `DeleteItem`,
//!   whose items here are far below 1 KB), charged whether or not its condition holds;
//! - a transaction: twice that for each of its items, each on its own key;
//! - a read: per 4 KB of what it returned (a `Query`'s items summed, rounded up, at least one
//!   unit), half for an eventually consistent one: an estimate is taken before and trued up after.
//!
//! A request that finds a bucket short is answered as DynamoDB answers, without reaching the
//! server: `ProvisionedThroughputExceededException` for a single write or read, and for a
//! transaction `TransactionCanceledException` with reason `ThrottlingError` for each throttled
//! item and `None` for the rest. Requests it cannot read (table management, scans) pass free.
//!
//! What it cannot show: DynamoDB's adaptive capacity moving spare throughput between partitions
//! (which only ever helps), burst credit beyond one second, a table-level limit, or the exact
//! size accounting of attribute names and numbers (estimated from their JSON text).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::proxy::{self, TokenBucket, exchange, kind_of, read_http_message};

/// Write units one partition serves per second.
pub const PARTITION_WRITE_UNITS: f64 = 1000.0;
/// Read units (strongly consistent 4 KB reads) one partition serves per second.
pub const PARTITION_READ_UNITS: f64 = 3000.0;

/// Capacity per partition key, in units per second.
#[derive(Debug, Clone, Copy)]
pub struct Capacity {
    pub write_units: f64,
    pub read_units: f64,
}

impl Capacity {
    /// DynamoDB's per-partition limits divided by `divisor`.
    pub fn scaled(divisor: f64) -> Self {
        Self {
            write_units: PARTITION_WRITE_UNITS / divisor,
            read_units: PARTITION_READ_UNITS / divisor,
        }
    }
}

/// What the front has seen.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// Requests passed to the server behind.
    pub forwarded: usize,
    /// Single writes and reads answered `ProvisionedThroughputExceededException`.
    pub throttled_requests: usize,
    /// Transactions cancelled for a throttled item.
    pub throttled_transactions: usize,
    /// Units charged for forwarded requests, by partition key.
    pub write_units: HashMap<String, f64>,
    pub read_units: HashMap<String, f64>,
}

impl Usage {
    pub fn total_read_units(&self) -> f64 {
        self.read_units.values().sum()
    }
}

#[derive(Default)]
struct State {
    writes: HashMap<String, TokenBucket>,
    reads: HashMap<String, TokenBucket>,
    usage: Usage,
}

impl State {
    /// Takes `units` from the bucket `charge` names and counts them as used there.
    fn take(&mut self, charge: &Charge, units: f64) {
        let (buckets, used) = if charge.write {
            (&mut self.writes, &mut self.usage.write_units)
        } else {
            (&mut self.reads, &mut self.usage.read_units)
        };
        if let Some(bucket) = buckets.get_mut(&charge.partition) {
            bucket.take(units);
        }
        *used.entry(charge.partition.clone()).or_default() += units;
    }
}

/// One charge of a request: `units` on `partition`'s write or read bucket.
#[derive(Debug, Clone)]
struct Charge {
    partition: String,
    units: f64,
    write: bool,
}

/// A running front on a loopback port; it stops with the test process.
#[derive(Clone)]
pub struct CapacityFront {
    address: std::net::SocketAddr,
    capacity: Capacity,
    state: Arc<Mutex<State>>,
}

impl CapacityFront {
    /// A front for `upstream` (`host:port`) giving each partition key `capacity`.
    pub async fn start(upstream: &str, capacity: Capacity) -> Self {
        let make = |address| Self {
            address,
            capacity,
            state: Arc::default(),
        };
        proxy::start(upstream, make, |front: Self, client, upstream| async move {
            front.serve(client, &upstream).await
        })
        .await
    }

    /// The front's URL, for a DynamoDB client's endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Single requests and transactions throttled so far.
    pub fn throttled(&self) -> (usize, usize) {
        let state = self.state.lock().unwrap();
        (
            state.usage.throttled_requests,
            state.usage.throttled_transactions,
        )
    }

    pub fn usage(&self) -> Usage {
        self.state.lock().unwrap().usage.clone()
    }

    /// Forgets what was charged so far (the buckets stay as they are).
    pub fn reset_usage(&self) {
        self.state.lock().unwrap().usage = Usage::default();
    }

    async fn serve(&self, mut client: TcpStream, upstream: &str) {
        while let Some(request) = read_http_message(&mut client).await {
            let operation = kind_of(&request);
            let body = body_of(&request)
                .and_then(|body| serde_json::from_slice::<Value>(body).ok())
                .unwrap_or(Value::Null);
            let charges = charges(&operation, &body);
            let answer = match self.admit(&charges, operation == "TransactWriteItems") {
                Err(throttled) => throttle_answer(&operation, &charges, &throttled),
                Ok(()) => {
                    let Some(answer) = exchange(upstream, &request).await else {
                        return;
                    };
                    self.true_up(&operation, &body, &charges, &answer);
                    answer
                }
            };
            if client.write_all(&answer).await.is_err() {
                return;
            }
        }
    }

    /// Takes every charge, or none: `Err` holds the positions of the charges that found their
    /// bucket short.
    fn admit(&self, charges: &[Charge], transaction: bool) -> Result<(), Vec<usize>> {
        let mut state = self.state.lock().unwrap();
        let capacity = self.capacity;
        let mut short = Vec::new();
        let mut needed: HashMap<(String, bool), f64> = HashMap::new();
        for charge in charges {
            *needed
                .entry((charge.partition.clone(), charge.write))
                .or_default() += charge.units;
        }
        for (index, charge) in charges.iter().enumerate() {
            let (buckets, rate) = if charge.write {
                (&mut state.writes, capacity.write_units)
            } else {
                (&mut state.reads, capacity.read_units)
            };
            let bucket = buckets
                .entry(charge.partition.clone())
                // One second of capacity, what DynamoDB's burst allows at least.
                .or_insert_with(|| TokenBucket::full(rate, rate));
            let total = needed[&(charge.partition.clone(), charge.write)];
            if bucket.available() < total {
                short.push(index);
            }
        }
        if !short.is_empty() {
            if transaction {
                state.usage.throttled_transactions += 1;
            } else {
                state.usage.throttled_requests += 1;
            }
            return Err(short);
        }
        for charge in charges {
            state.take(charge, charge.units);
        }
        state.usage.forwarded += 1;
        Ok(())
    }

    /// Charges a read for what it really returned, in place of the estimate taken before.
    fn true_up(&self, operation: &str, body: &Value, charges: &[Charge], answer: &[u8]) {
        let [estimate] = charges else { return };
        if estimate.write {
            return;
        }
        let Some(answer) = body_of(answer).and_then(|b| serde_json::from_slice::<Value>(b).ok())
        else {
            return;
        };
        let bytes: usize = match operation {
            "GetItem" => answer.get("Item").map(item_size).unwrap_or(0),
            _ => answer
                .get("Items")
                .and_then(Value::as_array)
                .map(|items| items.iter().map(item_size).sum())
                .unwrap_or(0),
        };
        let units = read_units(bytes, body);
        self.state
            .lock()
            .unwrap()
            .take(estimate, units - estimate.units);
    }
}

/// What a request costs, before it runs.
fn charges(operation: &str, body: &Value) -> Vec<Charge> {
    let partition = |key: &Value| key["pk"]["S"].as_str().map(str::to_owned);
    let write = |partition: Option<String>, units: f64| {
        partition.map(|partition| Charge {
            partition,
            units,
            write: true,
        })
    };
    let read = |partition: Option<String>| {
        partition.map(|partition| Charge {
            partition,
            units: read_units(0, body),
            write: false,
        })
    };
    let charge = match operation {
        "PutItem" => write(partition(&body["Item"]), write_units(&body["Item"])),
        "UpdateItem" | "DeleteItem" => write(partition(&body["Key"]), 1.0),
        "GetItem" => read(partition(&body["Key"])),
        "Query" => read(
            body["ExpressionAttributeValues"][":pk"]["S"]
                .as_str()
                .map(str::to_owned),
        ),
        "TransactWriteItems" => {
            return body["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|item| {
                    if let Some(put) = item.get("Put") {
                        write(partition(&put["Item"]), 2.0 * write_units(&put["Item"]))
                    } else {
                        let (_, action) = item.as_object()?.iter().next()?;
                        write(partition(&action["Key"]), 2.0)
                    }
                })
                .collect();
        }
        _ => None,
    };
    charge.into_iter().collect()
}

/// Write units of an item: one per KB, at least one.
fn write_units(item: &Value) -> f64 {
    (item_size(item) as f64 / 1024.0).ceil().max(1.0)
}

/// Read units of a read that returned `bytes`: one per 4 KB, at least one, halved unless the
/// read was strongly consistent.
fn read_units(bytes: usize, request: &Value) -> f64 {
    let units = (bytes as f64 / 4096.0).ceil().max(1.0);
    if request["ConsistentRead"].as_bool() == Some(true) {
        units
    } else {
        units / 2.0
    }
}

/// An item's size as DynamoDB counts it, estimated: attribute names and values as their text.
fn item_size(item: &Value) -> usize {
    item.as_object()
        .into_iter()
        .flatten()
        .map(|(name, value)| {
            let text = value["S"].as_str().or(value["N"].as_str());
            name.len() + text.map_or_else(|| value.to_string().len(), str::len)
        })
        .sum()
}

fn body_of(message: &[u8]) -> Option<&[u8]> {
    let end = message.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some(&message[end + 4..])
}

/// DynamoDB's answer to a request it throttled: the charges at `throttled` found no capacity.
fn throttle_answer(operation: &str, charges: &[Charge], throttled: &[usize]) -> Vec<u8> {
    let body = if operation == "TransactWriteItems" {
        let reasons = (0..charges.len())
            .map(|index| {
                if throttled.contains(&index) {
                    json!({"Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html."})
                } else {
                    json!({"Code": "None"})
                }
            })
            .collect::<Vec<_>>();
        let codes = reasons
            .iter()
            .map(|reason| reason["Code"].as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(", ");
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]"),
            "CancellationReasons": reasons,
        })
    } else {
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
        })
    }
    .to_string();
    format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\n\
         x-amzn-requestid: capacity-model\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
