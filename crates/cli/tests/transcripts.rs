//! The transcript database through the real `viva` binary: a writer killed mid-stream keeps
//! every line it reported committed, a full disk is an error the caller sees, and the list,
//! search and export commands read what was kept.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use viva_cli::embedded::{self, EmbeddedOptions};
use viva_store::{SessionStatus, Store, SyncState};

mod common;

fn viva(db: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_viva"));
    command.args(["transcripts", "--db"]).arg(db);
    command
}

fn printed_line(i: usize) -> String {
    let speaker = if i.is_multiple_of(2) {
        "interviewer"
    } else {
        "candidate"
    };
    serde_json::json!({"type": "line", "seq": i + 1, "speaker": speaker,
        "text": format!("line {i}: I would profile first, then look at the allocations"),
        "started_ms": i * 1000, "ended_ms": i * 1000 + 900, "item_id": format!("item_{i:05}"),
        "interrupted": false, "inaudible": null})
    .to_string()
}

/// Starts `viva transcripts import` for `session`, feeding it lines as fast as it takes them.
fn start_import(
    command: &mut Command,
    session: &str,
) -> (std::process::Child, std::thread::JoinHandle<()>) {
    let mut child = command
        .args(["import", "--session-id", session, "--title", "Crash test"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        for i in 0..100_000 {
            if writeln!(stdin, "{}", printed_line(i)).is_err() {
                return;
            }
        }
    });
    (child, feeder)
}

fn committed(line: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    (value["type"] == "committed").then(|| value["item_id"].as_str().unwrap().to_string())
}

#[test]
fn a_writer_killed_mid_stream_twenty_times_keeps_every_line_it_reported_committed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("transcripts.sqlite3");
    let mut reported: HashMap<String, Vec<String>> = HashMap::new();
    for round in 0..20_usize {
        let session = format!("session-{round:02}");
        let (mut child, feeder) = start_import(&mut viva(&db), &session);
        let stdout = BufReader::new(child.stdout.take().unwrap());
        // Kill at a different point each round, while lines keep arriving.
        let kill_after = 5 + (round * 37) % 150;
        let mut acked = Vec::new();
        let mut lines = stdout.lines();
        for line in lines.by_ref() {
            if let Some(id) = committed(&line.unwrap()) {
                acked.push(id);
                if acked.len() == kill_after {
                    child.kill().unwrap(); // SIGKILL
                    break;
                }
            }
        }
        // Whatever it printed before dying was reported too.
        acked.extend(lines.map_while(Result::ok).filter_map(|l| committed(&l)));
        let status = child.wait().unwrap();
        assert!(
            status.code().is_none(),
            "round {round}: killed by a signal, got {status}"
        );
        feeder.join().unwrap();
        assert!(acked.len() >= kill_after);
        reported.insert(session, acked);
    }

    // Each launch finds the session the previous one left live; this one finds the last.
    let (store, report) = Store::open(&db).unwrap();
    assert!(report.moved_aside.is_none());
    assert_eq!(report.interrupted, vec!["session-19".to_string()]);
    // Every killed session is interrupted, with every line it reported.
    for (session, acked) in &reported {
        assert_eq!(
            store.session(session).unwrap().status,
            SessionStatus::Interrupted
        );
        let kept: HashMap<String, String> = store
            .lines(session, true)
            .unwrap()
            .into_iter()
            .map(|l| (l.item_id, l.text))
            .collect();
        for id in acked {
            let i: usize = id.trim_start_matches("item_").parse().unwrap();
            let text = kept
                .get(id)
                .unwrap_or_else(|| panic!("{session}: {id} was lost"));
            assert!(text.starts_with(&format!("line {i}:")), "{text}");
        }
    }
}

