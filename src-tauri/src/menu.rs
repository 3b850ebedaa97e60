//! The window's menu: "Check for Updates…" (any time, on any screen) and Quit. A choice that
//! the UI acts on is streamed to it over the channel it registered with `watch_menu`.

use std::sync::Mutex;

use serde::Serialize;
use tauri::ipc::Channel;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::{AppHandle, Manager, Runtime, State};

const CHECK_FOR_UPDATES: &str = "check_for_updates";
const SAVE_DIAGNOSTICS: &str = "save_diagnostics";
const QUIT: &str = "quit";

/// A menu choice the UI carries out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum MenuRequest {
    CheckForUpdates,
    SaveDiagnostics,
}

/// Managed state: where menu choices go (the UI's channel, once it has registered one).
#[derive(Default)]
pub struct MenuState {
    listener: Mutex<Option<Channel<MenuRequest>>>,
}

impl std::fmt::Debug for MenuState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MenuState").finish_non_exhaustive()
    }
}

/// The menu bar: Viva → Check for Updates…, Quit; Help → Save Diagnostics….
pub fn build<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<Menu<R>> {
    let check = MenuItem::with_id(
        app,
        CHECK_FOR_UPDATES,
        "Check for Updates…",
        true,
        None::<&str>,
    )?;
    let separator = PredefinedMenuItem::separator(app)?;
    // Our own item, not the predefined Quit: on Linux that one is shown but cannot be chosen.
    let quit = MenuItem::with_id(app, QUIT, "Quit Viva", true, Some("CmdOrCtrl+Q"))?;
    let viva = Submenu::with_items(app, "Viva", true, &[&check, &separator, &quit])?;
    let diagnostics = MenuItem::with_id(
        app,
        SAVE_DIAGNOSTICS,
        "Save Diagnostics…",
        true,
        None::<&str>,
    )?;
    let help = Submenu::with_items(app, "Help", true, &[&diagnostics])?;
    Menu::with_items(app, &[&viva, &help])
}

/// Routes a menu choice to the UI.
pub fn on_event<R: Runtime>(app: &AppHandle<R>, event: MenuEvent) {
    if event.id() == QUIT {
        quit(app);
        return;
    }
    let request = if event.id() == CHECK_FOR_UPDATES {
        MenuRequest::CheckForUpdates
    } else if event.id() == SAVE_DIAGNOSTICS {
        MenuRequest::SaveDiagnostics
    } else {
        return;
    };
    tracing::info!(event = "menu_chosen", ?request);
    let state = app.state::<MenuState>();
    let listener = state.listener.lock().ok().and_then(|l| l.clone());
    match listener {
        // The window may be reloading; the next choice reaches the new one.
        Some(listener) => {
            if let Err(error) = listener.send(request) {
                tracing::warn!(event = "menu_request_undelivered", %error);
            }
        }
        None => tracing::warn!(
            event = "menu_request_undelivered",
            error = "no window listens"
        ),
    }
}

/// Quits as closing the window does, so both take the same way out.
fn quit<R: Runtime>(app: &AppHandle<R>) {
    tracing::info!(event = "menu_quit");
    let windows = app.webview_windows();
    if windows.is_empty() {
        app.exit(0);
    }
    for window in windows.values() {
        if let Err(error) = window.close() {
            tracing::warn!(event = "window_close_failed", %error);
            app.exit(0);
        }
    }
}

/// Registers where menu choices go (a reloaded window registers again and replaces the old).
#[tauri::command]
#[specta::specta]
pub fn watch_menu(menu: State<'_, MenuState>, on_request: Channel<MenuRequest>) {
    if let Ok(mut listener) = menu.listener.lock() {
        *listener = Some(on_request);
    }
}
