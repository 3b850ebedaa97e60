//! Viva's desktop shell: wires plugins, state, IPC commands and windows together. It stays thin —
//! real work lives in the `viva-*` library crates; this crate knows nothing of SDP or SQL.

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
        .setup(|app| {
            let log_dir = app.path().app_log_dir().ok();
            let guard = logging::init(log_dir.as_deref());
            app.manage(guard);
            if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
                rendering::apply(&window, rendering::for_this_machine());
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
