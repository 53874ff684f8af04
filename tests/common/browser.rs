//! Headless Chromium driven through chromedriver (WebDriver), as a person would use a screen.

use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// A running chromedriver and a browser session in it. Dropping it ends both.
pub struct Browser {
    pub client: fantoccini::Client,
    _driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Start chromedriver and a headless Chromium window of `width`×`height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        Browser::launch(width, height, false).await
    }

    /// A handheld: the viewport emulated at `width`×`height` CSS pixels with touch, since a
    /// headless window cannot be narrower than 500 pixels.
    pub async fn start_handheld(width: u32, height: u32) -> Browser {
        Browser::launch(width, height, true).await
    }

    async fn launch(width: u32, height: u32, handheld: bool) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (Debian package chromium-driver) starts");
        let profile = tempfile::tempdir().unwrap();
        // The flags keep Chromium from reaching for the network at start, which this machine's
        // closed network refuses, and let it run as root in a container.
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let mut capabilities = capabilities;
        if handheld {
            capabilities["goog:chromeOptions"]["mobileEmulation"] = serde_json::json!({
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0, "touch": true}
            });
        }
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = String::new();
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match fantoccini::ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Browser {
                        client,
                        _driver: driver,
                        _profile: profile,
                    };
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("cannot start a Chromium session: {last_error}");
    }

    /// Wait until `script` (a JS expression) is truthy; returns its value.
    pub async fn wait_js(&self, what: &str, script: &str) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let value = self
                .client
                .execute(&format!("return {script};"), vec![])
                .await
                .expect("script runs");
            let truthy = !matches!(&value, serde_json::Value::Null | serde_json::Value::Bool(false))
                && value != serde_json::json!("")
                && value != serde_json::json!(0);
            if truthy {
                return value;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what} ({script}); last value {value}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Type into whatever has the focus, key by key, as a keyboard-wedge scanner does.
    pub async fn type_keys(&self, text: &str) {
        let active = self.client.active_element().await.expect("a focused element");
        active.send_keys(text).await.expect("keys typed");
    }
}
