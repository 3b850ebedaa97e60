//! Auto-update in the real app against a local update server serving what the release tooling
//! (`viva_release::publish`, run by `cargo xtask release`) wrote, signed with a key made for the
//! test: a newer version is offered at launch, downloads with progress shown and a verified
//! signature; a tampered build is refused; a malformed manifest, an older or equal version, a
//! 204 and a server that is gone each get a clear answer and no crash; an install chosen during
//! an interview waits for its end; the menu checks when asked and quits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Response, StatusCode};
use axum::routing::get;
use viva_e2e::{App, Harness};
use viva_release::{Release, ReleaseKey, UpdateChannel, manifest_path, publish};

/// What the update server answers for a manifest.
#[derive(Clone)]
enum Answer {
    /// The site's own `latest.json`, as `cargo xtask release` wrote it.
    Published,
    /// This status and body instead.
    Instead(u16, String),
}

/// The update site: the folder `viva_release::publish` (what `cargo xtask release` runs)
/// wrote, served as it would be from releases.viva.app, with ways to misbehave.
#[derive(Clone)]
struct Served {
    site: PathBuf,
    answer: Answer,
    /// One byte added to every download, its signature unchanged.
    tampered: bool,
    /// How many times a manifest was asked for.
    checks: usize,
    /// Send the download in 64 KiB pieces this far apart (a slow link).
    trickle: Option<Duration>,
    /// Stop sending after the first piece (a link that stalls).
    stall: bool,
}

type Shared = Arc<Mutex<Served>>;

fn respond(status: u16, body: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-length", body.len())
        .body(Body::from(body))
        .unwrap()
}

async fn manifest(State(served): State<Shared>, Path(channel): Path<String>) -> Response<Body> {
    let served = {
        let mut served = served.lock().unwrap();
        served.checks += 1;
        served.clone()
    };
    match served.answer {
        Answer::Instead(status, body) => respond(status, body.into_bytes()),
        Answer::Published => {
            let channel = channel.parse::<UpdateChannel>().unwrap();
            match std::fs::read(manifest_path(&served.site, channel)) {
                Ok(bytes) => respond(200, bytes),
                Err(_) => respond(404, Vec::new()),
            }
        }
    }
}

async fn download(
    State(served): State<Shared>,
    Path((version, file)): Path<(String, String)>,
) -> Response<Body> {
    let served = served.lock().unwrap().clone();
    match std::fs::read(served.site.join("download").join(version).join(file)) {
        Ok(mut bytes) => {
            if served.tampered {
                bytes.push(0);
            }
            let Some(gap) = served.trickle else {
                return respond(200, bytes);
            };
            let length = bytes.len();
            let pieces: Vec<Vec<u8>> = bytes.chunks(64 * 1024).map(<[u8]>::to_vec).collect();
            let stall = served.stall;
            let stream = futures_util::stream::unfold(0_usize, move |index| {
                let piece = pieces.get(index).cloned();
                async move {
                    if index > 0 {
                        tokio::time::sleep(if stall {
                            Duration::from_secs(3600)
                        } else {
                            gap
                        })
                        .await;
                    }
                    piece.map(|p| (Ok::<_, std::io::Error>(p), index + 1))
                }
            });
            Response::builder()
                .status(200)
                .header("content-length", length)
                .body(Body::from_stream(stream))
                .unwrap()
        }
        Err(_) => respond(StatusCode::NOT_FOUND.as_u16(), Vec::new()),
    }
}

