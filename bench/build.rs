//! The floors are linked like the functions (see `functions/build.rs`), so the ratios compare
//! our code with none, not two link modes.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
