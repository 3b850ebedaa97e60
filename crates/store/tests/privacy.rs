//! What this computer keeps stays the user's: the data folder and database are owner-only, and
//! a server copy salvaged from a damaged file is still a copy (sign-out removes it, nothing
//! sends it back).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use viva_realtime::Speaker;
use viva_store::{SessionStatus, Store, StoredLine, StoredSession, SyncState};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_data_folder_and_the_database_are_the_owners_only() {
    let home = tempfile::tempdir().unwrap();
    let folder = home.path().join("app.viva.desktop");
    let path = folder.join("transcripts.sqlite3");
    let (store, _) = Store::open(&path).unwrap();
    store.set_setting("k", "v").unwrap();
    assert_eq!(mode(&folder), 0o700);
    for file in [
        "transcripts.sqlite3",
        "transcripts.sqlite3-wal",
        "transcripts.sqlite3-shm",
    ] {
        assert_eq!(mode(&folder.join(file)), 0o600, "{file}");
    }
    drop(store);
    // A folder and file an older Viva made readable to everyone are tightened at the next open.
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_store, _) = Store::open(&path).unwrap();
    assert_eq!(mode(&folder), 0o700);
    assert_eq!(mode(&path), 0o600);
}

fn copy_line(n: u32) -> StoredLine {
    StoredLine {
        item_id: format!("item_{n:04}"),
        seq: n,
        speaker: Speaker::Candidate,
        text: format!("line {n} of a transcript read from the server, long enough to fill pages"),
        started_ms: u64::from(n) * 1000,
        ended_ms: None,
        is_final: true,
        inaudible: None,
        interrupted: false,
        refused: None,
        late: n == 1,
    }
}

#[test]
fn a_server_copy_salvaged_from_a_damaged_file_is_still_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("transcripts.sqlite3");
    {
        let (store, _) = Store::open(&path).unwrap();
        let copy = StoredSession {
            id: "server-1".into(),
            remote: Some("https://backend.example".into()),
            user_id: Some("interviewer-1".into()),
            title: "Backend role".into(),
            mode: "interview".into(),
            status: SessionStatus::Completed,
            started_at_ms: 5_000,
            ended_at_ms: None,
            duration_ms: None,
            cost_usd: None,
            lines: 0,
            sync: SyncState::Synced,
            refused_lines: 0,
            consent: None,
        };
        let lines: Vec<StoredLine> = (1..=400).map(copy_line).collect();
        store.cache_remote(&copy, &lines, 1_000).unwrap();
    }
    // Damage the end of the file: the sessions table (early pages) still reads.
    let mut bytes = std::fs::read(&path).unwrap();
    let page = 4096;
    assert!(bytes.len() > 8 * page, "{}", bytes.len());
    let last = bytes.len() - page;
    for b in &mut bytes[last..last + 200] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();

    let (store, report) = Store::open(&path).unwrap();
    let aside = report.moved_aside.expect("the damage is found");
    assert_eq!(aside.sessions_recovered, 1);
    let session = store.session("server-1").unwrap();
    assert_eq!(
        session.sync,
        SyncState::Cached { at_ms: 1_000 },
        "still marked as a copy"
    );
    // Nothing of it is queued to be sent back as if this computer had recorded it.
    assert_eq!(store.totals().unwrap().1, 0);
    let kept = store.lines("server-1", true).unwrap();
    assert!(!kept.is_empty());
    assert!(kept[0].late, "the late mark survives too");
    // Sign-out removes it.
    assert_eq!(store.forget_cached().unwrap(), 1);
    assert!(store.session("server-1").is_err());
    assert_eq!(mode(&path), 0o600, "the fresh file is private too");
}
