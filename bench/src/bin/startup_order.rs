//! Writes `functions/startup-order.ld`, the linker script that puts the code a function runs from
//! exec to its first responses side by side in the binary (why: `functions/build.rs`).
//!
//! Run by `./scripts/startup-order`, which builds unstripped release binaries next to this one and
//! starts a DynamoDB-compatible server at `MOTO_ENDPOINT`. Every function runs under callgrind,
//! which names each function that executes at least one instruction, through the requests a cold
//! start meets: in-memory and with DynamoDB configured, one request that reaches the store and
//! one that fails validation. The floors run too, because the bench links them the same way.
//!
//! What is recorded is a set of names, not addresses: a pattern per function, with the parts of
//! its symbol that differ between builds and targets left as wildcards (the hash that ends a
//! legacy-mangled name; in the standard library's v0 names, crate disambiguators, back
//! references and the instantiating crate; LLVM's numeric suffixes), so one script serves x86_64
//! and arm64 and survives rebuilds. A name that no longer exists matches nothing, which costs
//! locality, never correctness. The price of wildcards: a pattern for one instance of a generic
//! function matches all its instances.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use integration_tests::dynamo;
use integration_tests::lambda_target::{fixture, with_user_id};
use integration_tests::processes::{FUNCTIONS, binary as binary_path};
use integration_tests::runtime_api::{RuntimeApi, assert_not_server_error, lambda_command_under};
use serde_json::{Value, json};

#[tokio::main]
async fn main() {
    let mut dynamo = dynamo::process_env(&dynamo::fresh_table("startup-order").await);
    // Valgrind runs code ~50x slower: no store call may time out into a path that a real cold
    // start does not take.
    dynamo.push(("STORE_TIMEOUT_MS", "60000".to_owned()));
    let dynamo = dynamo::as_pairs(&dynamo);
    // Which cold starts ran a function decides where it goes: what the in-memory starts run
    // comes first, so that they touch one short range; what only DynamoDB-configured starts add
    // follows (they run both); then what only the floors run.
    let mut tiers: BTreeMap<String, Tier> = BTreeMap::new();
    let mut record = |tier: Tier, symbols: BTreeSet<String>| {
        for pattern in symbols.iter().filter_map(|symbol| section_pattern(symbol)) {
            let entry = tiers.entry(pattern).or_insert(tier);
            *entry = (*entry).min(tier);
        }
    };
    // FUNCTIONS starts with create-user, so the user the later functions read, change and delete
    // exists in the table.
    for (tier, store) in [(Tier::InMemory, &[][..]), (Tier::DynamoDb, &dynamo[..])] {
        for function in FUNCTIONS {
            record(
                tier,
                trace(function, store, &function_events(function)).await,
            );
        }
    }
    let floor_event = [fixture("get-user.json")];
    record(Tier::Floors, trace("floor-hello", &[], &floor_event).await);
    record(
        Tier::Floors,
        trace("floor-sdk", &dynamo, &floor_event).await,
    );

    let path = repo().join("functions/startup-order.ld");
    std::fs::write(&path, linker_script(&tiers)).expect("write the linker script");
    println!("{} patterns written to {}", tiers.len(), path.display());
}

/// The cold starts that ran a function, in the order their code is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tier {
    InMemory,
    DynamoDb,
    Floors,
}

/// The two API Gateway events a function is traced through: its fixture (a full event as API
/// Gateway sends it, path parameters included), which reaches the store, and the same event made
/// invalid, which fails validation before it.
fn function_events(function: &str) -> [Value; 2] {
    let valid = fixture(&format!("{function}.json"));
    let mut invalid = valid.clone();
    if invalid["pathParameters"]["id"].is_string() {
        invalid = with_user_id(invalid, "abc");
    } else if invalid["body"].is_string() {
        invalid["body"] = "{".into();
    } else {
        invalid["rawQueryString"] = "limit=abc".into();
        invalid["queryStringParameters"] = json!({"limit": "abc"});
    }
    [valid, invalid]
}

