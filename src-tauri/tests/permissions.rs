//! Every command the UI can call is granted to the main window: Tauri's least-privilege ACL
//! refuses a command missing from `build.rs`'s manifest or `capabilities/main.json` with a bare
//! string at run time, which no other test before the end-to-end suite would notice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn every_command_in_the_bindings_is_in_the_manifest_and_granted_to_the_window() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let bindings = std::fs::read_to_string(root.join("../ui/src/bindings.ts")).unwrap();
    let build = std::fs::read_to_string(root.join("build.rs")).unwrap();
    let capability: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("capabilities/main.json")).unwrap(),
    )
    .unwrap();
    let granted: Vec<&str> = capability["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    let commands: Vec<&str> = bindings
        .split("__TAURI_INVOKE(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(commands.len() >= 8, "{commands:?}");
    for command in commands {
        assert!(
            build.contains(&format!("\"{command}\"")),
            "`{command}` is missing from the AppManifest in build.rs"
        );
        let permission = format!("allow-{}", command.replace('_', "-"));
        assert!(
            granted.contains(&permission.as_str()),
            "`{permission}` is missing from capabilities/main.json"
        );
    }
}