/// A release of `version` published into a fresh site with a key made now, and a server for
/// it on loopback. The build is a megabyte, so its download arrives in many pieces. The app
/// it launches gets a data folder of its own, as on a fresh install: when it last checked is
/// kept there, and another test's launch must not count.
struct UpdateServer {
    served: Shared,
    address: std::net::SocketAddr,
    key: ReleaseKey,
    build: Vec<u8>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    data: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

impl UpdateServer {
    async fn start(version: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = ReleaseKey::generate_for_tests().unwrap();
        let build: Vec<u8> = (0..1_048_576_u32).map(|i| (i % 251) as u8).collect();
        // An AppImage answers `linux-x86_64`, what a build from source (this test's) asks for.
        let bundle = dir.path().join(format!("Viva_{version}_amd64.AppImage"));
        std::fs::write(&bundle, &build).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let site = dir.path().join("site");
        let release = Release {
            version: version.parse().unwrap(),
            channel: UpdateChannel::Stable,
            notes: "Faster transcript search.\nFixes a crash when the microphone is unplugged."
                .into(),
            pub_date: "2026-11-20T10:00:00Z".into(),
            base_url: format!("http://{address}"),
        };
        publish(&site, &[bundle], &key, &release).unwrap();
        let served: Shared = Arc::new(Mutex::new(Served {
            site,
            answer: Answer::Published,
            tampered: false,
            checks: 0,
            trickle: None,
            stall: false,
        }));
        let router = axum::Router::new()
            .route("/updates/{channel}/latest.json", get(manifest))
            .route("/download/{version}/{file}", get(download))
            .with_state(served.clone());
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            served,
            address,
            key,
            build,
            server,
            data: tempfile::tempdir().unwrap(),
            _dir: dir,
        }
    }

    /// Starts the app pointed at this server and trusting this key.
    async fn launch(&self, harness: &Harness) -> App {
        let url = format!("http://{}/updates/{{channel}}/latest.json", self.address);
        let public = self.key.public_key();
        let data = self.data.path().to_string_lossy();
        harness
            .launch_app_with(&[
                ("VIVA_UPDATE_URL", url.as_str()),
                ("VIVA_UPDATE_PUBKEY", public.as_str()),
                ("XDG_DATA_HOME", &data),
            ])
            .await
            .unwrap()
    }

    /// The published manifest with another version.
    fn manifest_as(&self, version: &str) -> String {
        let site = self.served.lock().unwrap().site.clone();
        let text = std::fs::read_to_string(manifest_path(&site, UpdateChannel::Stable)).unwrap();
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["version"] = version.into();
        json.to_string()
    }
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
    let server = UpdateServer::start("1.2.0").await;
    let build = server.build.clone();
    let served = server.served.clone();
    let app = server.launch(&harness).await;

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
    served.lock().unwrap().tampered = true;
    check(&app).await;
    says(&app, "update-status", "1.2.0").await;
    app.click("update-download").await.unwrap();
    says(&app, "update-error", "not signed with Viva's release key").await;

    // A malformed manifest, the same version, and 204 (nothing new).
    served.lock().unwrap().answer = Answer::Instead(200, "{\"version\": ".into());
    check(&app).await;
    says(&app, "update-error", "cannot be read").await;
    served.lock().unwrap().answer = Answer::Instead(200, server.manifest_as("0.1.0"));
    check(&app).await;
    says(&app, "update-status", "up to date").await;
    served.lock().unwrap().answer = Answer::Instead(204, String::new());
    check(&app).await;
    says(&app, "update-status", "up to date").await;

    // The server gone: a clear message, and Viva carries on.
    server.server.abort();
    let _ = server.server.await;
    check(&app).await;
    says(&app, "update-error", "cannot be reached").await;
    let version = app.text_of("[data-testid=app-version]").await.unwrap();
    assert_eq!(version, "0.1.0");
    app.quit().await.unwrap();
}

/// A large update on a slow link: the download takes longer than the read limit, bytes keep
/// coming, and it completes (one limit on the whole request failed every such download);
/// a link that stops sending gives up after the read limit with a clear message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_download_completes_and_a_stalled_one_gives_up_clearly() {
    let harness = Harness::from_env().unwrap();
    let server = UpdateServer::start("1.2.0").await;
    // 16 pieces, 300 ms apart: about 4.5 s, against a 1.5 s read limit.
    server.served.lock().unwrap().trickle = Some(Duration::from_millis(300));
    let url = format!("http://{}/updates/{{channel}}/latest.json", server.address);
    let public = server.key.public_key();
    let data = server.data.path().to_string_lossy().into_owned();
    let app = harness
        .launch_app_with(&[
            ("VIVA_UPDATE_URL", url.as_str()),
            ("VIVA_UPDATE_PUBKEY", public.as_str()),
            ("VIVA_UPDATE_READ_TIMEOUT_MS", "1500"),
            ("XDG_DATA_HOME", &data),
        ])
        .await
        .unwrap();
    says(&app, "update-status", "1.2.0").await;
    app.click("update-download").await.unwrap();
    says(&app, "update-status", "verified").await;
    server.served.lock().unwrap().stall = true;
    check(&app).await;
    says(&app, "update-status", "1.2.0").await;
    app.click("update-download").await.unwrap();
    says(&app, "update-error", "stopped answering").await;
    app.quit().await.unwrap();
}