/// Runs `binary` under callgrind through `events` and returns the symbols of its own code that
/// executed.
async fn trace(binary: &str, env: &[(&str, &str)], events: &[Value]) -> BTreeSet<String> {
    let profile = std::env::temp_dir().join(format!(
        "startup-order-{binary}-{}.callgrind",
        std::process::id()
    ));
    let sections = std::process::Command::new("readelf")
        .args(["--section-headers", "--wide"])
        .arg(binary_path(binary))
        .output()
        .expect("run readelf (binutils)");
    assert!(
        !String::from_utf8_lossy(&sections.stdout).contains(".text.startup_order"),
        "{binary} is linked with the start-up order, whose code valgrind cannot name: \
         build it with LINK_STARTUP_ORDER=0 (./scripts/startup-order does)"
    );
    let runtime = RuntimeApi::start().await;
    let out_file = format!("--callgrind-out-file={}", profile.display());
    let launcher = [
        "valgrind",
        "--tool=callgrind",
        "--demangle=no",
        "--compress-strings=no",
        &out_file,
    ];
    let mut child = lambda_command_under(&launcher, binary, &runtime, env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn valgrind (./scripts/startup-order installs it)");
    for event in events {
        let response = runtime.invoke(event.clone()).await;
        let status = &response["statusCode"];
        let request = format!(
            "{} {}?{}",
            event["requestContext"]["http"]["method"]
                .as_str()
                .unwrap_or_default(),
            event["rawPath"].as_str().unwrap_or_default(),
            event["rawQueryString"].as_str().unwrap_or_default()
        );
        assert_not_server_error(&response, &format!("{binary}: {request}"));
        println!("{binary}: {request} -> {status}");
    }
    // The runtime's next poll is answered 410 Gone: the function exits, and callgrind writes its
    // profile as it does.
    drop(runtime);
    let exited = tokio::time::timeout(Duration::from_secs(120), child.wait()).await;
    assert!(exited.is_ok(), "{binary} did not exit after its last event");
    let text =
        std::fs::read_to_string(&profile).unwrap_or_else(|e| panic!("{}: {e}", profile.display()));
    let _ = std::fs::remove_file(&profile);
    with_aliases(functions_of(&text, binary), &binary_path(binary))
}

/// `executed` and every other name at the same address. LLVM merges functions whose code is
/// identical (two instances of one generic, or of two types with the same layout) and keeps
/// the others as aliases of the survivor; callgrind reports one of the names, and the section
/// that holds the code is named after the survivor, which may be another.
fn with_aliases(executed: BTreeSet<String>, binary: &Path) -> BTreeSet<String> {
    let output = std::process::Command::new("nm")
        .arg("--defined-only")
        .arg(binary)
        .output()
        .expect("run nm (binutils)");
    assert!(output.status.success(), "nm {}", binary.display());
    let mut by_address: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut address_of: BTreeMap<&str, &str> = BTreeMap::new();
    let listing = String::from_utf8_lossy(&output.stdout);
    for line in listing.lines() {
        let mut fields = line.split_whitespace();
        if let (Some(address), Some(kind), Some(name)) =
            (fields.next(), fields.next(), fields.next())
            && "tTwW".contains(kind)
        {
            by_address.entry(address).or_default().push(name);
            address_of.insert(name, address);
        }
    }
    let mut names = executed.clone();
    for name in &executed {
        if let Some(address) = address_of.get(name.as_str()) {
            names.extend(by_address[address].iter().map(|alias| alias.to_string()));
        }
    }
    names
}

/// The functions of the object ending in `/binary` that a callgrind profile (written with
/// `--compress-strings=no`) saw executing: each has an `fn=` block under an `ob=` line.
fn functions_of(profile: &str, binary: &str) -> BTreeSet<String> {
    let suffix = format!("/{binary}");
    let mut in_binary = false;
    let mut names = BTreeSet::new();
    for line in profile.lines() {
        if let Some(object) = line.strip_prefix("ob=") {
            in_binary = object.ends_with(&suffix);
        } else if let Some(name) = line.strip_prefix("fn=")
            && in_binary
        {
            names.insert(name.to_owned());
        }
    }
    names
}

/// The input-section pattern that finds `symbol`'s code in any build: `-ffunction-sections`
/// names a function's section `.text.<symbol>` (LLVM puts cold ones in `.text.unlikely.<symbol>`).
/// `None` for what is not a symbol (callgrind's `(below main)`, bare addresses).
fn section_pattern(symbol: &str) -> Option<String> {
    // LLVM's `.1234` suffix on renamed local symbols differs from build to build.
    let symbol = match symbol.rsplit_once('.') {
        Some((base, number)) if number.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => symbol,
    };
    let valid = |c: char| c.is_ascii_alphanumeric() || "_$.".contains(c);
    if !symbol.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        || !symbol.chars().all(valid)
    {
        return None;
    }
    // Legacy mangling ends in `17h` and 16 hex digits of a hash of the build, then `E`.
    let hash = symbol.len().checked_sub(20).map(|at| symbol.split_at(at));
    Some(match hash {
        Some((stem, hash))
            if symbol.starts_with("_ZN")
                && hash.starts_with("17h")
                && hash.ends_with('E')
                && hash[3..19].bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            format!("{stem}17h*")
        }
        _ if symbol.starts_with("_R") => {
            format!("{}*", wildcard_v0(without_instantiating_crate(symbol)))
        }
        _ => symbol.to_owned(),
    })
}

