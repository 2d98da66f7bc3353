//! The store and what it promises: both backends held to one conformance suite, DynamoDB's table
//! layout and shards, answers lost or throttled, the store failing and coming back, many processes
//! on one table, recorded histories checked for linearizability, and the events a change publishes.
//!
//! One test binary (it links the SDK once) of one module per subject: `cargo test -p
//! integration-tests --test store` runs them all, `... --test store histories::` one module.

mod conformance;
mod dynamodb;
mod events;
mod histories;
mod lost_answers;
mod multi_instance;
mod resilience;
mod sharding;
mod store_failures;
