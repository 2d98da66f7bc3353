//! What a process reads from its environment, once, at start-up.

use std::sync::Arc;

use crate::store::{MemoryStore, UserStore};

/// Which backend holds the users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// Users live in this process only: local development and tests.
    Memory,
}

impl StoreConfig {
    /// Reads the backend choice from the environment.
    pub fn from_env() -> Self {
        StoreConfig::Memory
    }

    /// A short name for logs and health output.
    pub fn backend_name(&self) -> &'static str {
        match self {
            StoreConfig::Memory => "memory",
        }
    }

    /// Builds the store. Called once per process: clients and connection pools are reused by
    /// every request the process serves.
    pub async fn build(&self) -> Result<Arc<dyn UserStore>, lambda_http::Error> {
        match self {
            StoreConfig::Memory => Ok(Arc::new(MemoryStore::new())),
        }
    }
}
