//! Keeping Viva current: the release channel's manifest checked (at launch, at most every six
//! hours, or when asked), the update downloaded with progress and its signature verified, then
//! installed in place and Viva restarted — never during an interview. A `.deb` install is
//! updated by the package manager, and the user is told so.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::{AppHandle, State};
use tauri_plugin_updater::{Update, UpdaterExt};

use crate::error::{AppError, ErrorCode};
use crate::live::LiveState;
use crate::transcripts::TranscriptState;

/// Checks at launch come at most this often.
const CHECK_EVERY: Duration = Duration::from_secs(6 * 60 * 60);
const LAST_CHECK_KEY: &str = "updates.last_check_ms";
const CHANNEL_KEY: &str = "updates.channel";
/// Where each channel's manifest lives; `{channel}` is `stable` or `beta`.
const MANIFEST_URL: &str = "https://releases.viva.app/updates/{channel}/latest.json";
/// What `plugins.updater.pubkey` holds in the repository: the release key's public half is
/// merged in by whoever builds and signs a release (`cargo xtask release`), so an organisation
/// building its own Viva edits no tracked file. A build that still carries it has no key.
pub const UNCONFIGURED_PUBKEY: &str = "UNCONFIGURED: cargo xtask release sets the release key";
/// Giving up on reaching the update server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest silence while reading (the manifest, or a chunk of the download). A large
/// update on a slow link takes as long as it takes, as long as bytes keep coming.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The whole check (a small manifest) gives up after this long.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// A release channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum UpdateChannel {
    Stable,
    Beta,
}

impl UpdateChannel {
    fn as_str(self) -> &'static str {
        match self {
            Self::Stable => "stable",
            Self::Beta => "beta",
        }
    }
}

/// How an update reaches this installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum InstallKind {
    /// Replaced in place and restarted (an AppImage).
    InPlace,
    /// Installed from a `.deb`: the system's package manager updates it.
    PackageManager,
    /// Not installed from a package (a build from source): the new version is downloaded and
    /// verified, but installing it is left to the user.
    Manual,
}

fn install_kind() -> InstallKind {
    use tauri::utils::config::BundleType;
    match tauri::utils::platform::bundle_type() {
        Some(BundleType::AppImage) => InstallKind::InPlace,
        Some(BundleType::Deb | BundleType::Rpm) => InstallKind::PackageManager,
        _ => InstallKind::Manual,
    }
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum UpdateCheckView {
    /// Nothing newer on the channel.
    UpToDate { current: String },
    /// A newer version, with its release notes.
    #[serde(rename_all = "camelCase")]
    Available {
        version: String,
        current: String,
        notes: String,
        /// RFC 3339, when the manifest says.
        published: Option<String>,
        install: InstallKind,
    },
    /// A check at launch, within six hours of the last: nothing was asked.
    NotDue,
    /// This build has no release key (built from source, not by the release tooling): it
    /// cannot verify an update, so it never checks or downloads one.
    NotSetUp,
}

/// Download progress, in bytes.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct UpdateProgress {
    pub downloaded: f64,
    /// `None` when the server did not say how large the download is.
    pub total: Option<f64>,
}

/// What installing did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum InstallView {
    /// An interview is under way: ask again when it ends.
    Deferred,
    /// Installed; Viva restarts now.
    Restarting,
}

/// Managed state: the update found by the last check, and its verified download.
#[derive(Default)]
pub struct UpdateState {
    found: Mutex<Option<Update>>,
    downloaded: Mutex<Option<(Update, Vec<u8>)>>,
}

impl std::fmt::Debug for UpdateState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateState").finish_non_exhaustive()
    }
}

fn unavailable(message: impl Into<String>) -> AppError {
    AppError::new(ErrorCode::UpdateUnavailable, message)
}

/// The channel chosen in settings (stable unless the user chose beta).
fn channel(transcripts: &TranscriptState) -> UpdateChannel {
    let chosen = transcripts
        .store()
        .and_then(|store| store.setting(CHANNEL_KEY).ok().flatten());
    match chosen.as_deref() {
        Some("beta") => UpdateChannel::Beta,
        _ => UpdateChannel::Stable,
    }
}

/// The channel's manifest URL. Debug builds (the tests') may point at a local server and trust
/// a key made for the test; a release build only ever trusts its own.
fn manifest_url(channel: UpdateChannel) -> String {
    #[cfg(debug_assertions)]
    if let Ok(url) = std::env::var("VIVA_UPDATE_URL") {
        return url.replace("{channel}", channel.as_str());
    }
    MANIFEST_URL.replace("{channel}", channel.as_str())
}

/// [`READ_TIMEOUT`]; debug builds (the tests') may shorten it so a stalled download is found
/// in seconds.
fn read_timeout() -> Duration {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("VIVA_UPDATE_READ_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        return Duration::from_millis(ms);
    }
    READ_TIMEOUT
}

