//! The end-to-end harness as tests see it: the real Viva binary launched through `tauri-driver`
//! under Xvfb, a virtual microphone to speak into and screenshots of the window.
//!
//! `cargo xtask test` starts the daemons (Xvfb, D-Bus with an unlocked gnome-keyring, PulseAudio
//! with the `vmic` null sink, tauri-driver) and hands their addresses over in `VIVA_E2E_*`
//! variables; this crate only reads them, so a test never starts or leaks a daemon itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

/// How long a test waits for the app or an element before it fails with a message.
pub const UI_TIMEOUT: Duration = Duration::from_secs(20);

/// The harness's addresses, read from the environment `cargo xtask test` sets up.
#[derive(Debug, Clone)]
pub struct Harness {
    pub app_binary: PathBuf,
    pub webdriver_url: String,
    pub artifacts: PathBuf,
    pub mic_sink: String,
}

impl Harness {
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| {
            std::env::var(name).with_context(|| {
                format!("{name} is not set: end-to-end tests run inside `cargo xtask test`")
            })
        };
        let harness = Self {
            app_binary: var("VIVA_E2E_APP")?.into(),
            webdriver_url: var("VIVA_E2E_WEBDRIVER")?,
            artifacts: var("VIVA_E2E_ARTIFACTS")?.into(),
            mic_sink: var("VIVA_E2E_MIC_SINK")?,
        };
        if !harness.app_binary.is_file() {
            bail!(
                "the app binary {} does not exist",
                harness.app_binary.display()
            );
        }
        Ok(harness)
    }

    /// Launches a fresh instance of the real app and returns a WebDriver session on its window.
    /// An instance a failed test left running is stopped first: the single-instance lock would
    /// otherwise hand the launch over to it.
    pub async fn launch_app(&self) -> Result<App> {
        self.launch_app_with(&[]).await
    }

    /// Like [`Harness::launch_app`], with `env` added to the app's environment — a machine
    /// without a sound server, say, or without the offline model. tauri-driver starts what it
    /// is given with its own environment, so the app is started through a small script that
    /// sets `env` and then becomes the app.
    pub async fn launch_app_with(&self, env: &[(&str, &str)]) -> Result<App> {
        stop_app_instances(&self.app_binary).await?;
        let application = if env.is_empty() {
            self.app_binary.clone()
        } else {
            self.launcher(env)?
        };
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), "wry".into());
        capabilities.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": application }),
        );
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let connecting = builder.connect(&self.webdriver_url);
        let client = tokio::time::timeout(UI_TIMEOUT, connecting)
            .await
            .context("the app's window did not appear in time")?
            .context("tauri-driver did not start the app")?;
        let session_id = client.session_id().await.ok().flatten();
        Ok(App {
            client,
            harness: self.clone(),
            session_id,
        })
    }

    fn launcher(&self, env: &[(&str, &str)]) -> Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let quote = |value: &str| format!("'{}'", value.replace('\'', r"'\''"));
        let mut script = String::from("#!/bin/sh\n");
        for (name, value) in env {
            script.push_str(&format!("export {name}={}\n", quote(value)));
        }
        let binary = self.app_binary.to_string_lossy();
        script.push_str(&format!("exec {} \"$@\"\n", quote(&binary)));
        let path = self.artifact_path("launch", "sh");
        std::fs::write(&path, script)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        Ok(path)
    }

    /// Says `sentence` into the virtual microphone (espeak-ng → paplay into the null sink whose
    /// monitor is the default input). Returns once playback has finished.
    pub fn say(&self, sentence: &str) -> Result<()> {
        let wav = self.artifact_path("say", "wav");
        run(Command::new("espeak-ng").arg("-w").arg(&wav).arg(sentence))?;
        run(Command::new("paplay")
            .arg("-d")
            .arg(&self.mic_sink)
            .arg(&wav))
    }

    /// Answers the system's save dialog titled `title` (a separate GTK window, out of
    /// WebDriver's reach) by typing `path` into its name field and pressing Enter, as a user would.
    pub fn save_in_dialog(&self, title: &str, path: &Path) -> Result<()> {
        focus_window(title)?;
        run(Command::new("xdotool").args(["key", "--clearmodifiers", "ctrl+a"]))?;
        run(Command::new("xdotool")
            .args(["type", "--delay", "10", "--"])
            .arg(path))?;
        run(Command::new("xdotool").args(["key", "Return"]))
    }

    /// A screenshot of the whole virtual screen (window decorations included), as a PNG file.
    pub fn screenshot_screen(&self, name: &str) -> Result<PathBuf> {
        let path = self.artifact_path(name, "png");
        run(Command::new("import").args(["-window", "root"]).arg(&path))?;
        Ok(path)
    }

    /// A fresh file name under the run's artifact directory.
    pub fn artifact_path(&self, stem: &str, extension: &str) -> PathBuf {
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        self.artifacts.join(format!(
            "{stem}-{}-{unique}.{extension}",
            std::process::id()
        ))
    }
}

