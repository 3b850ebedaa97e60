//! Pre-flight and the live interview: microphones and their levels, the offline model, starting
//! a practice or a scheduled interview, muting, typed answers and ending. Streams go to the UI
//! over channels; the UI never polls.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tauri::State;
use tauri::ipc::Channel;
use viva_audio::{
    AudioEvent, Capture, CaptureSettings, DeviceInfo, DeviceSelection, Level, PlaybackSettings,
};
use viva_session::consent::{NOTICE_VERSION, RecordingNotice, backend_host, recording_notice};
use viva_session::hearing::Heard;
use viva_session::timeline::CallTimeline;
use viva_session::{
    Answering, BackendGrants, Ended, LiveEvent, LiveSession, LiveSettings, Microphone, Recording,
};
use viva_speech::model::{self, Progress};
use viva_store::{Consent, NewSession};

use crate::account::AccountState;
use crate::error::{AppError, ErrorCode};
use crate::live::{LiveState, MicTest};
use crate::transcripts::TranscriptState;

/// What pre-flight checks before an interview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct PreflightView {
    /// For the picker: monitors of the speakers are left out unless one is the default.
    pub microphones: Vec<DeviceInfo>,
    /// Why sound may not work (the sound server is unreachable), in words.
    pub sound_problem: Option<String>,
    /// The offline transcription model is in place (offline practice transcribes with it).
    pub model_ready: bool,
    /// Where it is (or would be).
    pub model_path: String,
    /// The backend answered (for offline practice: the embedded one).
    pub backend: BackendCheck,
    /// Practising offline: answers are transcribed by the offline model on this computer.
    pub offline: bool,
    /// What the candidate must read and agree to before the transcript leaves this computer
    /// (none for offline practice, which stays here).
    pub recording_notice: Option<RecordingNotice>,
}

/// Whether the backend can start an interview now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BackendCheck {
    Ready,
    SignedOut,
    Unreachable { message: String },
}

#[tauri::command]
#[specta::specta]
pub async fn preflight(accounts: State<'_, AccountState>) -> Result<PreflightView, AppError> {
    let (microphones, sound_problem) = tokio::task::spawn_blocking(|| {
        let microphones = viva_audio::input_devices()
            .into_iter()
            .filter(|d| !d.is_monitor || d.is_default)
            .collect::<Vec<_>>();
        (microphones, viva_audio::sound_system_trouble())
    })
    .await
    .map_err(|e| AppError::new(ErrorCode::Unavailable, e.to_string()))?;
    let model_path = model::default_model_path();
    let backend = match accounts.account().await {
        // Asks the backend who is signed in: a kept token alone says nothing about the network.
        Ok(Some(account)) => match account
            .with_backend(|backend, token| async move { backend.user(&token).await })
            .await
        {
            Ok(_) => BackendCheck::Ready,
            Err(viva_backend::BackendError::SignedOut(_)) => BackendCheck::SignedOut,
            Err(error) => BackendCheck::Unreachable {
                message: error.to_string(),
            },
        },
        Ok(None) => BackendCheck::SignedOut,
        Err(error) => BackendCheck::Unreachable {
            message: error.to_string(),
        },
    };
    let offline = accounts.is_offline().await;
    let recording_notice = if offline {
        None
    } else {
        Some(recording_notice_for(&accounts).await)
    };
    Ok(PreflightView {
        microphones,
        sound_problem,
        model_ready: model_path.is_file(),
        model_path: model_path.display().to_string(),
        backend,
        offline,
        recording_notice,
    })
}

/// The notice for the signed-in user's backend, naming their organisation when it can be read
/// (a notice without the name is still true, so a failed read does not block the start).
async fn recording_notice_for(accounts: &AccountState) -> RecordingNotice {
    let Ok(Some(account)) = accounts.account().await else {
        return recording_notice("your organisation's server", None);
    };
    let host = backend_host(account.backend().base_url()).to_owned();
    let organisation = account
        .with_backend(|backend, token| async move { backend.tenants(&token).await })
        .await
        .ok()
        .and_then(|tenants| tenants.into_iter().next().map(|t| t.name));
    recording_notice(&host, organisation.as_deref())
}