fn test_pubkey() -> Option<String> {
    #[cfg(debug_assertions)]
    if let Ok(key) = std::env::var("VIVA_UPDATE_PUBKEY") {
        return Some(key);
    }
    None
}

/// The key updates are verified with: a test key (debug builds), else the one the release
/// build was given; `None` when this build has none.
fn release_key(configured: Option<&str>, test_key: Option<String>) -> Option<String> {
    test_key.or_else(|| {
        configured
            .map(str::trim)
            .filter(|key| !key.is_empty() && *key != UNCONFIGURED_PUBKEY)
            .map(str::to_owned)
    })
}

fn configured_pubkey(app: &AppHandle) -> Option<String> {
    app.config()
        .plugins
        .0
        .get("updater")
        .and_then(|updater| updater.get("pubkey"))
        .and_then(|key| key.as_str())
        .map(str::to_owned)
}

/// What a failed check or download means to the user.
fn explain(error: &tauri_plugin_updater::Error) -> AppError {
    use tauri_plugin_updater::Error as E;
    match error {
        E::Minisign(_) | E::Base64(_) | E::SignatureUtf8(_) => AppError::new(
            ErrorCode::UpdateRefused,
            "The update is not signed with Viva's release key, so it was thrown away and nothing \
             was installed.",
        ),
        E::Reqwest(e) if e.is_timeout() => unavailable(
            "The update server stopped answering (nothing arrived for a while); Viva will try again later.",
        ),
        E::Reqwest(e) if e.is_decode() => {
            unavailable("The update server's answer cannot be read; Viva will try again later.")
        }
        E::ReleaseNotFound | E::Serialization(_) | E::Semver(_) | E::UrlParse(_) => {
            unavailable("The update server's answer cannot be read; Viva will try again later.")
        }
        E::TargetNotFound(_) | E::TargetsNotFound(_) => {
            unavailable("The update server has no build for this computer yet.")
        }
        E::Reqwest(_) | E::Network(_) | E::Http(_) => unavailable(format!(
            "The update server cannot be reached; Viva will try again later. ({error})"
        )),
        other => unavailable(format!("Checking for updates failed: {other}")),
    }
}

/// Checks the chosen channel for a newer version. `manual`: asked from the menu — always
/// asks the server; otherwise at most every six hours. A failed check is not counted, so the
/// next launch tries again.
#[tauri::command]
#[specta::specta]
pub async fn check_for_update(
    app: AppHandle,
    updates: State<'_, UpdateState>,
    transcripts: State<'_, TranscriptState>,
    manual: bool,
) -> Result<UpdateCheckView, AppError> {
    let now = chrono::Utc::now().timestamp_millis();
    let store = transcripts.store();
    // A debug build (development, tests) checks by itself only against a test server: its
    // runs never reach beyond this computer unless someone asks.
    if !manual && cfg!(debug_assertions) && std::env::var_os("VIVA_UPDATE_URL").is_none() {
        return Ok(UpdateCheckView::NotDue);
    }
    if !manual {
        let last = store
            .and_then(|store| store.setting(LAST_CHECK_KEY).ok().flatten())
            .and_then(|text| text.parse::<i64>().ok());
        let every = i64::try_from(CHECK_EVERY.as_millis()).unwrap_or(i64::MAX);
        if last.is_some_and(|last| (0..every).contains(&(now - last))) {
            return Ok(UpdateCheckView::NotDue);
        }
    }
    // Without a release key nothing could be verified: no check, no download.
    let Some(key) = release_key(configured_pubkey(&app).as_deref(), test_pubkey()) else {
        tracing::info!(event = "updates_not_set_up");
        return Ok(UpdateCheckView::NotSetUp);
    };
    let channel = channel(&transcripts);
    let url = manifest_url(channel);
    let url = url
        .parse()
        .map_err(|e| unavailable(format!("The update address {url} is not usable: {e}")))?;
    // Connect and read limits, not one limit on the whole request: the download inherits the
    // check's client settings, and a whole-request limit fails a large update on a slow link.
    let updater = app
        .updater_builder()
        .endpoints(vec![url])
        .map_err(|e| explain(&e))?
        .pubkey(key)
        .configure_client(|client| {
            client
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(read_timeout())
        })
        .build()
        .map_err(|e| explain(&e))?;
    let found = tokio::time::timeout(CHECK_TIMEOUT, updater.check())
        .await
        .map_err(|_| unavailable("The update server did not answer; Viva will try again later."))?
        .map_err(|e| {
            tracing::warn!(event = "update_check_failed", channel = channel.as_str(), error = %e);
            explain(&e)
        })?;
    if let Some(store) = store
        && let Err(error) = store.set_setting(LAST_CHECK_KEY, &now.to_string())
    {
        tracing::warn!(event = "update_check_unrecorded", %error);
    }
    let current = app.package_info().version.to_string();
    let view = match &found {
        None => UpdateCheckView::UpToDate { current },
        Some(update) => UpdateCheckView::Available {
            version: update.version.clone(),
            current,
            notes: update.body.clone().unwrap_or_default(),
            published: update
                .raw_json
                .get("pub_date")
                .and_then(|d| d.as_str())
                .map(str::to_owned),
            install: install_kind(),
        },
    };
    tracing::info!(event = "update_checked", channel = channel.as_str(), found = ?found.as_ref().map(|u| &u.version));
    if let Ok(mut kept) = updates.found.lock() {
        *kept = found;
    }
    Ok(view)
}