/// One running instance of the app under WebDriver. Call [`App::quit`] to close it; a test that
/// fails before that still ends its WebDriver session when the `App` is dropped, so the next
/// test can launch the app (tauri-driver holds one session at a time).
#[derive(Debug)]
pub struct App {
    pub client: Client,
    harness: Harness,
    /// `None` once the session was closed.
    session_id: Option<String>,
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(id) = self.session_id.take() {
            delete_session(&self.harness.webdriver_url, &id);
        }
    }
}

/// `DELETE /session/{id}` with a plain blocking request: `Drop` cannot wait for the async client,
/// and a panicking test's runtime may already be going away.
fn delete_session(webdriver_url: &str, id: &str) {
    use std::io::{Read, Write};
    let Some(authority) = webdriver_url
        .strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/'))
    else {
        return;
    };
    // The harness serves WebDriver on a loopback address and port.
    let Ok(address) = authority.parse::<std::net::SocketAddr>() else {
        return;
    };
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2))
    else {
        return;
    };
    let _ = stream.set_read_timeout(Some(UI_TIMEOUT));
    let request =
        format!("DELETE /session/{id} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_ok() {
        // Wait for the answer: the app is gone once tauri-driver replies.
        let _ = stream.read_to_end(&mut Vec::new());
    }
}