fn selection(microphone: Option<String>) -> DeviceSelection {
    microphone.map_or(DeviceSelection::SystemDefault, DeviceSelection::Id)
}

fn no_microphone(error: impl std::fmt::Display) -> AppError {
    AppError::new(
        ErrorCode::NoMicrophone,
        format!("No microphone can be used ({error}). You can answer in text instead."),
    )
}

/// Opens `microphone` and streams its level, and the words it hears once the speaker pauses,
/// until [`stop_mic_test`] (or another test).
#[tauri::command]
#[specta::specta]
pub async fn start_mic_test(
    live: State<'_, LiveState>,
    microphone: Option<String>,
    on_level: Channel<Level>,
    on_heard: Channel<Heard>,
) -> Result<(), AppError> {
    let mut test = live.mic_test.lock().await;
    *test = None;
    let settings = CaptureSettings {
        device: selection(microphone),
        ..CaptureSettings::default()
    };
    let (capture, streams) = Capture::start(settings).map_err(no_microphone)?;
    let (frames, mut events) = (streams.frames, streams.events);
    let forward = tokio::spawn(async move {
        let hearing =
            viva_session::hearing::listen(frames, model::default_model_path(), move |heard| {
                let _ = on_heard.send(heard);
            });
        let levels = async move {
            while let Some(event) = events.recv().await {
                if let AudioEvent::Level { level, .. } = event
                    && on_level.send(level).is_err()
                {
                    break;
                }
            }
        };
        // Either ending ends the test: the window went away, or the capture stopped.
        tokio::select! {
            () = hearing => {}
            () = levels => {}
        }
    });
    *test = Some(MicTest { capture, forward });
    Ok(())
}

#[tauri::command]
#[specta::specta]
pub async fn stop_mic_test(live: State<'_, LiveState>) -> Result<(), AppError> {
    live.mic_test.lock().await.take();
    Ok(())
}

/// What the speaker test found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ToneResult {
    /// Sound reached the speakers (a level above silence).
    pub played: bool,
    /// The microphone heard the tone: the speakers reach it, so without headphones echo
    /// cancellation matters. `None` when no microphone was listening or it could not tell.
    pub microphone_heard: Option<bool>,
}

/// Plays a short tone through the speakers the way the interviewer's voice is played,
/// streaming its level, while `microphone` (none: the default) listens through the echo
/// canceller.
#[tauri::command]
#[specta::specta]
pub async fn play_test_tone(
    microphone: Option<String>,
    on_level: Channel<Level>,
) -> Result<ToneResult, AppError> {
    let listening = CaptureSettings {
        device: selection(microphone),
        ..CaptureSettings::default()
    };
    let outcome =
        viva_session::tone::play_tone(PlaybackSettings::default(), Some(listening), |level| {
            let _ = on_level.send(level);
        })
        .await
        .map_err(|error| {
            AppError::new(
                ErrorCode::NoSpeakers,
                format!("No speakers or headphones can be used ({error})."),
            )
        })?;
    Ok(ToneResult {
        played: outcome.loudest.peak_dbfs > viva_audio::level::NO_SIGNAL_DBFS,
        microphone_heard: outcome.microphone_heard,
    })
}