/// Downloads the update the last check found, reporting progress, and verifies its signature
/// against Viva's release key. A download that does not verify is thrown away.
#[tauri::command]
#[specta::specta]
pub async fn download_update(
    updates: State<'_, UpdateState>,
    on_progress: Channel<UpdateProgress>,
) -> Result<String, AppError> {
    let update = updates
        .found
        .lock()
        .ok()
        .and_then(|found| found.clone())
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "Check for updates first."))?;
    let mut downloaded = 0_u64;
    let bytes = update
        .download(
            |chunk, total| {
                downloaded += chunk as u64;
                // The UI may have gone (window reloaded); progress is only a courtesy.
                let _ = on_progress.send(UpdateProgress {
                    downloaded: downloaded as f64,
                    total: total.map(|t| t as f64),
                });
            },
            || {},
        )
        .await
        .map_err(|e| {
            tracing::warn!(event = "update_download_failed", version = %update.version, error = %e);
            explain(&e)
        })?;
    tracing::info!(event = "update_verified", version = %update.version, bytes = bytes.len());
    let version = update.version.clone();
    if let Ok(mut kept) = updates.downloaded.lock() {
        *kept = Some((update, bytes));
    }
    Ok(version)
}

/// Installs the verified download and restarts Viva — unless an interview is under way, when
/// it waits (the UI asks again when the call ends).
#[tauri::command]
#[specta::specta]
pub async fn install_update(
    app: AppHandle,
    updates: State<'_, UpdateState>,
    live: State<'_, LiveState>,
) -> Result<InstallView, AppError> {
    if live.session.lock().await.is_some() {
        tracing::info!(event = "update_deferred");
        return Ok(InstallView::Deferred);
    }
    match install_kind() {
        InstallKind::InPlace => {}
        InstallKind::PackageManager => {
            return Err(unavailable(
                "Viva was installed from a .deb package: update it with your package manager \
                 (for example `sudo apt upgrade`, or install the new .deb).",
            ));
        }
        InstallKind::Manual => {
            return Err(unavailable(
                "This copy of Viva was not installed from a package, so it cannot replace \
                 itself. The new version was downloaded and verified; install it from the \
                 release page.",
            ));
        }
    }
    let (update, bytes) = updates
        .downloaded
        .lock()
        .ok()
        .and_then(|mut kept| kept.take())
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "Download the update first."))?;
    update.install(&bytes).map_err(|e| {
        tracing::error!(event = "update_install_failed", version = %update.version, error = %e);
        explain(&e)
    })?;
    tracing::info!(event = "update_installed", version = %update.version);
    app.restart()
}

/// The channel updates come from.
#[tauri::command]
#[specta::specta]
pub fn update_channel(transcripts: State<'_, TranscriptState>) -> UpdateChannel {
    channel(&transcripts)
}

/// Chooses the channel updates come from; the next check asks it.
#[tauri::command]
#[specta::specta]
pub fn set_update_channel(
    transcripts: State<'_, TranscriptState>,
    channel: UpdateChannel,
) -> Result<UpdateChannel, AppError> {
    let store = transcripts.readable()?;
    store
        .set_setting(CHANNEL_KEY, channel.as_str())
        .and_then(|()| store.set_setting(LAST_CHECK_KEY, "0"))
        .map_err(|e| AppError::new(ErrorCode::StoreUnavailable, e.to_string()))?;
    Ok(channel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_without_a_release_key_has_no_key_to_verify_with() {
        assert_eq!(release_key(Some(UNCONFIGURED_PUBKEY), None), None);
        assert_eq!(release_key(Some("  "), None), None);
        assert_eq!(release_key(None, None), None);
        assert_eq!(
            release_key(Some("dW50cnVzdGVk"), None).as_deref(),
            Some("dW50cnVzdGVk")
        );
        assert_eq!(
            release_key(Some(UNCONFIGURED_PUBKEY), Some("test-key".into())).as_deref(),
            Some("test-key")
        );
    }
}