/// A build whose release key was never set (the repository's config, as built from source)
/// cannot verify an update: it says so and never asks the server, rather than downloading a
/// build only to refuse it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_without_a_release_key_says_updates_are_not_set_up_and_never_checks() {
    let harness = Harness::from_env().unwrap();
    let server = UpdateServer::start("1.2.0").await;
    let url = format!("http://{}/updates/{{channel}}/latest.json", server.address);
    let data = server.data.path().to_string_lossy().into_owned();
    let app = harness
        .launch_app_with(&[("VIVA_UPDATE_URL", url.as_str()), ("XDG_DATA_HOME", &data)])
        .await
        .unwrap();
    says(&app, "update-status", "not set up for this build").await;
    check(&app).await;
    says(&app, "update-status", "not set up for this build").await;
    assert!(app.text_of("[data-testid=update-download]").await.is_err());
    assert_eq!(
        server.served.lock().unwrap().checks,
        0,
        "the server was never asked"
    );
    app.quit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_chosen_during_an_interview_installs_only_after_it_ends() {
    let harness = Harness::from_env().unwrap();
    let server = UpdateServer::start("1.2.0").await;
    let app = server.launch(&harness).await;

    // Found at launch and downloaded before the interview.
    says(&app, "update-status", "1.2.0").await;
    app.click("update-download").await.unwrap();
    says(&app, "update-status", "verified").await;

    app.open_offline_preflight().await.unwrap();
    if app
        .attribute("[data-testid=text-mode]", "checked")
        .await
        .as_deref()
        != Some("true")
    {
        app.click("text-mode").await.unwrap();
    }
    app.click("start-interview").await.unwrap();
    app.answer_first_question_in_text("I keep a list of what users notice first.")
        .await
        .unwrap();

    // Mid-interview the bar offers to install after the call; choosing it does not interrupt.
    let offer = app.text_of("[data-testid=update-install]").await.unwrap();
    assert_eq!(offer, "Install when the interview ends");
    app.click("update-install").await.unwrap();
    says(&app, "update-status", "installs when your interview ends").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        app.text_of("[data-testid=update-error]").await.is_err(),
        "nothing was installed during the call"
    );
    app.answer_first_question_in_text("And I measure before I change anything.")
        .await
        .unwrap();

    // The call ends: the install goes ahead. This copy was not installed from a package, so
    // installing is where it stops, with the reason.
    app.end_interview().await.unwrap();
    says(&app, "update-error", "not installed from a package").await;
    app.quit().await.unwrap();

    // Launched again within six hours: it does not check by itself, only when asked — here
    // from the menu, whose answer is brought into view.
    let before = server.served.lock().unwrap().checks;
    let app = server.launch(&harness).await;
    app.text_of("[data-testid=app-version]").await.unwrap();
    app.choose_from_menu(1).unwrap();
    says(&app, "update-status", "1.2.0").await;
    let after = server.served.lock().unwrap().checks;
    assert_eq!(
        after,
        before + 1,
        "only the check asked for reached the server"
    );
    let in_view = app
        .client
        .execute(
            "const status = document.querySelector('[data-testid=update-status]');
             const box = status.getBoundingClientRect();
             return box.top >= 0 && box.bottom <= window.innerHeight;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(in_view, serde_json::json!(true), "the answer is on screen");

    // Quit from the menu closes Viva.
    app.choose_from_menu(2).unwrap();
    app.exited().await.unwrap();
}
