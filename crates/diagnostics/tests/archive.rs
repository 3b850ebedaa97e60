//! The archive as support receives it: every part present and readable, and nothing planted in
//! any part — a token, an e-mail address, a transcript line — left in it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use serde_json::json;
use viva_diagnostics::{Contents, Redactor, read_archive, write_archive};

const JWT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIiwiZW1haWwiOiJnQGEudGVzdCJ9.c2lnbmF0dXJl";
const EMAIL: &str = "grace@acme-robotics.test";
const ANSWER: &str = "I led the migration of our billing service to Rust.";
const REFRESH: &str = "opaque-refresh-0123";

#[test]
fn every_part_is_written_and_nothing_planted_survives() {
    let logs = [
        json!({"level": "INFO", "fields": {"event": "interview_started", "session": "5a15"}}),
        json!({"level": "DEBUG", "fields": {"event": "line_final", "text": ANSWER}}),
        json!({"level": "INFO", "fields": {"message": format!("signed in as {EMAIL} with Bearer {JWT}")}}),
        json!({"level": "WARN", "fields": {"message": format!("they said: {ANSWER}"), "refresh": REFRESH}}),
    ]
    .iter()
    .map(ToString::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let contents = Contents {
        about: json!({"app_version": "0.1.0", "os": "Debian GNU/Linux 12", "backend": format!("https://x.test/?apikey={JWT}")}),
        devices: json!([{"name": "vmic", "direction": "input", "default": true}]),
        last_call: Some(
            json!({"states": ["connecting", "live", "ended"], "problems": [{"code": "x", "message": format!("user {EMAIL}")}]}),
        ),
        logs: vec![
            ("viva.2026-12-08.log".into(), logs),
            ("../escape.log".into(), "plain".into()),
        ],
    };
    let mut redactor = Redactor::new().unwrap();
    redactor.secret(REFRESH).unwrap();
    redactor.words([ANSWER]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("viva-diagnostics.zip");
    let summary = write_archive(&path, &contents, &redactor).unwrap();

    let parts = read_archive(&path).unwrap();
    let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "README.txt",
            "about.json",
            "devices.json",
            "last-call.json",
            "logs/viva.2026-12-08.log",
            "logs/escape.log",
            "removed.json"
        ]
    );
    assert_eq!(summary.parts, names);
    for (name, text) in &parts {
        for planted in [JWT, EMAIL, ANSWER, REFRESH, "billing"] {
            assert!(
                !text.contains(planted),
                "{name} still holds {planted:?}:\n{text}"
            );
        }
    }
    // What support needs is still there.
    let part = |n: &str| &parts.iter().find(|(name, _)| name == n).unwrap().1;
    assert!(part("about.json").contains("Debian GNU/Linux 12"));
    assert!(part("devices.json").contains("vmic"));
    assert!(part("last-call.json").contains("\"ended\""));
    assert!(part("logs/viva.2026-12-08.log").contains("interview_started"));
    assert_eq!(part("logs/viva.2026-12-08.log").lines().count(), 4);
    let removed: serde_json::Value = serde_json::from_str(part("removed.json")).unwrap();
    assert!(removed["tokens"].as_u64().unwrap() >= 3, "{removed}");
    assert!(removed["emails"].as_u64().unwrap() >= 2, "{removed}");
    assert!(removed["words"].as_u64().unwrap() >= 2, "{removed}");
    assert!(!dir.path().join("viva-diagnostics.zip.partial").exists());
}

#[test]
fn a_place_that_cannot_be_written_is_an_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-folder").join("d.zip");
    let error = write_archive(&path, &Contents::default(), &Redactor::new().unwrap()).unwrap_err();
    assert!(error.to_string().contains("could not"), "{error}");
    assert!(!path.exists());
}
