//! The HTTP API and its clients: the contract through lambda_http events and through `local-api`
//! processes, the function binaries (one invocation at a time and many at once), the OpenAPI
//! document and its fuzzer, logs and metrics, TLS to
//! the store, the typed client and the `users` CLI.
//!
//! One test binary (it links the SDK once) of one module per subject: `cargo test -p
//! integration-tests --test api` runs them all, `... --test api cli::` one module.

mod cli;
mod client;
mod client_conformance;
mod concurrency;
mod contract_lambda;
mod contract_local_api;
mod contract_local_api_dynamodb;
mod fixtures;
mod functions;
mod fuzz;
mod local_api;
mod observability;
mod openapi;
mod reference_page;
mod tls;
