//! Build script: Tauri's code generation, the least-privilege command manifest, and the build id
//! shown by `app_info`.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=VIVA_BUILD_ID");
    let build_id = std::env::var("VIVA_BUILD_ID")
        .ok()
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=VIVA_BUILD_ID={build_id}");

    // Only the commands listed here get an `allow-*` permission; capabilities/ grants them per window.
    let manifest = tauri_build::AppManifest::new().commands(&[
        "app_info",
        "startup_finished",
        "save_diagnostics",
        "backend_status",
        "set_backend",
        "current_user",
        "sign_in",
        "sign_up",
        "sign_out",
        "practice_offline",
        "upcoming_interviews",
        "preflight",
        "start_mic_test",
        "stop_mic_test",
        "play_test_tone",
        "set_up_model",
        "start_interview",
        "set_muted",
        "send_answer",
        "end_interview",
        "leave_interview",
        "open_transcript",
        "export_transcript",
        "list_sessions",
        "search_transcripts",
        "schedule_interview",
        "cancel_interview",
        "check_for_update",
        "download_update",
        "install_update",
        "update_channel",
        "set_update_channel",
        "watch_menu",
    ]);
    if let Err(error) =
        tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
    {
        println!("cargo:warning=tauri build step failed: {error:#}");
        std::process::exit(1);
    }
}

/// The short commit hash, so a bug report names the exact code it came from.
fn git_commit() -> Option<String> {
    if Path::new("../.git").is_dir() {
        // The reflog changes on every commit and checkout. Before the first commit it does not
        // exist, and cargo then reruns this script each build until it does.
        for watched in ["../.git/HEAD", "../.git/logs/HEAD"] {
            println!("cargo:rerun-if-changed={watched}");
        }
    }
    let output = Command::new("git")
        .args(["rev-parse", "--short=10", "HEAD"])
        .output()
        .ok()?;
    let hash = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !hash.is_empty()).then_some(hash)
}
