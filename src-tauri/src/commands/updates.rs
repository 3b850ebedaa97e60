//! Keeping Viva current through Tauri's updater plugin: the checks, the verified download and
//! the in-place install, never during an interview. When and where to check, with which key,
//! and what the user is told are `viva-update`'s.

use std::sync::Mutex;

use tauri::ipc::Channel;
use tauri::{AppHandle, State};
use tauri_plugin_updater::{Update, UpdaterExt};
use viva_update::{
    CHANNEL_KEY, CHECK_EVERY, CHECK_TIMEOUT, CONNECT_TIMEOUT, Endpoint, InstallKind, InstallView,
    LAST_CHECK_KEY, UpdateChannel, UpdateCheckView, UpdateError, UpdateProgress, check_due,
};

use crate::error::{AppError, ErrorCode};
use crate::live::LiveState;
use crate::transcripts::TranscriptState;

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

fn install_kind() -> InstallKind {
    let bundle = tauri::utils::platform::bundle_type().map(|bundle| bundle.to_string());
    InstallKind::for_bundle(bundle.as_deref())
}

fn channel(transcripts: &TranscriptState) -> UpdateChannel {
    let chosen = transcripts
        .store()
        .and_then(|store| store.setting(CHANNEL_KEY).ok().flatten());
    UpdateChannel::from_setting(chosen.as_deref())
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

/// Which of `viva-update`'s failures the plugin's error is.
fn explain(error: &tauri_plugin_updater::Error) -> UpdateError {
    use tauri_plugin_updater::Error as E;
    match error {
        E::Minisign(_) | E::Base64(_) | E::SignatureUtf8(_) => UpdateError::Unsigned,
        E::Reqwest(e) if e.is_timeout() => UpdateError::Stalled,
        E::Reqwest(e) if e.is_decode() => UpdateError::Unreadable,
        E::ReleaseNotFound | E::Serialization(_) | E::Semver(_) | E::UrlParse(_) => {
            UpdateError::Unreadable
        }
        E::TargetNotFound(_) | E::TargetsNotFound(_) => UpdateError::NoBuild,
        E::Reqwest(_) | E::Network(_) | E::Http(_) => UpdateError::Unreachable(error.to_string()),
        other => UpdateError::Failed(other.to_string()),
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
    let endpoint = Endpoint::from_env();
    if !manual {
        let last = store
            .and_then(|store| store.setting(LAST_CHECK_KEY).ok().flatten())
            .and_then(|text| text.parse::<i64>().ok());
        if !endpoint.checks_by_itself() || !check_due(last, now, CHECK_EVERY) {
            return Ok(UpdateCheckView::NotDue);
        }
    }
    // Without a release key nothing could be verified: no check, no download.
    let Some(key) = endpoint.release_key(configured_pubkey(&app).as_deref()) else {
        tracing::info!(event = "updates_not_set_up");
        return Ok(UpdateCheckView::NotSetUp);
    };
    let channel = channel(&transcripts);
    let url = endpoint.manifest_url(channel);
    let url = url
        .parse::<tauri::Url>()
        .map_err(|e| UpdateError::BadAddress {
            detail: e.to_string(),
            url,
        })?;
    let read_timeout = endpoint.read_timeout();
    // Connect and read limits, not one limit on the whole request: the download inherits the
    // check's client settings, and a whole-request limit fails a large update on a slow link.
    let updater = app
        .updater_builder()
        .endpoints(vec![url])
        .map_err(|e| explain(&e))?
        .pubkey(key)
        .configure_client(move |client| {
            client
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(read_timeout)
        })
        .build()
        .map_err(|e| explain(&e))?;
    let found = tokio::time::timeout(CHECK_TIMEOUT, updater.check())
        .await
        .map_err(|_| UpdateError::NoAnswer)?
        .map_err(|e| {
            tracing::warn!(event = "update_check_failed", %channel, error = %e);
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
    tracing::info!(event = "update_checked", %channel, found = ?found.as_ref().map(|u| &u.version));
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
        .ok_or(UpdateError::NotChecked)?;
    let mut downloaded = 0_u64;
    let bytes = update
        .download(
            |chunk, total| {
                downloaded += chunk as u64;
                // The UI may have gone (window reloaded); progress is only a courtesy.
                let _ = on_progress.send(UpdateProgress::new(downloaded, total));
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
    install_kind().can_install()?;
    let (update, bytes) = updates
        .downloaded
        .lock()
        .ok()
        .and_then(|mut kept| kept.take())
        .ok_or(UpdateError::NotDownloaded)?;
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