/// A v0-mangled symbol without the crate that instantiated it, its last element when present
/// (`C<disambiguator><name>`, or a back reference `B<base62>_` to a crate named earlier). Each
/// crate that uses an inline or generic function compiles its own copy, named after itself; the
/// copies are the same code, and which one a call runs depends on the caller's crate.
fn without_instantiating_crate(symbol: &str) -> &str {
    let ends_as_crate_root = |at: usize| {
        let rest = &symbol[at + 1..];
        let disambiguator = match rest.strip_prefix('s') {
            Some(after) => match base62_number(after) {
                Some(length) => 1 + length,
                None => return false,
            },
            None => 0,
        };
        let name = &rest[disambiguator..];
        identifier(name) == Some(name.len())
            && name
                .bytes()
                .skip_while(u8::is_ascii_digit)
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    let ends_as_back_reference =
        |at: usize| base62_number(&symbol[at + 1..]) == Some(symbol.len() - at - 1);
    let start = "_R".len() + 1;
    (start..symbol.len())
        .rev()
        .find(|&at| match symbol.as_bytes()[at] {
            b'C' => ends_as_crate_root(at),
            b'B' => ends_as_back_reference(at),
            _ => false,
        })
        .map_or(symbol, |at| &symbol[..at])
}

/// A v0-mangled symbol with what differs between builds and targets made wildcards: crate
/// disambiguators (`Cs<base62>_`) and back references (`B<base62>_`, byte offsets that move when
/// a disambiguator's length does). Identifiers (`<length><bytes>`) and other disambiguators
/// (`s<base62>_`) are copied as they are.
fn wildcard_v0(symbol: &str) -> String {
    let mut out = String::with_capacity(symbol.len());
    let mut rest = symbol;
    while let Some(c) = rest.chars().next() {
        let taken = if let Some(n) = rest.strip_prefix("Cs").and_then(base62_number) {
            out.push_str("Cs*_");
            2 + n
        } else if let Some(n) = rest.strip_prefix('B').and_then(base62_number) {
            out.push_str("B*_");
            1 + n
        } else if let Some(n) = rest.strip_prefix('s').and_then(base62_number) {
            out.push_str(&rest[..1 + n]);
            1 + n
        } else if let Some(end) = identifier(rest) {
            let end = end.min(rest.len());
            out.push_str(&rest[..end]);
            end
        } else {
            out.push(c);
            c.len_utf8()
        };
        rest = &rest[taken..];
    }
    out
}

/// The length of the v0 `<base62-number>` (`[0-9a-zA-Z]*_`) that starts `text`, `_` included.
fn base62_number(text: &str) -> Option<usize> {
    let digits = text.bytes().take_while(u8::is_ascii_alphanumeric).count();
    text[digits..].starts_with('_').then_some(digits + 1)
}

/// The length of the v0 `<identifier>` (`<decimal length>` then the name's bytes) that starts
/// `text`, as its length prefix says; a name that starts with a digit or `_` follows a `_`
/// separator.
fn identifier(text: &str) -> Option<usize> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let length: usize = text[..digits].parse().ok()?;
    let separator = usize::from(text[digits..].starts_with('_'));
    Some(digits + separator + length)
}