impl App {
    /// The text of the first element matching `css`, once it exists and is not empty.
    pub async fn text_of(&self, css: &str) -> Result<String> {
        let deadline = tokio::time::Instant::now() + UI_TIMEOUT;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                let text = element.text().await.unwrap_or_default();
                if !text.trim().is_empty() {
                    return Ok(text);
                }
            }
            if tokio::time::Instant::now() > deadline {
                let page = self.client.source().await.unwrap_or_default();
                bail!("no text at `{css}` after {UI_TIMEOUT:?}; the page was:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element with `data-testid` `test_id` once it exists.
    pub async fn click(&self, test_id: &str) -> Result<()> {
        let element = self
            .client
            .wait()
            .at_most(UI_TIMEOUT)
            .for_element(Locator::Css(&format!("[data-testid={test_id}]")))
            .await
            .with_context(|| format!("no `{test_id}` to click"))?;
        // Drawn on the CPU (no GPU here), WebDriver clicks on a button out of view were lost
        // (WebKit's driver scrolls it into view and clicks at once). Scroll to it first and let
        // two frames draw, as a user would look before clicking.
        self.client
            .execute_async(
                "const [element, done] = arguments;
                element.scrollIntoView({ block: 'center' });
                requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![serde_json::to_value(&element)?],
            )
            .await
            .with_context(|| format!("scrolling to `{test_id}`"))?;
        element
            .click()
            .await
            .with_context(|| format!("clicking `{test_id}`"))?;
        Ok(())
    }

    /// Replaces the text of the field with `data-testid` `test_id`.
    pub async fn fill(&self, test_id: &str, text: &str) -> Result<()> {
        let field = self
            .client
            .wait()
            .at_most(UI_TIMEOUT)
            .for_element(Locator::Css(&format!("[data-testid={test_id}]")))
            .await
            .with_context(|| format!("no `{test_id}` to fill"))?;
        field.clear().await?;
        if text.is_empty() {
            // WebDriver refuses empty keys, and a clear alone may fire no `input` event: type a
            // space and take it back, as a user emptying the field would.
            field.send_keys(" ").await?;
            field.send_keys("\u{E003}").await?;
        } else {
            field.send_keys(text).await?;
        }
        Ok(())
    }

    /// Opens the backend form, which an earlier test (or run) may have filled in already.
    pub async fn open_backend_form(&self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + UI_TIMEOUT;
        loop {
            if self
                .client
                .find(Locator::Css("[data-testid=backend-form]"))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if let Ok(change) = self
                .client
                .find(Locator::Css("[data-testid=backend-change]"))
                .await
            {
                change.click().await?;
                continue;
            }
            if tokio::time::Instant::now() > deadline {
                bail!("neither the backend form nor its Change link appeared");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Points the app at a backend and signs in there (the sign-in screen follows saving).
    pub async fn sign_in_to(
        &self,
        base_url: &str,
        anon_key: &str,
        email: &str,
        password: &str,
    ) -> Result<()> {
        self.open_backend_form().await?;
        self.fill("backend-url", base_url).await?;
        self.fill("backend-anon-key", anon_key).await?;
        self.click("backend-save").await?;
        self.fill("auth-email", email).await?;
        self.fill("auth-password", password).await?;
        self.click("auth-submit").await
    }

    /// The `data-level` (0–100) of a meter; 0 when it is not shown.
    pub async fn level(&self, test_id: &str) -> u32 {
        self.attribute(&format!("[data-testid={test_id}]"), "data-level")
            .await
            .and_then(|l| l.parse().ok())
            .unwrap_or(0)
    }

    /// From the home screen to a ready pre-flight of offline practice (no account).
    pub async fn open_offline_preflight(&self) -> Result<()> {
        self.open_backend_form().await?;
        self.click("practice-offline").await?;
        self.click("practice-start").await?;
        self.wait_until_backend_ready().await
    }

    /// Waits until pre-flight says the backend is ready.
    pub async fn wait_until_backend_ready(&self) -> Result<()> {
        self.wait_for("the backend check", Duration::from_secs(20), || async {
            let text = self.text_of("[data-testid=check-backend]").await.ok()?;
            (text == "Ready").then_some(())
        })
        .await
    }

    /// The transcript's final lines as shown: (speaker, words).
    pub async fn final_lines(&self) -> Result<Vec<(String, String)>> {
        let script = r#"return [...document.querySelectorAll('[data-testid=line][data-final=true]')]
            .map(l => [l.dataset.speaker, l.querySelector('.words').textContent]);"#;
        let value = self.client.execute(script, vec![]).await?;
        Ok(serde_json::from_value(value)?)
    }

    /// In the room in text mode: waits for the interviewer's first question, types `answer`,
    /// sends it and waits for the interviewer to reply. Returns the first question.
    pub async fn answer_first_question_in_text(&self, answer: &str) -> Result<String> {
        let question = self.first_question().await?;
        self.fill("answer-input", answer).await?;
        self.click("answer-send").await?;
        self.wait_for_reply_to(answer).await?;
        Ok(question)
    }

    /// The interviewer's first final line, once it is shown.
    pub async fn first_question(&self) -> Result<String> {
        self.wait_for("the first question", Duration::from_secs(40), || async {
            self.final_lines()
                .await
                .ok()?
                .into_iter()
                .find(|(speaker, text)| speaker == "interviewer" && !text.is_empty())
                .map(|(_, text)| text)
        })
        .await
    }

    /// Waits until the candidate's line `answer` is shown and an interviewer line follows it.
    pub async fn wait_for_reply_to(&self, answer: &str) -> Result<()> {
        self.wait_for(
            "the typed answer and a reply",
            Duration::from_secs(40),
            || async {
                let lines = self.final_lines().await.ok()?;
                let answered = lines
                    .iter()
                    .position(|(s, t)| s == "candidate" && t == answer)?;
                lines
                    .iter()
                    .skip(answered + 1)
                    .any(|(s, _)| s == "interviewer")
                    .then_some(())
            },
        )
        .await
    }

    /// Whether the checkbox with `data-testid` `test_id` is ticked.
    pub async fn is_checked(&self, test_id: &str) -> Result<bool> {
        let value = self
            .client
            .execute(
                &format!("return document.querySelector('[data-testid={test_id}]').checked;"),
                vec![],
            )
            .await?;
        value
            .as_bool()
            .with_context(|| format!("`{test_id}` is not a checkbox: {value}"))
    }

    /// Ends the interview (confirming it) and returns the summary's status.
    pub async fn end_interview(&self) -> Result<String> {
        self.click("end").await?;
        self.click("end-confirm").await?;
        self.text_of("[data-testid=summary-status]").await
    }

    /// An attribute of the first element matching `css`, if both exist.
    pub async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(css)).await.ok()?;
        element.attr(name).await.ok().flatten()
    }

    /// Waits up to `timeout` until `check` (run every 100 ms) gives a value.
    pub async fn wait_for<T, F, Fut>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(value) = check().await {
                return Ok(value);
            }
            if tokio::time::Instant::now() > deadline {
                let page = self.client.source().await.unwrap_or_default();
                bail!("{what}: not within {timeout:?}; the page was:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The webview as a PNG, as it is on screen now.
    pub async fn png(&self) -> Result<Vec<u8>> {
        // Drawn on the CPU (the harness has no GPU, so the app turns compositing off), WebKit
        // captures at its next frame, and a page with nothing changing draws none: keep an
        // invisible change going until the capture is in.
        const KEEP_DRAWING: &str = "window.__vivaCapturing = true;
            let odd = false;
            const step = () => {
                odd = !odd;
                document.body.style.outline = odd ? '1px solid transparent' : '';
                if (window.__vivaCapturing) requestAnimationFrame(step);
                else document.body.style.outline = '';
            };
            requestAnimationFrame(step);";
        self.client.execute(KEEP_DRAWING, vec![]).await?;
        let png = self.client.screenshot().await;
        self.client
            .execute("window.__vivaCapturing = false;", vec![])
            .await?;
        Ok(png?)
    }

    /// A screenshot of the webview, written under the run's artifacts.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self.png().await?;
        let path = self.harness.artifact_path(name, "png");
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Presses `keys` (xdotool's names: `Tab`, `Return`, `space`, `ctrl+Return`) in the app's
    /// window through the X server, as a keyboard would: no WebDriver element is involved.
    pub fn press(&self, keys: &[&str]) -> Result<()> {
        focus_window("^Viva$")?;
        run(Command::new("xdotool")
            .args(["key", "--delay", "80"])
            .args(keys))
    }

    /// Types `text` on the keyboard into whatever has the focus in the app's window.
    pub fn type_text(&self, text: &str) -> Result<()> {
        focus_window("^Viva$")?;
        run(Command::new("xdotool")
            .args(["type", "--delay", "15", "--"])
            .arg(text))
    }

    /// The `data-testid` of the element that has the keyboard focus, if it has one.
    pub async fn focused(&self) -> Option<String> {
        let value = self
            .client
            .execute(
                "return document.activeElement?.dataset?.testid ?? null;",
                vec![],
            )
            .await
            .ok()?;
        value.as_str().map(str::to_owned)
    }

    /// Presses Tab until the element `test_id` has the focus: proof that the keyboard reaches it.
    pub async fn tab_to(&self, test_id: &str) -> Result<()> {
        for _ in 0..60 {
            if self.focused().await.as_deref() == Some(test_id) {
                return Ok(());
            }
            self.press(&["Tab"])?;
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        let page = self.client.source().await.unwrap_or_default();
        bail!("60 presses of Tab never reached `{test_id}`; the page was:\n{page}")
    }

    /// Chooses the `position`-th item (1 = the first, separators not counted) of the window's
    /// Viva menu with the keyboard, as a user would: F10 opens the menu bar, Down walks to the
    /// item, Enter chooses it. The native menu is out of WebDriver's reach.
    pub fn choose_from_menu(&self, position: usize) -> Result<()> {
        focus_window("^Viva$")?;
        let mut keys = vec!["key", "--delay", "150", "F10"];
        keys.extend(std::iter::repeat_n("Down", position));
        keys.push("Return");
        run(Command::new("xdotool").args(keys))
    }

    /// Chooses the `position`-th item of the window's Help menu (the menu right of Viva's), as
    /// [`App::choose_from_menu`] does for the Viva menu.
    pub fn choose_from_help_menu(&self, position: usize) -> Result<()> {
        focus_window("^Viva$")?;
        let mut keys = vec!["key", "--delay", "150", "F10", "Right"];
        keys.extend(std::iter::repeat_n("Down", position));
        keys.push("Return");
        run(Command::new("xdotool").args(keys))
    }

    /// Waits for the app to exit by itself (quit from its menu, say): no process left and the
    /// single-instance lock released.
    pub async fn exited(mut self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + UI_TIMEOUT;
        while !app_processes(&self.harness.app_binary).is_empty() || single_instance_name_owned() {
            if tokio::time::Instant::now() > deadline {
                bail!("the app was still running {UI_TIMEOUT:?} after it was told to quit");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The session went with the app; ending it tidies tauri-driver's side.
        self.session_id = None;
        let _ = self.client.clone().close().await;
        Ok(())
    }

    /// Closes the window and waits until the app process has exited, so the next launch does
    /// not meet a half-closed instance.
    pub async fn quit(mut self) -> Result<()> {
        self.session_id = None;
        self.client
            .clone()
            .close()
            .await
            .context("closing the app's WebDriver session")?;
        let deadline = tokio::time::Instant::now() + UI_TIMEOUT;
        while !app_processes(&self.harness.app_binary).is_empty() || single_instance_name_owned() {
            if tokio::time::Instant::now() > deadline {
                bail!("the app was still running {UI_TIMEOUT:?} after its window closed");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

/// The D-Bus name the single-instance lock holds; the bus releases it a moment after the process
/// exits, and a launch inside that moment would try to hand over to the departed instance.
const SINGLE_INSTANCE_NAME: &str = "app.viva.desktop.SingleInstance";

fn single_instance_name_owned() -> bool {
    Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
        ])
        .arg("org.freedesktop.DBus.NameHasOwner")
        .arg(format!("string:{SINGLE_INSTANCE_NAME}"))
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("boolean true"))
}

/// PIDs of running processes started from `binary`.
pub fn app_processes(binary: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| {
                exe.to_string_lossy()
                    .starts_with(&*binary.to_string_lossy())
            })
        })
        .collect()
}

/// Stops every running instance of the app (TERM, then KILL) and waits until they are gone.
///
/// # Errors
/// An instance would not stop.
pub async fn stop_app_instances(binary: &Path) -> Result<()> {
    for signal in ["-TERM", "-KILL"] {
        let pids = app_processes(binary);
        if pids.is_empty() {
            return Ok(());
        }
        for pid in &pids {
            let _ = Command::new("kill")
                .arg(signal)
                .arg(pid.to_string())
                .status();
        }
        for _ in 0..60 {
            if app_processes(binary).is_empty() && !single_instance_name_owned() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    bail!("an earlier instance of the app would not stop")
}

/// Gives the keyboard to the newest window whose title matches the regular expression `title`,
/// waiting up to 20 s for it to appear.
fn focus_window(title: &str) -> Result<()> {
    // Only a mapped (viewable) window can take the input focus: X answers `BadMatch` for one that
    // exists but is not shown yet, which is how a dialog looks for a moment after it is created.
    let found = Command::new("timeout")
        .args([
            "20",
            "xdotool",
            "search",
            "--sync",
            "--onlyvisible",
            "--name",
            title,
        ])
        .output()
        .context("running xdotool")?;
    let window = String::from_utf8_lossy(&found.stdout)
        .lines()
        .last()
        .map(str::to_owned)
        .with_context(|| format!("no window titled {title:?} appeared"))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match run(Command::new("xdotool").args(["windowfocus", "--sync", &window])) {
            Ok(()) => return Ok(()),
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(error) => return Err(error),
        }
    }
}

/// Runs a helper program to completion and fails with its stderr when it fails.
pub fn run(command: &mut Command) -> Result<()> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {:?}", command.get_program()))?;
    if !output.status.success() {
        bail!(
            "{:?} failed ({}): {}",
            command.get_program(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Root-mean-square level of a 16-bit WAV file's samples, in the range 0.0–1.0.
pub fn wav_rms(path: &Path) -> Result<f64> {
    let mut reader =
        hound::WavReader::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (mut sum, mut count) = (0.0f64, 0u64);
    for sample in reader.samples::<i16>() {
        let value = f64::from(sample?) / f64::from(i16::MAX);
        sum += value * value;
        count += 1;
    }
    if count == 0 {
        bail!("{} holds no samples", path.display());
    }
    Ok((sum / count as f64).sqrt())
}

/// Word errors of `heard` against `said`, and the words said (the offline model's measure).
pub use viva_speech::model::word_errors as word_error_rate;

/// The app's JSON log lines in `log_dir` logged at `since` or later, as written so far (the
/// app writes through a background writer, so the newest may still be on their way).
pub fn app_log_since(
    log_dir: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Vec<serde_json::Value> {
    std::fs::read_dir(log_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("viva."))
        .flat_map(|entry| {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            text.lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .collect::<Vec<_>>()
        })
        .filter(|logged| {
            logged["timestamp"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|at| at >= since)
        })
        .collect()
}
