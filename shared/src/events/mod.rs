//! Domain events: every change to a user, read from the table's stream and published on
//! EventBridge, so other services react to sign-ups, changes and erasures instead of polling.
//!
//! - [`contract`]: what a consumer receives (`UserCreated`, `UserUpdated`, `UserDeleted`), versioned;
//!   `docs/events/*.schema.json` is the same contract as JSON Schema, and tests hold the two together.
//! - [`stream`]: one DynamoDB stream record to at most one event. Only user items make events:
//!   email claims, the id counter and idempotency records are bookkeeping.
//! - [`publish`]: a batch of records onto the bus, in order, reporting the first record that could
//!   not be published so that Lambda retries exactly from there.
//!
//! Why the stream and not the API functions: an event is published if and only if the write
//! committed (no dual write to get wrong), and whatever writes the table (a function, a migration
//! script) is covered.

pub mod contract;
mod publish;
mod stream;

pub use self::publish::{EventBridgeBus, PublishSettings, Publisher};
