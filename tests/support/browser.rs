//! Headless Chromium (Debian's `chromium`, which the test command installs) driven over the Chrome
//! DevTools Protocol: one page, scripts evaluated in it, real key input, screenshots, and every
//! console error, uncaught exception, failed load and HTTP error the page met, so that a page
//! test can fail on what a person would see go wrong.
//!
//! Every host but 127.0.0.1 fails to resolve, so a page that needs the network shows it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long one protocol command may take, and how long [`Browser::wait_for`] waits.
const PATIENCE: Duration = Duration::from_secs(60);

/// Something the page did that a person would call broken.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// What kind: `console.error`, `exception`, `failed load`, `http 404`, `log error`.
    pub kind: String,
    pub text: String,
    /// The URL concerned, when there is one.
    pub url: Option<String>,
}

/// A headless Chromium with one page attached; killed and its profile removed on drop.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    problems: Vec<Problem>,
}

impl Browser {
    /// Starts Chromium with a fresh profile and opens a blank page, the window `width` x `height`
    /// CSS pixels.
    pub async fn start(width: u32, height: u32) -> Self {
        let profile = std::env::temp_dir().join(format!(
            "users-browser-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-port=0",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                &format!("--user-data-dir={}", profile.display()),
                &format!("--window-size={width},{height}"),
                "about:blank",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("chromium (Debian's package, installed by ./scripts/test)");
        let url = devtools_url(&mut child).await;
        let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("connect to Chromium's DevTools socket");
        let mut browser = Self {
            child,
            profile,
            socket,
            session: String::new(),
            next_id: 1,
            problems: Vec::new(),
        };
        let target = browser
            .browser_call("Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let attached = browser
            .browser_call(
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        for domain in [
            "Page.enable",
            "Runtime.enable",
            "Log.enable",
            "Network.enable",
        ] {
            browser.call(domain, json!({})).await;
        }
        browser
            .call(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
            )
            .await;
        browser
    }

    /// Loads `url` and waits for its `load` event.
    pub async fn open(&mut self, url: &str) {
        let navigated = self.call("Page.navigate", json!({"url": url})).await;
        assert!(
            navigated.get("errorText").is_none(),
            "{url}: {}",
            navigated["errorText"]
        );
        self.wait_for("document.readyState === 'complete'").await;
    }

    /// The value of a JavaScript expression in the page (awaited if it is a promise).
    pub async fn evaluate(&mut self, expression: &str) -> Value {
        let answer = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(exception) = answer.get("exceptionDetails") {
            panic!("`{expression}` threw: {exception}");
        }
        answer["result"]["value"].clone()
    }

    /// Waits until `condition` (a JavaScript expression) is true in the page; panics with the
    /// condition after [`PATIENCE`].
    pub async fn wait_for(&mut self, condition: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.evaluate(&format!("Boolean({condition})")).await != json!(true) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "still not true after {PATIENCE:?}: {condition}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types `text` as the keyboard would into the element `selector` names, replacing what it
    /// held: the page's own input handlers see it as a person's typing.
    pub async fn type_into(&mut self, selector: &str, text: &str) {
        let selector_json = serde_json::to_string(selector).unwrap();
        let found = self
            .evaluate(&format!(
                "(() => {{ const e = document.querySelector({selector_json}); \
                 if (!e) return false; e.scrollIntoView(); e.focus(); e.select(); return true; }})()"
            ))
            .await;
        assert_eq!(found, json!(true), "no element {selector}");
        self.call("Input.insertText", json!({"text": text})).await;
    }

    /// Clicks the element `selector` names.
    pub async fn click(&mut self, selector: &str) {
        let selector_json = serde_json::to_string(selector).unwrap();
        let found = self
            .evaluate(&format!(
                "(() => {{ const e = document.querySelector({selector_json}); \
                 if (!e) return false; e.scrollIntoView(); e.click(); return true; }})()"
            ))
            .await;
        assert_eq!(found, json!(true), "no element {selector}");
    }

    /// Saves a PNG of the whole page (beyond the window too) at `path`.
    pub async fn screenshot(&mut self, path: &Path) {
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Everything that went wrong in the page so far (read up to now).
    pub async fn problems(&mut self) -> Vec<Problem> {
        // A round trip, so that the events sent before it have been read.
        self.evaluate("0").await;
        self.problems.clone()
    }

    /// A command to the browser itself.
    async fn browser_call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None).await
    }

    /// A command to the page.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(session)).await
    }

    async fn send(&mut self, method: &str, params: Value, session: Option<String>) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut command = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(command.to_string()))
            .await
            .expect("send to Chromium");
        let answer = tokio::time::timeout(PATIENCE, async {
            loop {
                let message = self
                    .socket
                    .next()
                    .await
                    .expect("Chromium closed its DevTools socket")
                    .expect("read from Chromium");
                let Message::Text(text) = message else {
                    continue;
                };
                let message: Value = serde_json::from_str(&text).expect("DevTools JSON");
                if message["id"] == json!(id) {
                    return message;
                }
                self.record(&message);
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{method}: no answer from Chromium in {PATIENCE:?}"));
        if let Some(error) = answer.get("error") {
            panic!("{method}: {error}");
        }
        answer["result"].clone()
    }

    /// Keeps the events that mean something went wrong.
    fn record(&mut self, event: &Value) {
        let params = &event["params"];
        let problem = |kind: &str, text: &Value, url: &Value| Problem {
            kind: kind.to_owned(),
            text: text
                .as_str()
                .map_or_else(|| text.to_string(), str::to_owned),
            url: url.as_str().map(str::to_owned),
        };
        let found = match event["method"].as_str().unwrap_or_default() {
            "Runtime.consoleAPICalled" if params["type"] == "error" => {
                Some(problem("console.error", &params["args"], &Value::Null))
            }
            "Runtime.exceptionThrown" => Some(problem(
                "exception",
                &params["exceptionDetails"],
                &params["exceptionDetails"]["url"],
            )),
            "Log.entryAdded" if params["entry"]["level"] == "error" => Some(problem(
                "log error",
                &params["entry"]["text"],
                &params["entry"]["url"],
            )),
            "Network.loadingFailed" if params["canceled"] != json!(true) => {
                Some(problem("failed load", &params["errorText"], &Value::Null))
            }
            "Network.responseReceived" if params["response"]["status"].as_u64() >= Some(400) => {
                Some(problem(
                    &format!("http {}", params["response"]["status"]),
                    &params["response"]["statusText"],
                    &params["response"]["url"],
                ))
            }
            _ => None,
        };
        self.problems.extend(found);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The browser's DevTools WebSocket URL, from the line Chromium prints on stderr once it listens.
async fn devtools_url(child: &mut Child) -> String {
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let found = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = lines.next_line().await.expect("read Chromium's stderr") {
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                return Some(url.trim().to_owned());
            }
            seen.push(line);
        }
        None
    })
    .await;
    let url = match found {
        Ok(Some(url)) => url,
        _ => panic!("Chromium printed no DevTools address:\n{}", seen.join("\n")),
    };
    // Chromium keeps writing to stderr; drain it so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    url
}
