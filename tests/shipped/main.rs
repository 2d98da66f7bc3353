//! What ships, as it ships: `template.yaml` against the code, the arm64 artifacts of `sam build`
//! run, `sam local` in Docker, `cargo lambda watch`, the README and guides replayed, the domain
//! crate's layering, and the test command's cache of them.
//!
//! One test binary (it links the SDK once) of one module per subject: `cargo test -p
//! integration-tests --test shipped` runs them all, `... --test shipped sam_local::` one module.

mod alarms;
mod arm64;
mod docs;
mod lambda_watch;
mod layering;
mod operations;
mod sam_local;
mod template;
mod test_cache;
