//! Headless Chromium driven through chromedriver (WebDriver), as a person would use a screen.
//!
//! chromedriver runs in a process group of its own, and Chromium (its child, with Chromium's
//! own helpers) in that group too: dropping the [`Browser`] — at the end of a test, or while a
//! failing test unwinds — kills the whole group, so no Chromium outlives its test.

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Turns a wait that would hang into a failure; never reached when the page does its job.
const GUARD: Duration = Duration::from_secs(20);

/// chromedriver's process group; killed whole on drop.
struct ProcessGroup {
    child: Child,
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // The group id is chromedriver's pid (`process_group(0)` at spawn).
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
        }
        // Reap chromedriver itself; Chromium's processes are re-parented to init and reaped there.
        let _ = self.child.start_kill();
        let _ = self.child.try_wait();
    }
}

/// A running chromedriver and a browser session in it. Dropping it ends both.
pub struct Browser {
    pub client: fantoccini::Client,
    _driver: ProcessGroup,
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
        // Port 0: chromedriver picks a free port and says which in its first line.
        let mut child = Command::new("/usr/bin/chromedriver")
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (Debian package chromium-driver) starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let driver = ProcessGroup { child };
        // "ChromeDriver was started successfully on port 41263." is the readiness signal.
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(GUARD, async {
            while let Some(line) = lines.next_line().await.expect("chromedriver's output") {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    return rest.trim_end_matches('.').trim().parse::<u16>().expect("a port number");
                }
            }
            panic!("chromedriver exited before it was ready");
        })
        .await
        .expect("chromedriver ready within the guard");
        // Keep draining its output so a chatty chromedriver never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let profile = tempfile::tempdir().unwrap();
        // The flags keep Chromium from reaching for the network at start, which this machine's
        // closed network refuses, and let it run as root in a container.
        let mut capabilities = serde_json::json!({
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
        if handheld {
            capabilities["goog:chromeOptions"]["mobileEmulation"] = serde_json::json!({
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0, "touch": true}
            });
        }
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = tokio::time::timeout(
            GUARD,
            fantoccini::ClientBuilder::new(connector)
                .capabilities(capabilities)
                .connect(&format!("http://127.0.0.1:{port}")),
        )
        .await
        .expect("a Chromium session within the guard")
        .unwrap_or_else(|e| panic!("cannot start a Chromium session: {e}"));
        // A script waiting in the page (`wait_js`) gives up after the guard, and the session is
        // free for the next command at once.
        client
            .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(Some(GUARD), None, None))
            .await
            .expect("session timeouts set");
        Browser {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Wait until `script` (a JS expression) is truthy; returns its value. The page itself
    /// re-evaluates it on every DOM change and every frame it renders, and answers as soon as
    /// it holds.
    pub async fn wait_js(&self, what: &str, script: &str) -> serde_json::Value {
        let waiter = format!(
            r#"const done = arguments[arguments.length - 1];
            let finished = false;
            const value = () => {{ try {{ return ({script}); }} catch (e) {{ return null; }} }};
            const check = () => {{
                if (finished) return;
                const v = value();
                if (v) {{ finished = true; observer.disconnect(); done(v); }} else {{ requestAnimationFrame(check); }}
            }};
            const observer = new MutationObserver(check);
            observer.observe(document, {{subtree: true, childList: true, attributes: true, characterData: true}});
            check();"#
        );
        match self.client.execute_async(&waiter, vec![]).await {
            Ok(value) => value,
            Err(e) => {
                let last = self.client.execute(&format!("return {script};"), vec![]).await;
                panic!("waiting for {what} ({script}) failed: {e}; last value {last:?}")
            }
        }
    }

    /// Click the element `css` selects. A live screen may redraw it between finding and
    /// clicking (an event from the server arrives): then it is found again and clicked.
    pub async fn click(&self, css: &str) {
        for _ in 0..20 {
            let element = self
                .client
                .find(fantoccini::Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no {css} on the page: {e}"));
            match element.click().await {
                Ok(()) => return,
                Err(e) if e.is_stale_element_reference() => continue,
                Err(e) => panic!("cannot click {css}: {e}"),
            }
        }
        panic!("{css} was redrawn under every click");
    }

    /// Type into whatever has the focus, key by key, as a keyboard-wedge scanner does.
    pub async fn type_keys(&self, text: &str) {
        let active = self.client.active_element().await.expect("a focused element");
        active.send_keys(text).await.expect("keys typed");
    }
}
