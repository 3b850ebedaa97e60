//! Auto-update in the real app against a local update server, with a release key made for the
//! test: a newer version is offered at launch, downloads with progress shown and a verified
//! signature; a tampered build is refused; a malformed manifest, an older or equal version, a
//! 204 and a server that is gone each get a clear answer and no crash.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Response, StatusCode};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use viva_e2e::{App, Harness};

/// What the update server answers.
#[derive(Clone)]
struct Served {
    status: u16,
    manifest: String,
    artifact: Vec<u8>,
}

type Shared = Arc<Mutex<Served>>;

async fn manifest(State(served): State<Shared>) -> Response<Body> {
    let served = served.lock().unwrap().clone();
    Response::builder()
        .status(served.status)
        .header("content-type", "application/json")
        .body(Body::from(served.manifest))
        .unwrap()
}

async fn artifact(State(served): State<Shared>) -> Response<Body> {
    let bytes = served.lock().unwrap().artifact.clone();
    Response::builder()
        .status(StatusCode::OK)
        .header("content-length", bytes.len())
        .body(Body::from(bytes))
        .unwrap()
}

/// A release key pair made now: the public half as the app takes it, and a signer.
struct ReleaseKey(minisign::KeyPair);

impl ReleaseKey {
    fn new() -> Self {
        Self(minisign::KeyPair::generate_unencrypted_keypair().unwrap())
    }

    /// The public key as `plugins.updater.pubkey` holds it: the key file, base64.
    fn public(&self) -> String {
        STANDARD.encode(self.0.pk.to_box().unwrap().to_string())
    }

    /// `bytes`' signature as a manifest carries it: the `.sig` file, base64.
    fn sign(&self, bytes: &[u8]) -> String {
        let signature = minisign::sign(
            Some(&self.0.pk),
            &self.0.sk,
            std::io::Cursor::new(bytes),
            Some("viva test release"),
            None,
        )
        .unwrap();
        STANDARD.encode(signature.to_string())
    }
}

fn manifest_for(version: &str, signature: &str, url: &str) -> String {
    serde_json::json!({
        "version": version,
        "notes": "Faster transcript search.\nFixes a crash when the microphone is unplugged.",
        "pub_date": "2026-11-20T10:00:00Z",
        "platforms": {
            "linux-x86_64": { "signature": signature, "url": url },
            "windows-x86_64": { "signature": signature, "url": url },
            "darwin-aarch64": { "signature": signature, "url": url }
        }
    })
    .to_string()
}

async fn check(app: &App) {
    app.click("update-check").await.unwrap();
}

/// The update panel's message once it settles on one containing `expected`.
async fn says(app: &App, testid: &str, expected: &str) -> String {
    app.wait_for(expected, Duration::from_secs(30), || async {
        let text = app.text_of(&format!("[data-testid={testid}]")).await.ok()?;
        text.contains(expected).then_some(text)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_update_is_offered_downloaded_and_verified_and_a_bad_one_refused() {
    let harness = Harness::from_env().unwrap();
    let key = ReleaseKey::new();
    // A megabyte, so the download arrives in many pieces.
    let build: Vec<u8> = (0..1_048_576_u32).map(|i| (i % 251) as u8).collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let artifact_url = format!("http://{address}/viva_1.2.0_amd64.AppImage");
    let served: Shared = Arc::new(Mutex::new(Served {
        status: 200,
        manifest: manifest_for("1.2.0", &key.sign(&build), &artifact_url),
        artifact: build.clone(),
    }));
    let router = axum::Router::new()
        .route("/{channel}/latest.json", get(manifest))
        .route("/viva_1.2.0_amd64.AppImage", get(artifact))
        .with_state(served.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let url = format!("http://{address}/{{channel}}/latest.json");
    let public = key.public();
    let app = harness
        .launch_app_with(&[
            ("VIVA_UPDATE_URL", url.as_str()),
            ("VIVA_UPDATE_PUBKEY", public.as_str()),
        ])
        .await
        .unwrap();

    // Offered at launch, with its notes.
    let offered = says(&app, "update-status", "1.2.0").await;
    assert!(offered.contains("0.1.0"), "{offered}");
    let notes = app.text_of("[data-testid=update-notes]").await.unwrap();
    assert!(notes.contains("Faster transcript search."), "{notes}");

    // Downloaded with progress shown, and verified.
    app.click("update-download").await.unwrap();
    says(&app, "update-status", "verified").await;
    let progress = app
        .client
        .execute(
            "const bar = document.querySelector('[data-testid=update-progress]');
             return [Number(bar.value), Number(bar.max)];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(progress, serde_json::json!([build.len(), build.len()]));
    // This build was not installed from a package: it says so instead of replacing itself.
    app.click("update-install").await.unwrap();
    says(&app, "update-error", "not installed from a package").await;

    // A tampered build (one byte added, the signature unchanged) is refused.
    served.lock().unwrap().artifact.push(0);
    check(&app).await;
    says(&app, "update-status", "1.2.0").await;
    app.click("update-download").await.unwrap();
    says(&app, "update-error", "not signed with Viva's release key").await;

    // A malformed manifest, the same version, and 204 (nothing new).
    served.lock().unwrap().manifest = "{\"version\": ".into();
    check(&app).await;
    says(&app, "update-error", "cannot be read").await;
    {
        let mut served = served.lock().unwrap();
        served.manifest = manifest_for("0.1.0", &key.sign(&build), &artifact_url);
    }
    check(&app).await;
    says(&app, "update-status", "up to date").await;
    {
        let mut served = served.lock().unwrap();
        served.status = 204;
        served.manifest = String::new();
    }
    check(&app).await;
    says(&app, "update-status", "up to date").await;

    // The server gone: a clear message, and Viva carries on.
    server.abort();
    let _ = server.await;
    check(&app).await;
    says(&app, "update-error", "cannot be reached").await;
    let version = app.text_of("[data-testid=app-version]").await.unwrap();
    assert_eq!(version, "0.1.0");
    app.quit().await.unwrap();
}