/// Sets up the offline transcription model (download, check, convert), streaming progress.
/// Offline practice then transcribes voice, and pre-flight shows the words it hears.
#[tauri::command]
#[specta::specta]
pub async fn set_up_model(
    live: State<'_, LiveState>,
    on_progress: Channel<Progress>,
) -> Result<(), AppError> {
    let Ok(_only_one) = live.model_setup.try_lock() else {
        return Err(AppError::new(
            ErrorCode::Busy,
            "Offline transcription is already being set up.",
        ));
    };
    let dir = model::model_dir();
    let prepared = tokio::task::spawn_blocking(move || {
        let mut last: Option<Progress> = None;
        model::prepare(&dir, |progress| {
            if last.is_none_or(|last| progress.moved_on_from(&last)) {
                let _ = on_progress.send(progress);
                last = Some(progress);
            }
        })
    })
    .await
    .map_err(|e| AppError::new(ErrorCode::ModelSetupFailed, e.to_string()))?;
    match prepared {
        Ok(path) => {
            tracing::info!(event = "model_set_up", path = %path.display());
            Ok(())
        }
        Err(error) => {
            tracing::warn!(event = "model_setup_failed", %error);
            Err(AppError::new(
                ErrorCode::ModelSetupFailed,
                format!("Offline transcription could not be set up: {error}"),
            ))
        }
    }
}

/// What to start.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct StartRequest {
    /// The scheduled interview to join; `None` for practice.
    pub interview_id: Option<String>,
    pub microphone: Option<String>,
    /// The candidate asked for typed answers: no microphone is opened. (The backend's grant
    /// may ask for them too, whatever this says.)
    pub text_only: bool,
    /// The candidate uses headphones: echo cancellation is off (the speakers cannot reach
    /// the microphone, and the canceller would only cost a little of the voice).
    #[serde(default)]
    pub headphones: bool,
    /// The version of the recording notice the candidate agreed to; needed whenever the
    /// transcript leaves this computer.
    #[serde(default)]
    pub consent: Option<String>,
}

/// The session that started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct StartedView {
    pub session_id: String,
    /// Spoken or typed answers, and why: the grant's `mode: "text"` wins over the request.
    pub answering: Answering,
    /// Kept on this computer only (offline practice).
    pub local_only: bool,
}

