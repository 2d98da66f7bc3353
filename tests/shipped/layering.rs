//! The domain crate's modules import one another in one direction: no module reaches back, through
//! any chain of `use crate::...` and `use super::...`, to a module that imports it. A circle makes
//! the layers of `shared/src/lib.rs` a fiction, and each circle found so far hid a helper in the
//! wrong module (`etag` in the request-reading `conditional.rs`, used by `encode.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use integration_tests::sam::repo_root;

/// Module path (`transport::encode`; `crate` for the root) to its source, test modules cut off.
fn modules(root: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(root).unwrap().with_extension("");
            let mut segments: Vec<String> = relative
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            if matches!(segments.last().map(String::as_str), Some("mod" | "lib")) {
                segments.pop();
            }
            let name = if segments.is_empty() {
                "crate".to_owned()
            } else {
                segments.join("::")
            };
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap()
                .to_owned();
            found.insert(name, code);
        }
    }
    found
}

/// Every path a `use` declaration of `code` names, as written (`super::error::ApiError`).
fn imported_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut lines = code.lines();
    while let Some(line) = lines.next() {
        let line = line.trim_start();
        let Some(tree) = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .find_map(|start| line.strip_prefix(start))
        else {
            continue;
        };
        // A declaration may run over several lines, to its `;`.
        let mut tree = tree.to_owned();
        while !tree.contains(';') {
            let Some(next) = lines.next() else { break };
            tree.push_str(next);
        }
        let tree: String = tree
            .split(';')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let Some(open) = tree.find('{') else {
            paths.push(tree);
            continue;
        };
        let base = tree[..open].trim_end_matches(':');
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut item = String::new();
        for c in inner.chars().chain([',']) {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    let first = item.split("::").next().unwrap_or_default();
                    if !first.is_empty() && first != "self" {
                        paths.push(format!("{base}::{first}"));
                    }
                    item.clear();
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        paths.push(base.to_owned());
    }
    paths
}

/// The module `path`, written inside `module`, names: the longest prefix that is a module.
fn resolve(module: &str, path: &str, modules: &BTreeMap<String, String>) -> Option<String> {
    let mut segments = path.split("::");
    let mut base: Vec<&str> = match segments.next()? {
        "crate" => Vec::new(),
        "self" => module.split("::").collect(),
        "super" => {
            let mut base: Vec<&str> = module.split("::").collect();
            base.pop();
            base
        }
        _ => return None,
    };
    let mut rest: Vec<&str> = segments.collect();
    while rest.first() == Some(&"super") {
        base.pop();
        rest.remove(0);
    }
    (0..=rest.len()).rev().find_map(|n| {
        let name = base
            .iter()
            .chain(&rest[..n])
            .copied()
            .collect::<Vec<_>>()
            .join("::");
        modules.contains_key(&name).then_some(name)
    })
}

/// Each module's imports of other modules (not of itself, its ancestors or the crate root).
fn import_graph(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    modules
        .iter()
        .map(|(module, code)| {
            let imports = imported_paths(code)
                .iter()
                .filter_map(|path| resolve(module, path, modules))
                .filter(|target| {
                    target != module
                        && target != "crate"
                        && !module.starts_with(&format!("{target}::"))
                })
                .collect();
            (module.clone(), imports)
        })
        .collect()
}

/// A circle of imports, if there is one, as the modules along it.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        module: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| m == module) {
            let mut circle = path[at..].to_vec();
            circle.push(module.to_owned());
            return Some(circle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|module| visit(module, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_of_the_domain_crate_imports_its_way_back_to_itself() {
    let modules = modules(&repo_root().join("shared/src"));
    let graph = import_graph(&modules);
    // The reader sees what it must: the layers' edges are there.
    assert!(graph["transport::encode"].contains("contract"), "{graph:?}");
    assert!(graph["transport::handler"].contains("service"), "{graph:?}");
    assert_eq!(find_circle(&graph), None);
}

#[test]
fn a_circle_through_grouped_and_nested_imports_is_found() {
    let modules: BTreeMap<String, String> = [
        ("crate", "pub mod a;\npub mod b;"),
        ("a", "use crate::b::{self, Thing};"),
        ("b", "pub use super::{c::{One, Two}, x};"),
        ("c", "pub(crate) use crate::a::Other as Renamed;"),
        ("x", ""),
    ]
    .into_iter()
    .map(|(name, code)| (name.to_owned(), code.to_owned()))
    .collect();
    let circle = find_circle(&import_graph(&modules)).expect("a -> b -> c -> a");
    assert_eq!(circle.len(), 4, "{circle:?}");
}
