//! The benchmark's section 1: sizes.

use super::*;

pub(crate) fn sizes() -> Value {
    println!(
        "## 1. Binary sizes (release profile, stripped, {})\n",
        std::env::consts::ARCH
    );
    println!("| binary | size | zip |\n|---|---|---|");
    let mut rows = BTreeMap::new();
    for name in ALL_FUNCTIONS.iter().chain(&["floor-hello", "floor-sdk"]) {
        let path = binary(name);
        let size = std::fs::metadata(&path).unwrap().len();
        let zip = zipped_size(&path);
        println!("| {name} | {} | {} |", mb(size), mb(zip));
        rows.insert(name.to_string(), json!({"bytes": size, "zip_bytes": zip}));
    }
    println!();
    json!(rows)
}

pub(crate) fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}
