//! How the webview draws: composited on the GPU where one is reachable, plain CPU drawing where
//! none is (Linux only; elsewhere the platform webview decides).
//!
//! WebKitGTK composites every frame through OpenGL. With no GPU that OpenGL is Mesa's software
//! rasteriser, and compositing through it costs more than drawing the page on the CPU directly:
//! scrolling the interview list a screen per frame took 24 / 35 ms per frame (p50 / p95) composited
//! and 10 / 16 ms drawn directly on the same machine (`docs/benchmarks.md`, "Review screens").
//! Drawing on the CPU also turns off WebKit's DMA-BUF renderer, which hands every frame to the
//! app's process as a GPU buffer: with no GPU it buys nothing and holds 15 MiB (PSS) of the
//! app's processes idle (`docs/benchmarks.md`, "Footprint").

use std::ffi::OsStr;
use std::path::Path;

/// WebKit's own switch; when the user sets it (to anything), their choice stands.
pub const WEBKIT_SWITCH: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";

/// WebKit's switch for its DMA-BUF renderer; as with [`WEBKIT_SWITCH`], a user's value stands.
pub const DMABUF_SWITCH: &str = "WEBKIT_DISABLE_DMABUF_RENDERER";

/// How the webview should draw, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drawing {
    /// WebKit's default: composited with OpenGL.
    Default,
    /// The user set [`WEBKIT_SWITCH`]; WebKit follows it.
    AsTheUserSet,
    /// No GPU render node: drawn on the CPU, without OpenGL compositing.
    CpuNoGpu,
}

/// The choice for a machine where the user's [`WEBKIT_SWITCH`] is `user_switch` and `gpu` says
/// whether a GPU render node exists.
pub fn choose(user_switch: Option<&OsStr>, gpu: bool) -> Drawing {
    match (user_switch, gpu) {
        (Some(_), _) => Drawing::AsTheUserSet,
        (None, true) => Drawing::Default,
        (None, false) => Drawing::CpuNoGpu,
    }
}

/// Whether `dri` (normally `/dev/dri`) holds a render node (`renderD128`, …): the device every
/// Linux GPU driver exposes for drawing. Unreadable or absent means no GPU the app can use.
pub fn has_render_node(dri: &Path) -> bool {
    std::fs::read_dir(dri).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|entry| entry.file_name().to_string_lossy().starts_with("renderD"))
    })
}

/// The choice for this machine (always WebKit's default off Linux, where another webview draws).
pub fn for_this_machine() -> Drawing {
    if !cfg!(target_os = "linux") {
        return Drawing::Default;
    }
    choose(
        std::env::var_os(WEBKIT_SWITCH).as_deref(),
        has_render_node(Path::new("/dev/dri")),
    )
}

/// Whether to turn the DMA-BUF renderer off for `drawing`, given whether the user set
/// [`DMABUF_SWITCH`] themselves.
pub fn disable_dmabuf(drawing: Drawing, user_set: bool) -> bool {
    drawing == Drawing::CpuNoGpu && !user_set
}

/// Sets what WebKit reads from the environment when it starts, for `drawing`. Call it first
/// thing in the process, before any thread exists: WebKit reads the environment once, when the
/// first webview is made, and the environment is not safe to change while other threads run.
#[allow(unsafe_code)]
pub fn prepare_process(drawing: Drawing) {
    if disable_dmabuf(drawing, std::env::var_os(DMABUF_SWITCH).is_some()) {
        // SAFETY: called from `run` before the app starts any thread (see above), so nothing
        // can read the environment while it changes.
        unsafe { std::env::set_var(DMABUF_SWITCH, "1") };
    }
}

/// Applies `drawing` to the main window's webview before its first frame.
pub fn apply(window: &tauri::WebviewWindow, drawing: Drawing) {
    tracing::info!(event = "webview_drawing", drawing = ?drawing, "webview drawing chosen");
    if drawing != Drawing::CpuNoGpu {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let applied = window.with_webview(|webview| {
            use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
            if let Some(settings) = webview.inner().settings() {
                settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
            }
        });
        if let Err(error) = applied {
            // Drawing still works, only more slowly: not a reason to stop the app.
            tracing::warn!(event = "webview_drawing_failed", %error, "could not set the webview's drawing");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = window;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_without_a_gpu_draws_on_the_cpu_unless_the_user_said_otherwise() {
        assert_eq!(choose(None, false), Drawing::CpuNoGpu);
        assert_eq!(choose(None, true), Drawing::Default);
        // WEBKIT_DISABLE_COMPOSITING_MODE=0 is how a user insists on compositing.
        assert_eq!(choose(Some(OsStr::new("0")), false), Drawing::AsTheUserSet);
        assert_eq!(choose(Some(OsStr::new("1")), true), Drawing::AsTheUserSet);
    }

    #[test]
    fn the_dmabuf_renderer_goes_only_where_nothing_draws_on_a_gpu_and_the_user_did_not_choose() {
        assert!(disable_dmabuf(Drawing::CpuNoGpu, false));
        // A user who set the switch (to 0 or 1) keeps their choice.
        assert!(!disable_dmabuf(Drawing::CpuNoGpu, true));
        assert!(!disable_dmabuf(Drawing::Default, false));
        assert!(!disable_dmabuf(Drawing::AsTheUserSet, false));
    }

    #[test]
    fn only_a_render_node_counts_as_a_gpu() {
        let dri = tempfile::tempdir().unwrap();
        assert!(!has_render_node(&dri.path().join("absent")));
        assert!(!has_render_node(dri.path()));
        // A display controller alone (card0) is not counted: Mesa draws through render nodes.
        std::fs::write(dri.path().join("card0"), "").unwrap();
        assert!(!has_render_node(dri.path()));
        std::fs::write(dri.path().join("renderD128"), "").unwrap();
        assert!(has_render_node(dri.path()));
    }
}
