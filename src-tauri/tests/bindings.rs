//! The UI compiles against `ui/src/bindings.ts`; if it drifts from the Rust IPC types, calls fail
//! at run time instead of at build time. This test catches the drift.
//! `cargo xtask bindings` (or `VIVA_UPDATE_BINDINGS=1`) rewrites the committed file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::path::Path;

#[test]
fn committed_typescript_bindings_match_the_rust_ipc_types() {
    let committed_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings.ts");
    let scratch = tempfile::tempdir().unwrap();
    let fresh_path = scratch.path().join("bindings.ts");
    viva_desktop::export_bindings(&fresh_path).unwrap();
    let fresh = std::fs::read_to_string(&fresh_path).unwrap();
    assert!(
        fresh.contains("appInfo"),
        "the exporter produced no app_info binding"
    );

    if std::env::var_os("VIVA_UPDATE_BINDINGS").is_some() {
        std::fs::write(&committed_path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        committed == fresh,
        "ui/src/bindings.ts is stale: run `cargo xtask bindings` and commit the result"
    );
}
