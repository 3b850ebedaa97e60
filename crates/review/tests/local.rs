//! Review against a real SQLite file, with no backend: this computer's original wins without
//! asking who is signed in, a kept copy is shown marked stale, the list and search read the
//! file, and bad filters and forms are refused before anything is asked.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use viva_backend::Account;
use viva_realtime::{Line, LineStatus, Speaker};
use viva_review::{
    ExportFormat, ListSource, ReviewError, ScheduleRequest, SearchRequest, SessionListRequest,
    TranscriptSource,
};
use viva_store::{Ending, NewSession, SessionStatus, Store, StoredLine, StoredSession, SyncState};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(&dir.path().join(viva_store::FILE_NAME)).unwrap();
    (dir, store)
}

fn line(i: u32, speaker: Speaker, text: &str) -> Line {
    Line {
        item_id: format!("item_{i}"),
        seq: i,
        speaker,
        text: text.into(),
        started_ms: u64::from(i) * 1000,
        ended_ms: Some(u64::from(i) * 1000 + 800),
        status: LineStatus::Final,
        inaudible: None,
        interrupted: false,
    }
}

/// A practice session recorded here (offline practice: it never leaves this computer).
fn record(store: &Store, id: &str, title: &str) {
    store
        .begin_session(&NewSession {
            id: id.into(),
            remote: None,
            user_id: None,
            title: title.into(),
            mode: "practice".into(),
            started_at_ms: 1_764_000_000_000,
            consent: None,
        })
        .unwrap();
    store
        .record(
            id,
            &line(1, Speaker::Interviewer, "Tell me about a migration."),
        )
        .unwrap();
    store
        .record(
            id,
            &line(2, Speaker::Candidate, "I moved billing to a new ledger."),
        )
        .unwrap();
    store
        .end_session(
            id,
            &Ending {
                status: SessionStatus::Completed,
                ended_at_ms: 1_764_000_060_000,
                duration_ms: 60_000,
                cost_usd: None,
            },
        )
        .unwrap();
}

/// A copy of a backend's session, as if read from `remote` at `at_ms`.
fn cache(store: &Store, id: &str, remote: &str, at_ms: i64) {
    let session = StoredSession {
        id: id.into(),
        remote: Some(remote.into()),
        user_id: Some("someone".into()),
        title: "Backend engineer".into(),
        mode: "interview".into(),
        status: SessionStatus::Completed,
        started_at_ms: 1_764_000_000_000,
        ended_at_ms: None,
        duration_ms: Some(1000),
        cost_usd: None,
        lines: 1,
        sync: SyncState::Synced,
        refused_lines: 0,
        consent: None,
    };
    let lines = [StoredLine {
        item_id: "item_1".into(),
        seq: 1,
        speaker: Speaker::Candidate,
        text: "Kept for reading offline.".into(),
        started_ms: 0,
        ended_ms: None,
        is_final: true,
        inaudible: None,
        interrupted: false,
        refused: None,
        late: false,
    }];
    store.cache_remote(&session, &lines, at_ms).unwrap();
}

fn nobody() -> std::future::Ready<Option<Arc<Account>>> {
    std::future::ready(None)
}

async fn never_asked() -> Option<Arc<Account>> {
    panic!("the account is asked only when this computer has no original")
}

#[tokio::test]
async fn this_computers_original_wins_without_asking_who_is_signed_in() {
    let (_dir, store) = store();
    record(&store, "s1", "Practice");
    let opened = viva_review::open(Some(&store), never_asked(), "s1")
        .await
        .unwrap();
    assert_eq!(opened.source, TranscriptSource::ThisComputer);
    let view = opened.view();
    assert_eq!(view.session.status, "completed");
    assert_eq!(view.session.sync, SyncState::LocalOnly);
    let speakers: Vec<Speaker> = view.lines.iter().map(|l| l.speaker).collect();
    assert_eq!(speakers, [Speaker::Interviewer, Speaker::Candidate]);
    assert_eq!(view.insights.filler_total, 0);

    // What the UI receives: the domain types' own serde shapes.
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["lines"][1]["speaker"], "candidate");
    assert_eq!(json["lines"][1]["atMs"], 2000);
    assert_eq!(
        json["session"]["sync"],
        serde_json::json!({"state": "local_only"})
    );
    assert_eq!(json["source"], serde_json::json!({"kind": "this_computer"}));
}

#[tokio::test]
async fn a_kept_copy_is_shown_marked_stale_when_nobody_is_signed_in() {
    let (_dir, store) = store();
    cache(&store, "s2", "https://acme.example", 1234);
    let opened = viva_review::open(Some(&store), nobody(), "s2")
        .await
        .unwrap();
    assert_eq!(
        opened.source,
        TranscriptSource::Copy {
            read_at_ms: 1234.0,
            reason: "You are not signed in.".into()
        }
    );
    assert_eq!(opened.lines.len(), 1);
    let json = serde_json::to_value(opened.view()).unwrap();
    assert_eq!(json["source"]["readAtMs"], 1234.0);
    assert_eq!(
        json["session"]["sync"],
        serde_json::json!({"state": "cached", "at_ms": 1234})
    );
}

#[tokio::test]
async fn nothing_kept_and_nobody_signed_in_is_not_found() {
    let (_dir, store) = store();
    let error = viva_review::open(Some(&store), nobody(), "absent")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ReviewError::NotFound(m) if m.contains("absent")),
        "{error:?}"
    );
    // No store at all: still an answer, not a panic.
    let error = viva_review::open(None, nobody(), "absent")
        .await
        .unwrap_err();
    assert!(
        matches!(error, ReviewError::StoreUnavailable(_)),
        "{error:?}"
    );
}

