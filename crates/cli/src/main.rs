//! `viva`: take a practice interview (or a scheduled one) from the command line, with WAV files
//! as the microphone, printing the transcript as JSON lines. Exit status: 0 when every answer
//! was transcribed, 1 when the call failed, 2 for bad arguments or input.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;
use viva_audio::read_wav;
use viva_backend::{Backend, Membership};
use viva_cli::admin::AdminTask;
use viva_cli::embedded::{self, EmbeddedOptions};
use viva_cli::script::{self, Script};
use viva_cli::transcripts;
use viva_realtime::LineStatus;
use viva_rtc::{CallConfig, GrantSource, UplinkCounters};
use viva_session::{
    AccountRemote, BackendGrants, LiveEvent, LiveSettings, Recording, SessionError,
};

#[derive(Parser)]
#[command(
    name = "viva",
    version,
    about = "Viva's interview client on the command line"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A practice interview; with no --backend, against the embedded local stack.
    Practice(CallArgs),
    /// A scheduled interview (needs --interview-id and a backend account).
    Call {
        #[arg(long)]
        interview_id: String,
        #[command(flatten)]
        args: CallArgs,
    },
    /// Who is signed in to a backend: restores the sign-in kept in the OS keyring (and keeps
    /// its rotated token there), or signs in with --email (password from VIVA_PASSWORD, or
    /// asked for at the terminal) for this run only; --keep keeps that sign-in in the keyring
    /// for the app and later runs. Prints the state as JSON.
    Account {
        #[arg(long)]
        backend: String,
        #[arg(long, env = "VIVA_ANON_KEY")]
        anon_key: String,
        #[arg(long)]
        email: Option<String>,
        /// Keep the --email sign-in in the OS keyring (it replaces the one kept there).
        #[arg(long, requires = "email")]
        keep: bool,
    },
    /// Operator tasks on a backend with the service-role key from VIVA_SERVICE_ROLE_KEY (never
    /// an argument): show a user, or put them into an organisation with a Viva role (the
    /// tenant_id and viva_role in their app_metadata, which users cannot edit).
    Admin {
        /// The backend's base URL (required; before or after the action).
        #[arg(long, global = true)]
        backend: Option<String>,
        #[command(subcommand)]
        action: AdminAction,
    },
    /// The transcripts kept on this computer: list, search, export, import.
    Transcripts {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        action: TranscriptsAction,
    },
}

