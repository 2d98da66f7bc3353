//! What `sam build` makes of `template.yaml`, and the tools around it that the test command
//! installs: the template itself, the per-function build directories, and AWS's Lambda Runtime
//! Interface Emulator from the SAM CLI's virtualenv.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_owned()
}

/// `template.yaml`, parsed.
pub fn template() -> Value {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).expect("template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

/// A function of the template: its logical id and its resource.
#[derive(Debug, Clone)]
pub struct TemplateFunction {
    pub logical_id: String,
    pub resource: Value,
}

/// The template's functions, by the workspace binary each is built from.
pub fn functions(template: &Value) -> BTreeMap<String, TemplateFunction> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, r)| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .expect("Binary")
                .to_owned();
            let logical_id = id.as_str().expect("logical id").to_owned();
            (
                binary,
                TemplateFunction {
                    logical_id,
                    resource: r.clone(),
                },
            )
        })
        .collect()
}

/// The `bootstrap` that `sam build` made for the function built from `binary`
/// (`.aws-sam/build/<LogicalId>/bootstrap`, what `sam deploy` zips and uploads).
pub fn built_bootstrap(binary: &str) -> PathBuf {
    let functions = functions(&template());
    let function = functions
        .get(binary)
        .unwrap_or_else(|| panic!("template.yaml has no function built from {binary}"));
    let path = repo_root()
        .join(".aws-sam/build")
        .join(&function.logical_id)
        .join("bootstrap");
    assert!(
        path.exists(),
        "{} is missing: ./scripts/test runs `sam build` before the tests",
        path.display()
    );
    path
}

/// AWS's Lambda Runtime Interface Emulator for this machine, as the SAM CLI wheel ships it (the
/// one `sam local` runs inside its containers), from the virtualenv `./scripts/test` installs.
pub fn runtime_interface_emulator() -> PathBuf {
    let lib = repo_root().join(".venv-sam/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .map(|python| {
                python
                    .path()
                    .join("site-packages/samcli/local/rapid/aws-lambda-rie-x86_64")
            })
            .find(|path| path.exists())
    });
    found.unwrap_or_else(|| {
        panic!(
            "no aws-lambda-rie-x86_64 under {}: ./scripts/test installs the SAM CLI there",
            lib.display()
        )
    })
}

/// Size of the deployment zip of `binary`: the file as `bootstrap` at the root, deflated by
/// Python's `zipfile`, as the SAM CLI packages a function's build directory.
pub fn zipped_size(binary: &Path) -> u64 {
    let dir = std::env::temp_dir().join(format!("users-api-zip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let name = binary
        .to_string_lossy()
        .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let zip = dir.join(format!("{name}.zip"));
    let script = "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as z: z.write(sys.argv[1], 'bootstrap')";
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(binary)
        .arg(&zip)
        .status()
        .expect("python3 writes the zip");
    assert!(status.success(), "zipping {} failed", binary.display());
    let size = std::fs::metadata(&zip).expect("zip written").len();
    let _ = std::fs::remove_file(&zip);
    size
}
