//! The test command's cache (scripts/lib.sh) holds to its one promise: an output is reused only
//! while exactly what produced it is unchanged. The keys are computed on copies of this tree, the
//! way another clone of the same commit sees it, and the cache itself is driven with a producer
//! that counts its runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::sam::repo_root;

/// A directory of this test's own, removed first if an earlier run left it.
fn scratch(purpose: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("users-cache-{purpose}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// Runs `script` in bash with scripts/lib.sh sourced, in `dir`, with `env`; its stdout, trimmed.
fn lib_sh(dir: &Path, script: &str, env: &[(&str, &Path)]) -> String {
    let lib = repo_root().join("scripts/lib.sh");
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c"])
        .arg(format!(". '{}'\n{script}", lib.display()))
        .current_dir(dir)
        .envs(env.iter().copied())
        .env_remove("USERS_TEST_REBUILD")
        .output()
        .expect("run bash");
    assert!(
        output.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// The tracked files of this tree, copied as a fresh clone would have them.
fn clone_of_this_tree(into: &Path) {
    let root = repo_root();
    let listed = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(&root)
        .output()
        .expect("git ls-files");
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).expect("utf-8 path");
        let (from, to) = (root.join(name), into.join(name));
        if from.is_file() {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&from, &to).expect("copy a tracked file");
        }
    }
}

fn append(path: &Path, text: &str) {
    let mut content = std::fs::read_to_string(path).expect("read");
    content.push_str(text);
    std::fs::write(path, content).expect("write");
}

#[test]
fn the_sam_build_key_follows_what_the_functions_are_built_from_and_nothing_else() {
    let clone = scratch("key");
    clone_of_this_tree(&clone);
    let key = || lib_sh(&clone, "sam_build_key", &[]);
    let original = key();
    assert_eq!(
        original,
        lib_sh(&repo_root(), "sam_build_key", &[]),
        "a clone of the same tree must reuse the same artifacts"
    );

    // Times, documentation and the crates the functions do not use change nothing.
    Command::new("touch")
        .arg(clone.join("shared/src/lib.rs"))
        .status()
        .expect("touch");
    append(&clone.join("README.md"), "\nmore words\n");
    append(&clone.join("local-api/src/main.rs"), "\n// a comment\n");
    append(&clone.join("client/src/lib.rs"), "\n// a comment\n");
    assert_eq!(key(), original, "unrelated changes must not rebuild");

    // Each input changes the key, and changing it back restores it.
    for input in [
        "shared/src/lib.rs",
        "functions/get-user/src/main.rs",
        "template.yaml",
        "Cargo.lock",
        "Cargo.toml",
        "tests/Cargo.toml",
        "scripts/requirements-sam.txt",
        "scripts/requirements-test.txt",
    ] {
        let path = clone.join(input);
        let before = std::fs::read(&path).expect("read an input");
        append(&path, "\n# changed\n");
        assert_ne!(key(), original, "a change to {input} must rebuild");
        std::fs::write(&path, before).expect("restore");
        assert_eq!(key(), original, "{input} restored");
    }
    std::fs::write(clone.join("shared/src/new_module.rs"), "").unwrap();
    assert_ne!(key(), original, "a new source file must rebuild");
    std::fs::remove_dir_all(&clone).unwrap();
}

#[test]
fn a_cached_output_is_made_once_per_key_and_again_on_rebuild() {
    let work = scratch("output");
    let cache = work.join("cache");
    let runs = work.join("runs");
    // The producer counts its runs and writes the run number into the output.
    let make = |key: &str, rebuild: bool| {
        lib_sh(
            &work,
            &format!(
                "{}cached_output demo {key} out.txt \
                 bash -c 'echo x >> runs; wc -l < runs > out.txt' >/dev/null; cat out.txt",
                if rebuild { "USERS_TEST_REBUILD=1 " } else { "" }
            ),
            &[("USERS_TEST_CACHE", &cache)],
        )
    };
    let run_count = || std::fs::read_to_string(&runs).unwrap().lines().count();

    assert_eq!(make("k1", false), "1");
    std::fs::remove_file(work.join("out.txt")).unwrap();
    assert_eq!(make("k1", false), "1", "restored, not made again");
    assert_eq!(run_count(), 1);
    assert_eq!(make("k2", false), "2", "another key is made");
    assert_eq!(make("k1", true), "3", "a rebuild makes it again");
    assert_eq!(make("k1", false), "3", "and keeps what it made");
    for key in ["k3", "k4", "k5"] {
        make(key, false);
    }
    let mut kept: Vec<String> = std::fs::read_dir(cache.join("demo"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| !name.ends_with(".lock"))
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        ["k1", "k3", "k4", "k5"],
        "the four most recently used"
    );
    std::fs::remove_dir_all(&work).unwrap();
}

#[test]
fn a_virtualenv_is_made_once_per_requirements_file() {
    let work = scratch("venv");
    let cache = work.join("cache");
    std::fs::write(work.join("requirements.txt"), "# nothing to install\n").unwrap();
    let install = || {
        lib_sh(
            &work,
            "install_venv .venv requirements.txt >/dev/null; readlink .venv",
            &[("USERS_TEST_CACHE", &cache)],
        )
    };
    let first = install();
    assert!(first.starts_with(cache.to_str().unwrap()), "{first}");
    let marker = Path::new(&first).join("kept");
    std::fs::write(&marker, "").unwrap();
    assert_eq!(
        install(),
        first,
        "the same requirements reuse the same virtualenv"
    );
    assert!(marker.exists(), "and do not make it again");

    append(&work.join("requirements.txt"), "# another line\n");
    let second = install();
    assert_ne!(second, first, "changed requirements get another virtualenv");
    assert!(Path::new(&second).join("bin/python").exists());
    std::fs::remove_dir_all(&work).unwrap();
}

#[test]
fn the_stand_in_image_carries_the_hash_of_its_recipe() {
    let expected = lib_sh(
        &repo_root(),
        "sha256sum scripts/provided-al2023-standin | cut -c1-16",
        &[],
    );
    let label = Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{index .Config.Labels \"users-api.recipe\"}}",
            integration_tests::sam_local::INVOKE_IMAGE,
        ])
        .output()
        .expect("docker: the test command starts an engine");
    assert!(
        label.status.success(),
        "{}",
        String::from_utf8_lossy(&label.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&label.stdout).trim(),
        expected,
        "the image was built from another recipe: scripts/provided-al2023-standin rebuilds it"
    );
}