#[derive(Args)]
struct StoreArgs {
    /// The transcript database; by default the desktop app's
    /// ($XDG_DATA_HOME/app.viva.desktop/transcripts.sqlite3).
    #[arg(long, env = "VIVA_DB", global = true)]
    db: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AdminAction {
    /// Prints the user's id, e-mail and app_metadata (one JSON line).
    Show {
        #[arg(long)]
        email: String,
    },
    /// Sets the user's organisation (--tenant, its id) and/or role; prints the user.
    SetMember {
        #[arg(long)]
        email: String,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Candidate,
    Interviewer,
}

#[derive(Clone, Copy, ValueEnum)]
enum SpeakerArg {
    Candidate,
    Interviewer,
}

#[derive(Subcommand)]
enum TranscriptsAction {
    /// Sessions, newest first, with how far each has synced (JSON lines).
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Lines matching the words, best first (JSON lines with marked snippets).
    Search {
        /// Words (all must appear), "quoted phrases" and prefix*.
        words: String,
        #[arg(long, value_enum)]
        speaker: Option<SpeakerArg>,
        /// Part of the session's title.
        #[arg(long)]
        title: Option<String>,
        /// Sessions started on or after this date (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Sessions started before this date.
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One session's transcript: md, json, txt, srt or vtt.
    Export {
        session_id: String,
        #[arg(long, default_value = "md")]
        format: String,
        /// Write here instead of to standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Record the `line`s `viva practice` printed (JSON lines on standard input) as a session;
    /// prints `{"type":"committed"}` for each line once it is safely on disk.
    Import {
        #[arg(long)]
        session_id: Option<String>,
        #[arg(long, default_value = "Imported transcript")]
        title: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SignalingArg {
    Http,
    Websocket,
}

/// Which voice API a practice interview speaks.
#[derive(Clone, Copy, ValueEnum)]
enum ApiArg {
    /// OpenAI's GPT-Live (through the SDP proxy).
    Live,
    /// OpenAI's Realtime API.
    Realtime,
}

impl From<ApiArg> for viva_backend::VoiceApi {
    fn from(api: ApiArg) -> Self {
        match api {
            ApiArg::Live => Self::Live,
            ApiArg::Realtime => Self::Realtime,
        }
    }
}

#[derive(Args)]
struct CallArgs {
    /// A WAV file said as one answer, after one question; repeat for more answers.
    #[arg(long = "audio-file", required = true)]
    audio_files: Vec<PathBuf>,
    /// The backend's base URL; without it the local stack runs in this process.
    #[arg(long, requires_all = ["anon_key", "email"])]
    backend: Option<String>,
    #[arg(long, env = "VIVA_ANON_KEY")]
    anon_key: Option<String>,
    /// The password comes from VIVA_PASSWORD or a prompt, never an argument (arguments are
    /// visible to every user of the computer in the process list).
    #[arg(long)]
    email: Option<String>,
    /// The candidate has read the recording notice (printed when this is missing) and agrees:
    /// needed whenever the transcript goes to a backend (`--backend`).
    #[arg(long)]
    consent: bool,
    /// How the embedded stack has clients connect (a real backend decides for itself).
    #[arg(long, value_enum, default_value = "http")]
    signaling: SignalingArg,
    /// The voice API of a practice interview (the backend's default if not given); a
    /// scheduled interview's is its organisation's choice, read from the grant.
    #[arg(long, value_enum)]
    api: Option<ApiArg>,
    /// Also print a health sample every second.
    #[arg(long)]
    health_json: bool,
    /// Longest wait for any one step (a question, a transcript), in seconds.
    #[arg(long, default_value_t = 60)]
    step_timeout_s: u64,
    /// Stay on the line until the call has lasted this many seconds (the microphone sending
    /// silence after the last answer), then hang up.
    #[arg(long, default_value_t = 0)]
    hold_s: u64,
    /// Local UDP address for the call (`0.0.0.0:0` lets the system choose).
    #[arg(long, default_value = "0.0.0.0:0")]
    udp: String,
    #[command(flatten)]
    store: StoreArgs,
}

/// The uplink's packet counts and how long a microphone frame took to become an RTP packet.
fn uplink_summary(uplink: &UplinkCounters) -> serde_json::Value {
    let mut latencies = uplink.latencies_us();
    latencies.sort_unstable();
    let percentile_ms = |p: f64| {
        let last = latencies.len().checked_sub(1)?;
        let index = ((last as f64) * p).round() as usize;
        latencies.get(index).map(|us| f64::from(*us) / 1000.0)
    };
    json!({
        "packets": uplink.packets.load(Ordering::Relaxed),
        "bytes": uplink.bytes.load(Ordering::Relaxed),
        "dropped": uplink.dropped.load(Ordering::Relaxed),
        "frame_to_rtp_ms": {"p50": percentile_ms(0.5), "p99": percentile_ms(0.99),
            "max": percentile_ms(1.0), "frames": latencies.len()},
    })
}

fn print(value: &serde_json::Value) {
    println!("{value}");
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VIVA_LOG")
                // webrtc-rs warns about packets sent before DTLS is up: normal at call start.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new(
                        "warn,rtc=error,rtc_dtls=error,rtc_ice=error",
                    )
                }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    viva_rtc::prepare();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("viva: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (args, interview_id) = match cli.command {
        Command::Practice(args) => (args, None),
        Command::Call { interview_id, args } => (args, Some(interview_id)),
        Command::Account {
            backend,
            anon_key,
            email,
            keep,
        } => return runtime.block_on(account(&backend, &anon_key, email, keep)),
        Command::Transcripts { store, action } => return transcripts_command(&store, action),
        Command::Admin { backend, action } => {
            let task = match action {
                AdminAction::Show { email } => AdminTask::Show { email },
                AdminAction::SetMember {
                    email,
                    tenant,
                    role,
                } => AdminTask::SetMember {
                    email,
                    membership: Membership {
                        tenant_id: tenant,
                        viva_role: role.map(|r| {
                            match r {
                                RoleArg::Candidate => "candidate",
                                RoleArg::Interviewer => "interviewer",
                            }
                            .to_owned()
                        }),
                    },
                },
            };
            let Some(backend) = backend else {
                eprintln!("viva admin: --backend URL is required");
                return ExitCode::from(2);
            };
            return runtime.block_on(viva_cli::admin::run(&backend, task));
        }
    };
    runtime.block_on(take_interview(args, interview_id))
}

/// `viva transcripts ...`.
fn transcripts_command(store: &StoreArgs, action: TranscriptsAction) -> ExitCode {
    let store = match transcripts::open(store.db.as_deref()) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("viva: {error}");
            return ExitCode::FAILURE;
        }
    };
    match action {
        TranscriptsAction::List { limit } => transcripts::list(&store, limit),
        TranscriptsAction::Export {
            session_id,
            format,
            out,
        } => transcripts::export(&store, &session_id, &format, out.as_deref()),
        TranscriptsAction::Import { session_id, title } => {
            transcripts::import(&store, session_id, &title)
        }
        TranscriptsAction::Search {
            words,
            speaker,
            title,
            from,
            until,
            limit,
        } => {
            let dates = (
                from.as_deref().map(transcripts::parse_date).transpose(),
                until.as_deref().map(transcripts::parse_date).transpose(),
            );
            let (Ok(from_ms), Ok(until_ms)) = dates else {
                eprintln!("viva: --from and --until take YYYY-MM-DD or RFC 3339");
                return ExitCode::from(2);
            };
            let query = viva_store::SearchQuery {
                text: words,
                speaker: speaker.map(|s| match s {
                    SpeakerArg::Candidate => viva_realtime::Speaker::Candidate,
                    SpeakerArg::Interviewer => viva_realtime::Speaker::Interviewer,
                }),
                title_contains: title,
                from_ms,
                until_ms,
                limit,
            };
            transcripts::search(&store, &query)
        }
    }
}

/// The password, from `VIVA_PASSWORD` or asked for at the terminal (not echoed); never an
/// argument, which every user of the computer could read in the process list.
fn password() -> Option<String> {
    if let Ok(password) = std::env::var("VIVA_PASSWORD")
        && !password.is_empty()
    {
        return Some(password);
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return None;
    }
    rpassword::prompt_password("Password: ")
        .ok()
        .filter(|p| !p.is_empty())
}

/// `viva account`: exit 0 when signed in, 1 when not, 2 for bad arguments.
async fn account(url: &str, anon_key: &str, email: Option<String>, keep: bool) -> ExitCode {
    let backend = match Backend::from_settings(url, anon_key) {
        Ok(backend) => backend,
        Err(error) => {
            eprintln!("viva: {error}");
            return ExitCode::from(2);
        }
    };
    // A new sign-in stays in this process unless asked to be kept: it must not replace (and
    // so end) the sign-in the desktop app restores. Restoring uses the kept one, and keeps its
    // rotated token in the keyring for the app.
    let account = match (&email, keep) {
        (Some(_), false) => viva_backend::Account::in_memory(backend),
        _ => viva_backend::Account::new(backend, viva_backend::KeyringVault::open().await),
    };
    let outcome = match email {
        Some(email) => {
            let Some(password) = password() else {
                eprintln!(
                    "viva: --email needs the password in VIVA_PASSWORD (or a terminal to ask at)"
                );
                return ExitCode::from(2);
            };
            account.sign_in(&email, &password).await.map(|_| true)
        }
        None => account.restore().await,
    };
    let error = outcome.as_ref().err().map(ToString::to_string);
    print(&json!({"type": "account", "auth": account.state(),
        "keyring": account.keyring_status(), "error": error}));
    if matches!(account.state(), viva_backend::AuthState::SignedIn { .. }) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn take_interview(args: CallArgs, interview_id: Option<String>) -> ExitCode {
    if interview_id.is_some() && args.api.is_some() {
        eprintln!(
            "viva: --api is for practice; a scheduled interview speaks the API its organisation chose"
        );
        return ExitCode::from(2);
    }
    // The transcript leaves this computer: not a word before the candidate agrees.
    if let Some(url) = &args.backend
        && !args.consent
    {
        let notice =
            viva_session::consent::recording_notice(viva_session::consent::backend_host(url), None);
        eprint!("{}", viva_session::consent::notice_text(&notice));
        eprintln!("viva: pass --consent to agree to this notice and start");
        return ExitCode::from(2);
    }
    let practice_api = args.api.map(viva_backend::VoiceApi::from);
    let mut answers = Vec::new();
    for path in &args.audio_files {
        match read_wav(path) {
            Ok(samples) if !samples.is_empty() => answers.push(samples),
            Ok(_) => {
                eprintln!("viva: {} holds no audio", path.display());
                return ExitCode::from(2);
            }
            Err(error) => {
                eprintln!("viva: {error}");
                return ExitCode::from(2);
            }
        }
    }
    // Every line is kept before it is shown: no store, no interview.
    let store = match transcripts::open(args.store.db.as_deref()) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("viva: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The embedded stack lives until the interview is over.
    let (grants, _embedded, account) = match &args.backend {
        Some(url) => {
            let backend = Backend::new(url, args.anon_key.as_deref().unwrap_or_default());
            let (Some(email), Some(password)) = (&args.email, password()) else {
                eprintln!("viva: --backend needs --email and a password (VIVA_PASSWORD)");
                return ExitCode::from(2);
            };
            let account = Arc::new(viva_backend::Account::in_memory(backend.clone()));
            let signed_in = match account.sign_in(email, &password).await {
                Ok(_) => account.access_token().await,
                Err(error) => Err(error),
            };
            match signed_in {
                Ok(token) => (
                    BackendGrants::new(backend, token, interview_id.is_none())
                        .with_practice_api(practice_api)
                        .with_consent(Some(viva_session::consent::NOTICE_VERSION.to_owned())),
                    None,
                    Some(account),
                ),
                Err(error) => {
                    eprintln!("viva: sign-in failed: {error}");
                    return ExitCode::FAILURE;
                }
            }
        }
        None => {
            let options = EmbeddedOptions {
                signaling: Some(match args.signaling {
                    SignalingArg::Http => viva_localstack::Signaling::Http,
                    SignalingArg::Websocket => viva_localstack::Signaling::WebSocket,
                }),
                ..EmbeddedOptions::default()
            };
            match embedded::start(options).await {
                Ok(embedded) => (
                    BackendGrants::new(
                        embedded.backend.clone(),
                        embedded.session.access_token.clone(),
                        true,
                    )
                    .with_practice_api(practice_api),
                    Some(embedded),
                    None,
                ),
                Err(error) => {
                    eprintln!("viva: the local stack did not start: {error:#}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let grant = match grants.start(interview_id.as_deref()).await {
        Ok(grant) => grant,
        Err(error) => {
            eprintln!("viva: the interview could not start: {error}");
            return ExitCode::FAILURE;
        }
    };
    print(
        &json!({"type": "session", "session_id": grant.session_id, "mode": grant.mode,
        "api": grant.realtime.api, "signaling": grant.realtime.signaling,
        "model": grant.realtime.model}),
    );
    if grant.mode == viva_rtc::AnswerMode::Text {
        // The recorded answers are speech: under a text grant the microphone stays closed, so
        // they could never be heard. Say so now rather than wait for a transcript that cannot come.
        eprintln!(
            "viva: the backend asks for typed answers for this account (its organisation has turned spoken answers off for now); the command line answers only with recorded speech"
        );
        return ExitCode::FAILURE;
    }
    let session_id = grant.session_id.clone();
    let user_id = account.as_ref().and_then(|a| match a.state() {
        viva_backend::AuthState::SignedIn { user_id, .. } => Some(user_id),
        viva_backend::AuthState::SignedOut { .. } => None,
    });
    // Offline practice's stack does not outlive this run: its sessions stay on this computer.
    let remote = account.as_ref().map(|a| a.backend().base_url().to_string());
    let new_session = viva_store::NewSession {
        id: session_id.clone(),
        remote: remote.clone(),
        user_id: user_id.clone(),
        title: if interview_id.is_some() {
            "Interview"
        } else {
            "Practice"
        }
        .into(),
        mode: if interview_id.is_some() {
            "interview"
        } else {
            "practice"
        }
        .into(),
        started_at_ms: chrono::Utc::now().timestamp_millis(),
        consent: None,
    };
    let syncer = match (&account, remote, user_id) {
        (Some(account), Some(remote), Some(user_id)) => Some(viva_store::spawn_syncer(
            store.clone(),
            viva_store::SyncTarget { remote, user_id },
            AccountRemote {
                account: account.clone(),
            },
        )),
        _ => None,
    };
    let settings = LiveSettings {
        call: CallConfig {
            udp_addrs: vec![args.udp.clone()],
            ..CallConfig::default()
        },
        ..LiveSettings::default()
    };
    let source: Arc<dyn GrantSource> = Arc::new(grants);
    let script = Script {
        answers,
        step_timeout: Duration::from_secs(args.step_timeout_s),
        hold_until: Duration::from_secs(args.hold_s),
        ..Script::default()
    };
    let health_json = args.health_json;
    let recording = Recording {
        store: store.clone(),
        session: new_session,
    };
    // The session writes every change ahead (the app's pipeline); this only prints.
    let mut store_errors = 0_u32;
    let taken = script::take(
        grant,
        Some(source),
        recording,
        settings,
        script,
        |event| match event {
            LiveEvent::NotSaved { message } => {
                store_errors += 1;
                print(&json!({"type": "store_error", "message": message}));
            }
            LiveEvent::Line { line } if line.status == LineStatus::Final => print(
                &json!({"type": "line", "seq": line.seq, "speaker": line.speaker,
            "text": line.text, "started_ms": line.started_ms, "ended_ms": line.ended_ms,
            "item_id": line.item_id, "interrupted": line.interrupted, "inaudible": line.inaudible}),
            ),
            LiveEvent::Renumbered { item_id, seq } => {
                print(&json!({"type": "renumbered", "item_id": item_id, "seq": seq}));
            }
            LiveEvent::State { state } => print(&json!({"type": "state", "state": state})),
            LiveEvent::Health { health } if health_json => {
                print(&json!({"type": "health", "health": health}));
            }
            LiveEvent::Problem { code, message } => {
                print(&json!({"type": "problem", "code": code, "message": message}));
            }
            _ => {}
        },
    )
    .await;
    let (outcome, uplink) = match taken {
        Ok(taken) => taken,
        Err(SessionError::Store(error)) => {
            eprintln!("viva: cannot record the session: {error}");
            return ExitCode::FAILURE;
        }
        Err(error) => {
            eprintln!("viva: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(syncer) = syncer {
        print(&json!({"type": "sync", "sync": wait_for_sync(&store, &session_id).await}));
        drop(syncer);
    }
    print(
        &json!({"type": "summary", "summary": outcome.summary, "answers_transcribed": outcome.answers.len(),
        "interviewer_speech_frames": outcome.loud_frames, "uplink": uplink_summary(&uplink),
        "error": outcome.error}),
    );
    if store_errors > 0 {
        eprintln!("viva: {store_errors} transcript changes could not be saved");
        return ExitCode::FAILURE;
    }
    match outcome.error {
        None => ExitCode::SUCCESS,
        Some(error) => {
            eprintln!("viva: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Gives the outbox a few seconds to send the last lines and close the session; what is left
/// goes out the next time Viva (the app or this command) runs signed in to that backend.
async fn wait_for_sync(store: &viva_store::Store, session_id: &str) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let state = store.session(session_id).map(|s| s.sync);
        let done = matches!(state, Ok(viva_store::SyncState::Synced) | Err(_));
        if done || tokio::time::Instant::now() >= deadline {
            return match state {
                Ok(state) => json!(state),
                Err(error) => json!({"state": "unknown", "error": error.to_string()}),
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
