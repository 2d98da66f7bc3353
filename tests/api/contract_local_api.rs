//! The HTTP contract against a real `local-api` process over TCP, in-memory store.

use integration_tests::contract_tests;
use integration_tests::processes::LocalApi;

contract_tests!(LocalApi::start(&[]).await);
