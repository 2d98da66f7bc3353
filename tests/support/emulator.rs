//! A function binary run by AWS's own Lambda Runtime Interface Emulator (the one `sam local` runs
//! inside its containers; [`crate::sam::runtime_interface_emulator`]): the emulator execs the
//! binary with `AWS_LAMBDA_RUNTIME_API` pointing at itself and takes invocations over HTTP. It is a
//! Runtime API that nobody on this project wrote, so what passes here does not rest on our own
//! loopback one ([`crate::runtime_api`]).
//!
//! An arm64 `bootstrap` runs under `qemu-aarch64` (Debian's `qemu-user`, with the arm64 C library
//! of `libc6-arm64-cross`): the emulator execs a two-line script that execs qemu on it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use http::Method;
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::TestRequest;
use crate::http_client::HttpClient;
use crate::sam::runtime_interface_emulator;

/// Where Debian's `libc6-arm64-cross` puts the arm64 dynamic loader and C library, which
/// `qemu-aarch64 -L` uses as the guest's root.
pub const ARM64_SYSROOT: &str = "/usr/aarch64-linux-gnu";

/// How a binary is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// Natively (an x86_64 build on this machine).
    Native,
    /// Under `qemu-aarch64` (an arm64 build, as Lambda's Graviton runs it).
    Arm64,
}

/// One function process behind the emulator, killed when dropped.
pub struct EmulatedFunction {
    child: Child,
    client: HttpClient,
    log: PathBuf,
    _launcher: Option<Launcher>,
}

/// A script that execs qemu on an arm64 binary, removed when dropped.
struct Launcher(PathBuf);

impl Drop for Launcher {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl EmulatedFunction {
    /// Starts the emulator on `binary` with an environment of `PATH` and `env` only (the emulator
    /// adds the variables the Lambda service sets), and waits until it takes invocations.
    pub async fn start(binary: &Path, machine: Machine, env: &[(&str, &str)]) -> Self {
        let unique = format!(
            "{}-{}",
            std::process::id(),
            crate::free_port() // a cheap unique number
        );
        let tmp = std::env::temp_dir();
        let launcher = match machine {
            Machine::Native => None,
            Machine::Arm64 => Some(Launcher(write_qemu_launcher(binary, &tmp, &unique))),
        };
        let bootstrap = launcher.as_ref().map_or(binary, |l| l.0.as_path());
        let port = crate::free_port();
        // The Runtime API the function polls: by default 127.0.0.1:9001, which parallel tests
        // would share.
        let runtime_api = format!("127.0.0.1:{}", crate::free_port());
        let log = tmp.join(format!("users-api-rie-{unique}.log"));
        let log_file = std::fs::File::create(&log).expect("emulator log file");
        let child = Command::new(runtime_interface_emulator())
            .arg("--runtime-interface-emulator-address")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--runtime-api-address")
            .arg(&runtime_api)
            .arg(bootstrap)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            // Quiet unless a test asks for more.
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file handle"))
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn the Runtime Interface Emulator: {e}"));
        let function = Self {
            child,
            client: HttpClient::new(format!("http://127.0.0.1:{port}")),
            log,
            _launcher: launcher,
        };
        function.wait_until_listening(port).await;
        function
    }

    async fn wait_until_listening(&self, port: u16) {
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "the Runtime Interface Emulator did not listen within 6 s; its log:\n{}",
            self.log()
        );
    }

    /// Invokes the function with `event` and returns what it answered (an API Gateway response
    /// for an HTTP event). Panics with the emulator's log if the invocation failed.
    pub async fn invoke(&self, event: &Value) -> Value {
        let request = TestRequest::new(Method::POST, "/2015-03-31/functions/function/invocations")
            .json(event);
        let reply = self.client.try_send(request).await.unwrap_or_else(|e| {
            panic!(
                "invocation failed ({e}); the emulator's log:\n{}",
                self.log()
            )
        });
        let answer = serde_json::from_slice::<Value>(&reply.body).unwrap_or(Value::Null);
        assert!(
            reply.status == 200 && answer.get("errorType").is_none() && !answer.is_null(),
            "the function failed: {} {}; the emulator's log:\n{}",
            reply.status,
            String::from_utf8_lossy(&reply.body),
            self.log()
        );
        answer
    }

    /// What the emulator and the function wrote so far (INIT, START, END and REPORT lines, and
    /// the function's own logs and metrics).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for EmulatedFunction {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Writes an executable script that runs the arm64 `binary` under qemu with its arguments.
fn write_qemu_launcher(binary: &Path, dir: &Path, unique: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(format!("users-api-qemu-{unique}.sh"));
    let script = format!(
        "#!/bin/sh\nexec qemu-aarch64 -L {ARM64_SYSROOT} '{}' \"$@\"\n",
        binary.display()
    );
    std::fs::write(&path, script).expect("write the qemu launcher");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("make the qemu launcher executable");
    path
}
