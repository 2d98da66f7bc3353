//! Build script shared by the five function packages (each names it with `build = "../build.rs"`).
//!
//! Links each function as a position-dependent executable (`-no-pie`) on Linux. A PIE binary this
//! size carries ~17,500 relative relocations (a 420 KB table) that the dynamic loader applies at
//! every exec, writing into 260 KB of otherwise read-only data: on a cold start that is ~0.2 ms
//! and ~0.3 MiB of resident memory before `main` runs. Linked at a fixed address, the linker
//! resolves them once at build time. What it costs: the function's own code loses address-space
//! layout randomisation (the stack, heap and shared libraries keep it); code that is memory-safe
//! Rust, running one request at a time in a single-tenant micro-VM, is the place to spend that.
//! Delete the line below to get PIE back.
//! Measured figures: docs/benchmarks.md.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