#[tokio::test]
async fn signed_out_the_list_is_this_computers_and_bad_filters_are_refused() {
    let (_dir, store) = store();
    record(&store, "a", "Practice A");
    record(&store, "b", "Practice B");
    cache(&store, "c", "https://acme.example", 99);
    let request = SessionListRequest {
        limit: 10,
        ..SessionListRequest::default()
    };
    let page = viva_review::list(Some(&store), None, &request)
        .await
        .unwrap();
    assert_eq!(page.source, ListSource::Local);
    assert_eq!(
        (page.total, page.stale_reason, page.can_schedule),
        (Some(3), None, false)
    );
    let cached = page.rows.iter().find(|r| r.id == "c").unwrap();
    assert_eq!(cached.sync, Some(SyncState::Cached { at_ms: 99 }));

    let only = |sync: &str| SessionListRequest {
        sync: Some(sync.into()),
        ..request.clone()
    };
    let page = viva_review::list(Some(&store), None, &only("cached"))
        .await
        .unwrap();
    assert_eq!(page.rows.len(), 1);
    let page = viva_review::list(Some(&store), None, &only("local_only"))
        .await
        .unwrap();
    assert_eq!(page.rows.len(), 2);

    // Only the backend knows scheduled interviews: none here, and no error.
    let scheduled = SessionListRequest {
        status: Some("scheduled".into()),
        ..request.clone()
    };
    let page = viva_review::list(Some(&store), None, &scheduled)
        .await
        .unwrap();
    assert_eq!((page.rows.len(), page.total), (0, Some(0)));

    let bogus_status = SessionListRequest {
        status: Some("bogus".into()),
        ..request.clone()
    };
    for bad in [bogus_status, only("bogus")] {
        let error = viva_review::list(Some(&store), None, &bad)
            .await
            .unwrap_err();
        assert!(matches!(error, ReviewError::InvalidInput(_)), "{error:?}");
    }
    let error = viva_review::list(None, None, &request).await.unwrap_err();
    assert!(
        matches!(error, ReviewError::StoreUnavailable(_)),
        "{error:?}"
    );
}

#[tokio::test]
async fn search_finds_one_speakers_words_across_transcripts() {
    let (_dir, store) = store();
    record(&store, "a", "Practice A");
    record(&store, "b", "Practice B");
    let request = SearchRequest {
        text: "billing".into(),
        ..SearchRequest::default()
    };
    let hits = viva_review::search(Some(&store), request.clone())
        .await
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert!(
        hits.iter()
            .all(|h| h.speaker == Speaker::Candidate && h.at_ms == 2000)
    );
    assert!(
        hits[0]
            .snippet
            .iter()
            .any(|f| f.hit && f.text.contains("billing"))
    );
    let interviewer = SearchRequest {
        speaker: Some(Speaker::Interviewer),
        ..request
    };
    assert!(
        viva_review::search(Some(&store), interviewer)
            .await
            .unwrap()
            .is_empty()
    );

    // The UI sends the speaker as the domain type's name.
    let sent: SearchRequest =
        serde_json::from_str(r#"{"text":"x","speaker":"interviewer","titleContains":null}"#)
            .unwrap();
    assert_eq!(sent.speaker, Some(Speaker::Interviewer));
    let error = viva_review::search(None, sent).await.unwrap_err();
    assert!(
        matches!(error, ReviewError::StoreUnavailable(_)),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_export_is_named_after_its_title_and_day_without_characters_a_disk_refuses() {
    let (_dir, store) = store();
    record(&store, "a", "Ops/SRE: round 1");
    let opened = viva_review::open(Some(&store), nobody(), "a")
        .await
        .unwrap();
    let exported = viva_review::export(&opened, ExportFormat::Vtt);
    assert_eq!(exported.file_name, "Ops-SRE- round 1 2025-11-24.vtt");
    assert_eq!(
        (exported.extension, exported.format_name),
        ("vtt", "WebVTT subtitles")
    );
    assert!(exported.text.starts_with("WEBVTT"));
    assert!(exported.text.contains("I moved billing to a new ledger."));
}

#[tokio::test]
async fn a_schedule_form_is_checked_before_anyone_is_asked() {
    let good = ScheduleRequest {
        candidate_email: " cand@acme.example ".into(),
        title: "Backend engineer".into(),
        question_set: "software_engineer".into(),
        scheduled_at: "2026-12-01T10:00:00+01:00".into(),
    };
    let bad_email = ScheduleRequest {
        candidate_email: "cand".into(),
        ..good.clone()
    };
    let bad_time = ScheduleRequest {
        scheduled_at: "tomorrow".into(),
        ..good.clone()
    };
    for bad in [bad_email, bad_time] {
        let error = viva_review::schedule(None, bad).await.unwrap_err();
        assert!(matches!(error, ReviewError::InvalidInput(_)), "{error:?}");
    }
    let error = viva_review::schedule(None, good).await.unwrap_err();
    assert!(matches!(error, ReviewError::SignedOut(_)), "{error:?}");
    let error = viva_review::cancel(None, "s").await.unwrap_err();
    assert!(matches!(error, ReviewError::SignedOut(_)), "{error:?}");
}
