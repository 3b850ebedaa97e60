//! Viva's desktop shell (viva-desktop): the Tauri wiring between the UI and the `viva-*` library
//! crates, and nothing more.
//!
//! What it owns:
//! - The builder ([`run`]): plugins (single instance, save dialog, updater), managed state,
//!   the menu, the main window and how its webview draws ([`rendering`]), logging.
//! - The IPC contract ([`ipc`]): every command the UI may call, each a thin function in
//!   [`commands`] (one file, or one folder, per concern) that reads managed state, calls a
//!   library crate and maps its error to [`error::AppError`] (a stable `code`, a message).
//!   The TypeScript bindings are generated from this list and the types it names — the
//!   domain types themselves where they cross as they are (`Speaker`, `SyncState`,
//!   `AuthState`, via each crate's `specta` feature), a view type here only where the UI
//!   needs a different shape.
//! - App-level state the commands share: the sign-in and its settings file ([`account`],
//!   [`settings`]), the opened transcript store and its outbox ([`transcripts`]), the live
//!   interview slot ([`live`]), updates.
//!
//! What it does not own: review's policy (which copy of a transcript to show, the list's
//! offline fallback: `viva-review`), the call and its audio (`viva-session`, `viva-rtc`,
//! `viva-audio`), SQL (`viva-store`), HTTP and tokens (`viva-backend`), SDP. Anything a test
//! could check without Tauri belongs in a library crate, not here.

pub mod account;
pub mod commands;
pub mod error;
pub mod live;
mod logging;
pub mod menu;
pub mod rendering;
pub mod settings;
pub mod transcripts;

use tauri::Manager;

/// The label of the one main window (capabilities/ grants permissions by it).
pub const MAIN_WINDOW: &str = "main";

/// Every IPC command the UI may call. The same list generates `ui/src/bindings.ts`.
pub fn ipc() -> tauri_specta::Builder<tauri::Wry> {
    tauri_specta::Builder::<tauri::Wry>::new()
        // Domain types count in u64/i64 (milliseconds, lines); serde sends them as JSON numbers.
        .dangerously_cast_bigints_to_number()
        .commands(tauri_specta::collect_commands![
            commands::app::app_info,
            commands::app::startup_finished,
            commands::diagnostics::save_diagnostics,
            commands::account::backend_status,
            commands::account::set_backend,
            commands::account::current_user,
            commands::account::sign_in,
            commands::account::sign_up,
            commands::account::practice_offline,
            commands::account::sign_out,
            commands::home::upcoming_interviews,
            commands::live::preflight,
            commands::live::start_mic_test,
            commands::live::stop_mic_test,
            commands::live::play_test_tone,
            commands::live::set_up_model,
            commands::live::start_interview,
            commands::live::set_muted,
            commands::live::send_answer,
            commands::live::end_interview,
            commands::live::leave_interview,
            commands::review::open::open_transcript,
            commands::review::export::export_transcript,
            commands::review::list::list_sessions,
            commands::review::search::search_transcripts,
            commands::review::schedule::schedule_interview,
            commands::review::schedule::cancel_interview,
            commands::updates::check_for_update,
            commands::updates::download_update,
            commands::updates::install_update,
            commands::updates::update_channel,
            commands::updates::set_update_channel,
            menu::watch_menu,
        ])
}

/// Writes the TypeScript bindings for [`ipc`] to `path`.
pub fn export_bindings(path: &std::path::Path) -> Result<(), specta_typescript::Error> {
    let header =
        "// Generated from the Rust IPC types by `cargo xtask bindings`. Do not edit by hand.";
    ipc().export(
        specta_typescript::Typescript::default().header(header),
        path,
    )
}

/// Builds and runs the app until its last window closes.
pub fn run() -> Result<(), tauri::Error> {
    let startup = commands::app::StartupClock::start();
    // First: it may set WebKit's environment, which must happen before any thread starts.
    let drawing = rendering::for_this_machine();
    rendering::prepare_process(drawing);
    let ipc = ipc();
    tauri::Builder::default()
        // First, so a second launch hands over to the running window before anything starts.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
                // Best effort: the window manager may refuse focus; that is not an error.
                let _ = window.unminimize();
                let _ = window.set_focus();
            }
        }))
        // The save dialog for exports; only Rust opens it (the window has no dialog permission).
        .plugin(tauri_plugin_dialog::init())
        // Updates: Rust checks, downloads and installs; the window has no updater permission.
        .plugin(tauri_plugin_updater::Builder::new().build())
        .invoke_handler(ipc.invoke_handler())
        .setup(move |app| {
            let log_dir = app.path().app_log_dir().ok();
            let guard = logging::init(log_dir.as_deref());
            app.manage(guard);
            app.manage(startup);
            if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
                rendering::apply(&window, drawing);
            }
            let data_dir = app.path().app_data_dir()?;
            app.manage(transcripts::TranscriptState::open(&data_dir));
            app.manage(live::LiveState::default());
            app.manage(commands::updates::UpdateState::default());
            app.manage(menu::MenuState::default());
            app.set_menu(menu::build(app.handle())?)?;
            app.on_menu_event(menu::on_event);
            let config_dir = app.path().app_config_dir()?;
            app.manage(account::AccountState::new(settings::SettingsFile::new(
                &config_dir,
            )));
            tracing::info!(
                event = "app_started",
                version = %app.package_info().version,
                build = env!("VIVA_BUILD_ID"),
                "Viva started"
            );
            Ok(())
        })
        .run(tauri::generate_context!())
}
