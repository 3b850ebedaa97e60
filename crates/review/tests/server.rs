//! Review against the local stack over real HTTP: a transcript this computer does not have is
//! read from the backend and kept; when the backend is gone the kept copy is shown, marked,
//! and the list falls back to this computer's; a session gone from the backend shows no copy,
//! and a copy from another backend is never refreshed from this one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use viva_backend::{Account, Backend, Entry, StartRequest};
use viva_localstack::{Config, LocalStack};
use viva_realtime::Speaker;
use viva_review::{ListSource, ReviewError, SessionListRequest, TranscriptSource};
use viva_store::{SessionStatus, Store, StoredSession, SyncState};

const PASSWORD: &str = "password-1234";

/// A candidate signed in (in memory) with a practice session of two lines on `stack`.
async fn candidate_with_a_session(stack: &LocalStack) -> (Arc<Account>, String) {
    let tenant = stack.add_tenant("Acme").await.unwrap();
    stack
        .add_user("cand@acme.example", PASSWORD, &tenant, "candidate")
        .await
        .unwrap();
    let backend = Backend::new(&stack.base_url, &stack.anon_key);
    let account = Arc::new(Account::in_memory(backend.clone()));
    account
        .sign_in("cand@acme.example", PASSWORD)
        .await
        .unwrap();
    let token = account.access_token().await.unwrap();
    let started = backend
        .interview_start(&token, &StartRequest::Practice { api: None }, "test")
        .await
        .unwrap();
    let session_id = started["session"]["id"].as_str().unwrap().to_owned();
    let entry = |seq: i32, speaker: &str, text: &str| Entry {
        item_id: format!("item_{seq}"),
        seq,
        speaker: speaker.into(),
        text: text.into(),
        started_ms: i64::from(seq) * 1000,
        ended_ms: None,
    };
    let entries = [
        entry(1, "interviewer", "Why this team?"),
        entry(2, "candidate", "Because of the on-call culture."),
    ];
    backend
        .upload_transcript(&token, &session_id, &entries)
        .await
        .unwrap();
    (account, session_id)
}

async fn kept_copy(store: &Store, session_id: &str) -> StoredSession {
    for _ in 0..200 {
        if let Ok(session) = store.session(session_id)
            && matches!(session.sync, SyncState::Cached { .. })
        {
            return session;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no copy of {session_id} was kept");
}

fn signed_in(account: &Arc<Account>) -> std::future::Ready<Option<Arc<Account>>> {
    std::future::ready(Some(account.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backends_transcript_is_kept_and_shown_marked_once_the_backend_is_gone() {
    let stack = LocalStack::start(Config::default()).await.unwrap();
    let (account, session_id) = candidate_with_a_session(&stack).await;
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(&dir.path().join(viva_store::FILE_NAME)).unwrap();

    // Not on this computer: the backend's, kept for reading offline.
    let opened = viva_review::open(Some(&store), signed_in(&account), &session_id)
        .await
        .unwrap();
    assert_eq!(opened.source, TranscriptSource::Server);
    let speakers: Vec<Speaker> = opened.view().lines.iter().map(|l| l.speaker).collect();
    assert_eq!(speakers, [Speaker::Interviewer, Speaker::Candidate]);
    let copy = kept_copy(&store, &session_id).await;
    assert_eq!(copy.remote.as_deref(), Some(stack.base_url.as_str()));

    // The list is the backend's, and says which rows are readable offline.
    let request = SessionListRequest {
        limit: 50,
        ..SessionListRequest::default()
    };
    let page = viva_review::list(Some(&store), Some(&account), &request)
        .await
        .unwrap();
    assert_eq!(
        (page.source, page.can_schedule),
        (ListSource::Server, false)
    );
    let row = page.rows.iter().find(|r| r.id == session_id).unwrap();
    assert!(
        matches!(row.sync, Some(SyncState::Cached { .. })),
        "{row:?}"
    );

    // Gone from the backend (or never visible): no copy is shown, even one kept here.
    let mut ghost = copy.clone();
    ghost.id = "00000000-0000-4000-8000-000000000000".into();
    store.cache_remote(&ghost, &[], 1).unwrap();
    let error = viva_review::open(Some(&store), signed_in(&account), &ghost.id)
        .await
        .unwrap_err();
    assert!(matches!(error, ReviewError::NotFound(_)), "{error:?}");

    // A copy from another backend is not refreshed from this one.
    let mut elsewhere = copy.clone();
    elsewhere.id = "elsewhere".into();
    elsewhere.remote = Some("https://elsewhere.example".into());
    store.cache_remote(&elsewhere, &[], 7).unwrap();
    let opened = viva_review::open(Some(&store), signed_in(&account), "elsewhere")
        .await
        .unwrap();
    assert_eq!(
        opened.source,
        TranscriptSource::Copy {
            read_at_ms: 7.0,
            reason: "It came from another backend.".into()
        }
    );

    // The backend is gone: the kept copy, marked with when it was read and why.
    stack.shutdown().await;
    let opened = viva_review::open(Some(&store), signed_in(&account), &session_id)
        .await
        .unwrap();
    let TranscriptSource::Copy { read_at_ms, reason } = &opened.source else {
        panic!("expected the kept copy, got {:?}", opened.source);
    };
    assert!(
        *read_at_ms > 0.0 && !reason.is_empty(),
        "{:?}",
        opened.source
    );
    assert_eq!(opened.lines.len(), 2);
    assert_eq!(opened.status, SessionStatus::Active.as_str());

    // And the list is this computer's, saying why.
    let page = viva_review::list(Some(&store), Some(&account), &request)
        .await
        .unwrap();
    assert_eq!(page.source, ListSource::Local);
    assert!(page.stale_reason.is_some());
    assert!(page.rows.iter().any(|r| r.id == session_id));
}
