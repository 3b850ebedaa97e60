//! What the call tests share.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Each binary uses a subset.

use viva_rtc::{ClientSecret, Grant, RealtimeGrant, SignalingMode, VoiceApi};

/// Writes espeak-ng's reading of `text` to the WAV file `path`.
pub fn say_to_wav(path: &std::path::Path, text: &str) {
    let status = std::process::Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "160", "-w"])
        .arg(path)
        .arg(text)
        .status()
        .expect("espeak-ng runs");
    assert!(status.success());
}

/// espeak-ng speech at 48 kHz, read back through the same WAV path the CLI uses.
pub fn speech(text: &str) -> Vec<f32> {
    let dir = std::env::temp_dir().join(format!("viva-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.wav", text.len()));
    say_to_wav(&path, text);
    viva_audio::read_wav(&path).unwrap()
}

/// The words of `text`, lower-case, without punctuation.
pub fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .collect()
}

/// The answer `said` was `heard`: at most two of its words missing (the offline model drops or
/// mishears a short word now and then).
pub fn assert_heard(said: &str, heard: &str) {
    let heard = words(heard);
    let missing: Vec<String> = words(said)
        .into_iter()
        .filter(|w| !heard.contains(w))
        .collect();
    assert!(missing.len() <= 2, "missing {missing:?} in {heard:?}");
}

/// A grant for a voice AI at `url` with a key that never expires (no backend behind it).
pub fn grant_for(url: String) -> Grant {
    Grant {
        session_id: "s-junk".into(),
        mode: "voice".into(),
        max_duration_s: None,
        realtime: RealtimeGrant {
            api: VoiceApi::Realtime,
            signaling: SignalingMode::Http,
            url,
            client_secret: ClientSecret {
                value: "ek_test".into(),
                expires_at: i64::MAX,
            },
            model: "gpt-realtime".into(),
            session: serde_json::json!({"type": "realtime"}),
            ice_servers: vec![],
        },
        access_token: None,
    }
}

/// Where a scripted session's transcript is written ahead: a store in a fresh folder (kept
/// while the returned folder lives).
pub fn recording(grant: &Grant) -> (viva_session::Recording, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = viva_store::Store::open(&dir.path().join(viva_store::FILE_NAME)).unwrap();
    let session = viva_store::NewSession {
        id: grant.session_id.clone(),
        remote: None,
        user_id: None,
        title: "Practice".into(),
        mode: "practice".into(),
        started_at_ms: 0,
        consent: None,
    };
    (viva_session::Recording { store, session }, dir)
}

/// Settings for a scripted session whose call uses `call`.
pub fn settings(call: viva_rtc::CallConfig) -> viva_session::LiveSettings {
    viva_session::LiveSettings {
        call,
        ..viva_session::LiveSettings::default()
    }
}

/// A `viva-proxy` process (the standalone SDP proxy), killed when dropped.
pub struct StandaloneProxy {
    child: std::process::Child,
    /// `ws://127.0.0.1:<port>/ws`
    pub ws_url: String,
    pub http_url: String,
}

impl StandaloneProxy {
    /// The workspace's `viva-proxy` binary, beside this test's own (cargo builds every
    /// workspace binary for a workspace test run; `cargo build -p viva-proxy` otherwise).
    pub fn binary() -> std::path::PathBuf {
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
        let binary = dir.join(format!("viva-proxy{}", std::env::consts::EXE_SUFFIX));
        assert!(
            binary.exists(),
            "{} is missing: build it with `cargo build -p viva-proxy`",
            binary.display()
        );
        binary
    }

    /// A free loopback port (the stack must name the proxy before the proxy can start).
    pub fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// Starts the proxy on `port` in front of the backend at `backend_url`, with the voice
    /// service at `upstream_url` and its key `provider_key`; returns once `/health` answers.
    pub async fn start(
        port: u16,
        backend_url: &str,
        anon_key: &str,
        upstream_url: &str,
        provider_key: &str,
    ) -> Self {
        let child = std::process::Command::new(Self::binary())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--metrics-listen", "off"])
            .args(["--backend-url", backend_url])
            .args(["--anon-key", anon_key])
            .args(["--upstream-url", upstream_url])
            .env("VIVA_PROXY_PROVIDER_KEY", provider_key)
            .env("VIVA_LOG", "info")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let proxy = Self {
            child,
            ws_url: format!("ws://127.0.0.1:{port}/ws"),
            http_url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let health = reqwest::get(format!("{}/health", proxy.http_url)).await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return proxy;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "viva-proxy did not come up"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

impl Drop for StandaloneProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the harness's PulseAudio answers.
pub fn pulse_running() -> bool {
    std::process::Command::new("pactl")
        .arg("info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Fails clearly when a device test is run outside `cargo xtask test`, which provides the
/// sound server (as the audio crate's device tests do).
pub fn require_pulse() {
    assert!(
        pulse_running(),
        "these tests need the harness's PulseAudio: run them with `cargo xtask test`"
    );
}

/// The harness's null sink whose monitor is the default microphone.
pub fn mic_sink() -> String {
    std::env::var("VIVA_E2E_MIC_SINK").unwrap_or_else(|_| "vmic".into())
}

/// The harness's null sink that is the default speakers.
pub fn speaker_sink() -> String {
    std::env::var("VIVA_E2E_SPEAKER_SINK").unwrap_or_else(|_| "vspeakers".into())
}