fn linker_script(tiers: &BTreeMap<String, Tier>) -> String {
    let mut script = String::from(
        "/* Generated by ./scripts/startup-order: do not edit. The code the functions run from exec\n   \
         to their first responses, placed before the rest of .text (why: functions/build.rs):\n   \
         first what in-memory cold starts run, then what DynamoDB-configured ones add, then what\n   \
         only the bench's floors run. */\n\
         SECTIONS {\n  .text.startup_order : {\n",
    );
    let mut sorted: Vec<(&Tier, &String)> = tiers.iter().map(|(p, t)| (t, p)).collect();
    sorted.sort();
    for (_, pattern) in sorted {
        script.push_str(&format!(
            "    *(.text.{pattern} .text.unlikely.{pattern})\n"
        ));
    }
    script.push_str("  }\n} INSERT BEFORE .text;\n");
    script
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ is inside the repository")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_symbols_lose_their_hash() {
        assert_eq!(
            section_pattern("_ZN5tokio7runtime7builder7Builder5build17h0123456789abcdefE").unwrap(),
            "_ZN5tokio7runtime7builder7Builder5build17h*"
        );
    }

    #[test]
    fn v0_symbols_lose_disambiguators_back_references_and_suffixes() {
        assert_eq!(
            section_pattern("_RNvNtNtCsjrHSEGnQ3l9_3std6thread7current12init_current.6774")
                .unwrap(),
            "_RNvNtNtCs*_3std6thread7current12init_current*"
        );
        assert_eq!(
            section_pattern("_RNvMNtCs7B8RIyTnKqx_10serde_json2deINtB2_12DeserializerNtNtB4_4read8SliceReadE11parse_value").unwrap(),
            "_RNvMNtCs*_10serde_json2deINtB*_12DeserializerNtNtB*_4read8SliceReadE11parse_value*"
        );
    }

    #[test]
    fn v0_symbols_lose_the_crate_that_instantiated_them() {
        assert_eq!(
            section_pattern("_RNvMs4_NtCslNYArtu3iFV_5alloc7raw_vecNtB5_11RawVecInner14grow_amortizedCsduwmD7cSIQq_5gimli").unwrap(),
            "_RNvMs4_NtCs*_5alloc7raw_vecNtB*_11RawVecInner14grow_amortized*"
        );
        assert_eq!(
            section_pattern("_RINvCsevsB8N8TPJp_4zmij10to_decimaldyEB2_").unwrap(),
            "_RINvCs*_4zmij10to_decimaldyE*"
        );
        // A function's own crate is part of its path, not an instantiating crate.
        assert_eq!(
            section_pattern("_RNvCs3JSVWMeCnqJ_8get_user4main").unwrap(),
            "_RNvCs*_8get_user4main*"
        );
    }

    #[test]
    fn what_is_not_a_symbol_gets_no_pattern() {
        assert_eq!(section_pattern("(below main)"), None);
        assert_eq!(section_pattern("0x0000000000381420"), None);
        assert_eq!(section_pattern("main").as_deref(), Some("main"));
    }

    /// The committed script, as the release build reads it. A script generated from the wrong
    /// binaries (stripped ones, or ones already linked with the order, whose code valgrind cannot
    /// name) loses these names while still linking fine.
    #[test]
    fn the_committed_script_lays_out_every_function_start_and_memory_before_dynamodb() {
        let script = std::fs::read_to_string(repo().join("functions/startup-order.ld")).unwrap();
        assert!(script.trim_end().ends_with("} INSERT BEFORE .text;"));
        let line_of = |needle: &str| {
            script
                .lines()
                .position(|line| line.contains(needle))
                .unwrap_or_else(|| panic!("functions/startup-order.ld has no {needle}"))
        };
        for function in FUNCTIONS {
            let krate = function.replace('-', "_");
            line_of(&format!("*(.text._ZN{}{krate}4main17h*", krate.len()));
        }
        line_of("_ZN6shared6lambda3run");
        assert!(line_of("MemoryStore") < line_of("DynamoStore"));
    }

    #[test]
    fn only_the_named_binary_counts() {
        let profile = "ob=/lib/libc.so.6\nfn=memcpy\nob=/t/release/get-user\nfn=main\nfn=_ZN1a1b17h0123456789abcdefE\nob=/t/release/get-user-old\nfn=other\n";
        let names = functions_of(profile, "get-user");
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["_ZN1a1b17h0123456789abcdefE", "main"]
        );
    }
}