/// Starts a practice (or joins the scheduled interview `interview_id`) as the signed-in user
/// or offline practice's local one; everything it streams goes to `on_update`.
#[tauri::command]
#[specta::specta]
pub async fn start_interview(
    accounts: State<'_, AccountState>,
    transcripts: State<'_, TranscriptState>,
    live: State<'_, LiveState>,
    request: StartRequest,
    on_update: Channel<LiveEvent>,
) -> Result<StartedView, AppError> {
    let mut current = live.session.lock().await;
    if current.as_ref().is_some_and(|s| !s.is_over()) {
        return Err(AppError::new(
            ErrorCode::Busy,
            "An interview is already under way.",
        ));
    }
    // The pre-flight test holds the microphone; the interview takes it over.
    live.mic_test.lock().await.take();
    let store = transcripts.store().cloned().ok_or_else(|| {
        AppError::new(
            ErrorCode::StoreUnavailable,
            "Transcripts cannot be saved on this computer, so no interview can start.",
        )
    })?;
    let account = accounts.account().await?.ok_or_else(|| {
        AppError::new(
            ErrorCode::SignedOut,
            "Sign in, or choose offline practice, first.",
        )
    })?;
    let offline = accounts.is_offline().await;
    let user_id = match account.state() {
        viva_backend::AuthState::SignedIn { user_id, .. } => user_id,
        viva_backend::AuthState::SignedOut { .. } => {
            return Err(AppError::new(ErrorCode::SignedOut, "Sign in again first."));
        }
    };
    // Not a word leaves this computer before the candidate agrees to the notice they were
    // shown (the backend refuses an interview without it, too).
    let consent = if offline {
        None
    } else if request.consent.as_deref() == Some(NOTICE_VERSION) {
        Some(Consent {
            notice: NOTICE_VERSION.to_owned(),
            agreed_at_ms: chrono::Utc::now().timestamp_millis(),
        })
    } else {
        return Err(AppError::new(
            ErrorCode::ConsentRequired,
            "Read what is recorded and agree to it before you start.",
        ));
    };
    let practice = request.interview_id.is_none();
    let grants = BackendGrants::for_account(account.clone(), practice)
        .with_consent(consent.as_ref().map(|c| c.notice.clone()));
    let grant = grants
        .start(request.interview_id.as_deref())
        .await
        .map_err(|error| AppError::new(ErrorCode::Unavailable, error.to_string()))?;
    // Offline practice's stack lives for this run only: its sessions stay on this computer.
    let remote = (!offline).then(|| account.backend().base_url().to_owned());
    if let Some(remote) = &remote {
        transcripts.sync_as(&account, remote, &user_id);
    }
    let session = NewSession {
        id: grant.session_id.clone(),
        remote: remote.clone(),
        user_id: Some(user_id),
        title: if practice { "Practice" } else { "Interview" }.into(),
        mode: if practice { "practice" } else { "interview" }.into(),
        started_at_ms: chrono::Utc::now().timestamp_millis(),
        consent,
    };
    // What the candidate asked for; the session opens it only if the grant's mode is voice.
    let microphone = if request.text_only {
        Microphone::None
    } else {
        Microphone::Device(CaptureSettings {
            device: selection(request.microphone),
            ..CaptureSettings::default()
        })
    };
    let source: Arc<dyn viva_rtc::GrantSource> = Arc::new(grants);
    let (session, mut events) = LiveSession::start(
        grant,
        Some(source),
        Recording { store, session },
        microphone,
        LiveSettings {
            echo_cancellation: !request.headphones,
            ..LiveSettings::default()
        },
    )
    .await
    .map_err(|error| match error {
        viva_session::SessionError::Audio(error) => no_microphone(error),
        other => AppError::new(ErrorCode::StoreUnavailable, other.to_string()),
    })?;
    let started = StartedView {
        session_id: session.session_id().to_owned(),
        answering: session.answering(),
        local_only: remote.is_none(),
    };
    tracing::info!(event = "interview_started", session = %started.session_id, practice, answering = ?started.answering);
    *current = Some(session);
    let started_at = std::time::Instant::now();
    if let Ok(mut last) = live.last_call.lock() {
        *last = Some(CallTimeline::new(
            &started.session_id,
            chrono::Utc::now().timestamp_millis(),
        ));
    }
    let timeline = Arc::clone(&live.last_call);
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let Ok(mut last) = timeline.lock()
                && let Some(call) = last.as_mut()
            {
                let at_ms = u64::try_from(started_at.elapsed().as_millis()).unwrap_or(u64::MAX);
                call.record(at_ms, &event);
            }
            // The window may be gone; the session still records every line.
            let _ = on_update.send(event);
        }
    });
    Ok(started)
}

fn not_live() -> AppError {
    AppError::new(ErrorCode::NotLive, "No interview is under way.")
}

#[tauri::command]
#[specta::specta]
pub async fn set_muted(live: State<'_, LiveState>, muted: bool) -> Result<(), AppError> {
    let current = live.session.lock().await;
    let session = current.as_ref().ok_or_else(not_live)?;
    session.set_muted(muted).await.map_err(|_| not_live())
}

/// Sends a typed answer (text mode).
#[tauri::command]
#[specta::specta]
pub async fn send_answer(live: State<'_, LiveState>, text: String) -> Result<(), AppError> {
    let current = live.session.lock().await;
    let session = current.as_ref().ok_or_else(not_live)?;
    session.send_text(&text).await.map_err(|error| match error {
        viva_session::SessionError::EmptyAnswer => {
            AppError::new(ErrorCode::InvalidInput, error.to_string())
        }
        _ => not_live(),
    })
}

/// Hangs up; the ending is recorded before this returns.
#[tauri::command]
#[specta::specta]
pub async fn end_interview(live: State<'_, LiveState>) -> Result<Option<Ended>, AppError> {
    let session = live.session.lock().await.take().ok_or_else(not_live)?;
    // `None`: it had ended by itself, and the UI had its `ended` event.
    Ok(session.end().await)
}

/// Forgets a session that ended by itself (the interviewer ended it, or it failed).
#[tauri::command]
#[specta::specta]
pub async fn leave_interview(live: State<'_, LiveState>) -> Result<(), AppError> {
    live.session.lock().await.take();
    Ok(())
}