#[test]
fn a_full_disk_stops_the_writer_with_a_clear_error_and_keeps_what_was_saved() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("transcripts.sqlite3");
    // A size-limited file: the shell limits how large any file may grow (in 512- or
    // 1024-byte blocks) and ignores the signal, so writes past it fail with EFBIG.
    let mut command = Command::new("sh");
    command
        .args(["-c", "trap '' XFSZ; ulimit -f 2000; exec \"$@\"", "sh"])
        .arg(env!("CARGO_BIN_EXE_viva"))
        .args(["transcripts", "--db"])
        .arg(&db);
    let (mut child, feeder) = start_import(&mut command, "full");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let acked: Vec<String> = stdout
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| committed(&l))
        .collect();
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("was not saved, so the import stopped"),
        "{stderr}"
    );
    assert!(
        stderr.contains("may be full") || stderr.contains("is full"),
        "{stderr}"
    );
    assert!(acked.len() >= 5 && acked.len() < 100_000, "{}", acked.len());

    // Without the limit, every line reported saved is there.
    let (store, report) = Store::open(&db).unwrap();
    assert_eq!(report.interrupted, vec!["full".to_string()]);
    let kept: Vec<String> = store
        .lines("full", true)
        .unwrap()
        .into_iter()
        .map(|l| l.item_id)
        .collect();
    for id in &acked {
        assert!(kept.contains(id), "{id} was lost");
    }
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn list_search_and_export_read_what_was_imported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("transcripts.sqlite3");
    let mut import = viva(&db)
        .args(["import", "--session-id", "s1", "--title", "Systems round"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = import.stdin.take().unwrap();
        stdin
            .write_all(b"{\"type\":\"session\",\"session_id\":\"ignored\"}\nnot json at all\n")
            .unwrap();
        for i in 0..3 {
            writeln!(stdin, "{}", printed_line(i)).unwrap();
        }
    }
    // A line that is not JSON is named and skipped; the good lines are all kept.
    let output = import.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("input line 2 skipped"));

    let list = run(viva(&db).arg("list"));
    let session: serde_json::Value = serde_json::from_str(list.lines().next().unwrap()).unwrap();
    assert_eq!(session["session"]["title"], "Systems round");
    assert_eq!(session["session"]["lines"], 3);
    assert_eq!(session["session"]["status"], "completed");
    assert_eq!(session["session"]["sync"]["state"], "local_only");

    let hits = run(viva(&db).args(["search", "allocations", "--speaker", "candidate"]));
    let hits: Vec<serde_json::Value> = hits
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["hit"]["item_id"], "item_00001");
    assert!(
        hits[0]["hit"]["snippet"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["hit"] == true)
    );

    let srt = run(viva(&db).args(["export", "s1", "--format", "srt"]));
    let parsed = subtp::srt::SubRip::parse(&srt).unwrap();
    assert_eq!(parsed.subtitles.len(), 3);
    assert!(parsed.subtitles[1].text[0].starts_with("Candidate: line 1:"));

    // Bad input is named, not fatal to the good lines.
    let output = viva(&db)
        .args(["export", "nope", "--format", "srt"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no session nope"));
    let output = viva(&db)
        .args(["export", "s1", "--format", "docx"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_call_keeps_every_line_it_prints_and_the_backend_gets_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("transcripts.sqlite3");
    let stack = embedded::start(EmbeddedOptions::default()).await.unwrap();
    let tenant = stack.stack.add_tenant("Acme").await.unwrap();
    let email = "store-call@example.com";
    stack
        .stack
        .add_user(email, "password-1234", &tenant, "candidate")
        .await
        .unwrap();
    let answer = dir.path().join("answer.wav");
    common::say_to_wav(&answer, "I would measure before I optimise anything.");
    let mut command = Command::new(env!("CARGO_BIN_EXE_viva"));
    command
        .args(["practice", "--consent", "--backend", &stack.stack.base_url])
        .args(["--anon-key", &stack.stack.anon_key, "--email", email])
        .args(["--udp", "127.0.0.1:0", "--db"])
        .arg(&db)
        .arg("--audio-file")
        .arg(&answer)
        .env("VIVA_PASSWORD", "password-1234");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let session_id = events.iter().find(|e| e["type"] == "session").unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let printed: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["type"] == "line")
        .map(|e| {
            (
                e["item_id"].as_str().unwrap().into(),
                e["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        printed.len() >= 3,
        "a question, the answer and a reply: {printed:?}"
    );
    let sync = events.iter().find(|e| e["type"] == "sync").unwrap();
    assert_eq!(sync["sync"]["state"], "synced", "{sync}");

    // Every printed line is in the local store...
    let (store, _) = Store::open(&db).unwrap();
    let session = store.session(&session_id).unwrap();
    assert_eq!(session.status, SessionStatus::Completed);
    assert_eq!(session.sync, SyncState::Synced);
    let kept: Vec<(String, String)> = store
        .lines(&session_id, true)
        .unwrap()
        .into_iter()
        .map(|l| (l.item_id, l.text))
        .collect();
    for line in &printed {
        assert!(kept.contains(line), "{line:?} not kept: {kept:?}");
    }
    // ...and on the backend, once each, with the session closed there.
    let rows = stack
        .backend
        .transcript(&stack.session.access_token, &session_id)
        .await;
    assert!(rows.unwrap().is_empty(), "another candidate cannot read it");
    let token = stack
        .backend
        .sign_in(email, "password-1234")
        .await
        .unwrap()
        .access_token;
    let rows = stack.backend.transcript(&token, &session_id).await.unwrap();
    let on_server: Vec<(String, String)> = rows.into_iter().map(|r| (r.item_id, r.text)).collect();
    assert_eq!(on_server, kept);
    let sessions = stack
        .backend
        .sessions(
            &token,
            &viva_backend::SessionQuery {
                limit: 5,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let row = sessions.rows.iter().find(|r| r.id == session_id).unwrap();
    assert_eq!(row.status, "completed");
    assert!(row.duration_ms.unwrap_or(0) > 0);
}
