//! The benchmark's section 2b: the first request as Lambda runs it. The function gets the CPU
//! share of its memory size (a cgroup CPU quota: Lambda allocates CPU in proportion to memory,
//! 1,769 MB being one vCPU) and reaches the store over TLS by host name, through a front with a
//! certificate authority made for this run; init (exec to the first poll of the Runtime API) and
//! the first invocation (that poll to the response) are split.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use integration_tests::tls::TlsFront;

use super::*;

/// The memory sizes compared: the template's, a middle one, and one full vCPU.
const MEMORY_SIZES_MB: [u32; 3] = [128, 512, 1769];
/// Lambda's memory size for one vCPU.
const ONE_VCPU_MB: u32 = 1769;
const PERIOD_US: u32 = 100_000;
const SHARE_SPAWNS: usize = 15;

/// A CPU-quota cgroup (v1 `cpu` controller, else v2 `cpu.max`) holding only the spawned function,
/// removed when dropped.
pub(crate) struct CpuShare {
    dir: PathBuf,
    /// The file a process writes `0` to in order to join, as a C string ready before `fork`.
    join: CString,
}

impl CpuShare {
    /// A group with `memory_mb`'s share of one CPU. Needs root and a writable cgroup mount.
    pub(crate) fn create(memory_mb: u32) -> Result<Self, String> {
        let quota = u64::from(PERIOD_US) * u64::from(memory_mb) / u64::from(ONE_VCPU_MB);
        let name = format!("users-bench-{}-{memory_mb}", std::process::id());
        let v1 = Path::new("/sys/fs/cgroup/cpu");
        let (dir, settings, join) = if v1.join("cpu.cfs_quota_us").exists() {
            let dir = v1.join(&name);
            let settings = vec![
                ("cpu.cfs_period_us", PERIOD_US.to_string()),
                ("cpu.cfs_quota_us", quota.to_string()),
            ];
            (dir.clone(), settings, dir.join("tasks"))
        } else {
            let dir = Path::new("/sys/fs/cgroup").join(&name);
            let settings = vec![("cpu.max", format!("{quota} {PERIOD_US}"))];
            (dir.clone(), settings, dir.join("cgroup.procs"))
        };
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let share = Self {
            join: CString::new(join.as_os_str().as_bytes()).map_err(|e| e.to_string())?,
            dir,
        };
        for (file, value) in settings {
            let path = share.dir.join(file);
            std::fs::write(&path, &value).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(share)
    }

    /// Makes `command`'s process join the group between `fork` and `exec`, so that all of it,
    /// from its first instruction, runs at the share.
    pub(crate) fn confine(&self, command: &mut tokio::process::Command) {
        let join = self.join.clone();
        // SAFETY: between fork and exec only async-signal-safe calls are made (open, write,
        // close), on a path allocated before the fork.
        unsafe {
            command.pre_exec(move || {
                let fd = libc::open(join.as_ptr(), libc::O_WRONLY);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                libc::close(fd);
                if written == 1 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
}

impl Drop for CpuShare {
    fn drop(&mut self) {
        // The group's processes were killed; the kernel drops them from it as they are reaped.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("could not remove {}", self.dir.display());
    }
}

/// A case: label, binary, environment, and the event of its `n`th spawn.
type ShareCase<'a> = (
    &'a str,
    &'a str,
    Vec<(&'static str, String)>,
    Box<dyn Fn(usize) -> Value + 'a>,
);

/// The create-user fixture for a user no other spawn created, so every first POST is a create
/// rather than a conflict.
fn create_event(n: usize, memory_mb: u32) -> Value {
    let mut event = fixture("create-user.json");
    let user = json!({"name": "Bench User", "email": format!("bench-{memory_mb}-{n}@example.com"), "age": 30});
    event["body"] = user.to_string().into();
    event
}

pub(crate) async fn first_request_at_cpu_share() -> Value {
    println!(
        "## 2b. First request at a memory size's CPU share, store over TLS, {SHARE_SPAWNS} spawns each\n"
    );
    let real_get = fixture("get-user.json");
    let bad_id = with_user_id(real_get.clone(), "abc");
    let table = dynamo::fresh_table("bench-share").await;
    let moto: std::net::SocketAddr = dynamo::endpoint()
        .trim_start_matches("http://")
        .parse()
        .expect("MOTO_ENDPOINT is http://IP:PORT");
    let front = TlsFront::start(moto).await;
    let scratch = std::env::temp_dir().join(format!("users-bench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let ca = front.write_ca(&scratch).to_string_lossy().into_owned();
    let over_tls = |trust: (&'static str, String)| {
        let mut env = dynamo::process_env(&table);
        env.retain(|(name, _)| *name != "AWS_ENDPOINT_URL");
        env.push(("AWS_ENDPOINT_URL", front.url_by_name()));
        env.push(trust);
        env
    };
    // Ours and the SDK floor trust the run's CA beside their compiled-in roots; the SDK-defaults
    // peer through the system store, the way its users would.
    let ours = over_tls(("AWS_CA_BUNDLE", ca.clone()));
    let peer = over_tls(("SSL_CERT_FILE", ca.clone()));
    let memory = vec![("USERS_STORE", "memory".to_owned())];
    // serverless-rust-demo as its template deploys it; its SDK 0.7 cannot be sent to the front, so
    // its event has no path parameter and it answers 400 before its store: init, then a request.
    let demo = vec![
        ("TABLE_NAME", table.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    let mut no_id = real_get.clone();
    no_id.as_object_mut().unwrap().remove("pathParameters");
    // One create before any measured spawn stamps the table's layout and makes user 1, as in a
    // deployed table: every measured first GET is one read of a user that exists.
    cold_once("create-user", &ours, &create_event(0, 0), None).await;
    let get = || Box::new(|_| real_get.clone()) as Box<dyn Fn(usize) -> Value>;
    let bad = || Box::new(|_| bad_id.clone()) as Box<dyn Fn(usize) -> Value>;
    let cases = |memory_mb: u32| -> [ShareCase; 7] {
        [
            ("floor: bare lambda_http", "floor-hello", vec![], bad()),
            ("get-user, in-memory", "get-user", memory.clone(), bad()),
            (
                "floor: SDK GetItem, our TLS set-up",
                "floor-sdk",
                ours.clone(),
                get(),
            ),
            ("get-user, first GET", "get-user", ours.clone(), get()),
            (
                "create-user, first POST",
                "create-user",
                ours.clone(),
                Box::new(move |n| create_event(n, memory_mb)),
            ),
            (
                "SDK defaults (examples/http-dynamodb), first GET",
                "sdk-defaults",
                peer.clone(),
                get(),
            ),
            (
                "serverless-rust-demo get-product, init; its request answers 400 before the store",
                "get-product",
                demo.clone(),
                Box::new(|_| no_id.clone()),
            ),
        ]
    };
    println!(
        "| memory | case | exec to response (median) | init | first invocation | p90 | CPU used | peak RSS |\n|---|---|---|---|---|---|---|---|"
    );
    let mut rows = Vec::new();
    let mut ratios = BTreeMap::new();
    for memory_mb in MEMORY_SIZES_MB {
        let share = CpuShare::create(memory_mb).unwrap_or_else(|e| {
            panic!("the CPU-share model needs root and a writable cgroup mount: {e}")
        });
        let cases = cases(memory_mb);
        // Spawns go round the cases in turn, so a slow spell lands on every case alike.
        let mut runs: Vec<Vec<ColdSample>> = vec![Vec::new(); cases.len()];
        for n in 0..SHARE_SPAWNS {
            for ((_, name, env, event), samples) in cases.iter().zip(&mut runs) {
                // The quota is per period and per group: a spawn started in the period the last
                // one spent would start throttled. Two periods' rest refills it.
                tokio::time::sleep(Duration::from_micros(2 * u64::from(PERIOD_US))).await;
                samples.push(cold_once(name, env, &event(n), Some(&share)).await);
            }
        }
        drop(share);
        let mut medians = Vec::new();
        for ((label, name, _, _), samples) in cases.iter().zip(runs) {
            let summary = ColdSummary::of(&samples);
            println!(
                "| {memory_mb} MB | {label} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.2} ms | {:.1} MiB |",
                ms(summary.total),
                ms(summary.init),
                ms(summary.first_invocation),
                ms(summary.p90),
                ms(summary.cpu),
                summary.peak_rss_kib as f64 / 1024.0
            );
            medians.push(summary.total);
            rows.push(
                json!({"memory_mb": memory_mb, "case": label, "binary": name,
                "median_ms": ms(summary.total), "init_ms": ms(summary.init),
                "first_invocation_ms": ms(summary.first_invocation), "p90_ms": ms(summary.p90),
                "cpu_ms": ms(summary.cpu),
                "peak_rss_kib": summary.peak_rss_kib}),
            );
        }
        let ratio = |a: usize, b: usize| medians[a].as_secs_f64() / medians[b].as_secs_f64();
        let figures = json!({"get_vs_sdk_floor": ratio(3, 2), "get_vs_sdk_defaults": ratio(3, 5),
            "memory_vs_bare": ratio(1, 0), "memory_vs_demo": ratio(1, 6)});
        println!(
            "| {memory_mb} MB | ratios | get-user / SDK floor {:.2}x (target <= 1.2 at 128 MB), / SDK defaults {:.2}x (target <= 0.1); in-memory / bare {:.2}x, / serverless-rust-demo {:.2}x | | | | | |",
            figures["get_vs_sdk_floor"].as_f64().unwrap(),
            figures["get_vs_sdk_defaults"].as_f64().unwrap(),
            figures["memory_vs_bare"].as_f64().unwrap(),
            figures["memory_vs_demo"].as_f64().unwrap(),
        );
        ratios.insert(format!("{memory_mb}_mb"), figures);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    println!();
    json!({"cases": rows, "ratios": ratios})
}
