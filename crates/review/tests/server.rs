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
        .interview_start(&token, &StartRequest::practice(), "test")
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

/// What the signalling service heard on one GPT-Live session, and the lines a client uploaded
/// for it: honest ones, one it invented and one whose words it changed. The client placed the
/// provider session 2 s into the interview.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interviewer_sees_the_lines_the_services_record_contradicts_flagged() {
    use viva_contract::observed::{ObservedFragment, Speaker as Heard};
    use viva_localstack::observations::LocalObservations;
    use viva_proxy::observe::{Observations, WindowEnd, WindowStart};
    use viva_review::{LineFlag, RecordCheck};

    let stack = LocalStack::start(Config::default()).await.unwrap();
    let tenant = stack.add_tenant("Acme").await.unwrap();
    for (email, role) in [
        ("cand@acme.example", "candidate"),
        ("lead@acme.example", "interviewer"),
    ] {
        stack
            .add_user(email, PASSWORD, &tenant, role)
            .await
            .unwrap();
    }
    let backend = Backend::new(&stack.base_url, &stack.anon_key);
    let sign_in = |email: &'static str| {
        let backend = backend.clone();
        async move {
            let account = Arc::new(Account::in_memory(backend));
            account.sign_in(email, PASSWORD).await.unwrap();
            account
        }
    };
    let candidate = sign_in("cand@acme.example").await;
    let interviewer = sign_in("lead@acme.example").await;
    let token = candidate.access_token().await.unwrap();
    let started = backend
        .interview_start(&token, &StartRequest::practice(), "test")
        .await
        .unwrap();
    let session_id = started["session"]["id"].as_str().unwrap().to_owned();

    // The service's side: one window from the session's creation to its close.
    let store = LocalObservations {
        db: stack.state.db.clone(),
    };
    let window = store
        .open_window(&WindowStart {
            tenant_id: tenant.clone(),
            session_id: session_id.clone(),
            provider_session: "live_rec1".into(),
            api: "live".into(),
            instance: "proxy-a".into(),
            from_ms: 0,
        })
        .await
        .unwrap();
    let heard = |speaker, text: &str, start_ms, end_ms| ObservedFragment {
        provider_session: "live_rec1".into(),
        speaker,
        text: text.into(),
        start_ms,
        end_ms,
        item_id: None,
    };
    let fragments = [
        heard(Heard::Interviewer, "Tell me about a hard bug", 0, 1_500),
        heard(Heard::Interviewer, " you fixed.", 1_500, 2_500),
        heard(
            Heard::Candidate,
            "I traced a race in our payment retries.",
            3_000,
            6_000,
        ),
        heard(
            Heard::Interviewer,
            "What did you learn from it?",
            9_500,
            11_000,
        ),
        heard(
            Heard::Candidate,
            "To write the fix before the test.",
            11_500,
            14_000,
        ),
        heard(
            Heard::Interviewer,
            "Thank you, that is all.",
            15_000,
            16_500,
        ),
    ];
    store.record(&window, &fragments, 16_500).await.unwrap();
    store
        .close(&window, 17_000, WindowEnd::Closed)
        .await
        .unwrap();

    // The client's side, 2 s later on the interview's timeline.
    let line = |n: i32, speaker: &str, text: &str, start: i64, end: i64| Entry {
        item_id: format!("live_rec1#{n}"),
        seq: n,
        speaker: speaker.into(),
        text: text.into(),
        started_ms: start + 2_000,
        ended_ms: Some(end + 2_000),
    };
    let entries = [
        line(
            1,
            "interviewer",
            "Tell me about a hard bug you fixed.",
            0,
            2_500,
        ),
        line(
            2,
            "candidate",
            "I traced a race in our payment retries.",
            3_000,
            6_000,
        ),
        line(
            3,
            "candidate",
            "I also led a team of forty engineers.",
            6_500,
            9_000,
        ),
        line(
            4,
            "interviewer",
            "What did you learn from it?",
            9_500,
            11_000,
        ),
        line(
            5,
            "candidate",
            "To write the test before the fix.",
            11_500,
            14_000,
        ),
        line(6, "interviewer", "Thank you, that is all.", 15_000, 16_500),
    ];
    backend
        .upload_transcript(&token, &session_id, &entries)
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (reviewer_store, _) = Store::open(&dir.path().join(viva_store::FILE_NAME)).unwrap();
    let view = viva_review::open(Some(&reviewer_store), signed_in(&interviewer), &session_id)
        .await
        .unwrap()
        .view();
    assert_eq!(
        view.record,
        RecordCheck::Checked {
            judged: 6,
            flagged: 2,
            unjudged: 0
        }
    );
    let flags: Vec<(&str, Option<&LineFlag>)> = view
        .lines
        .iter()
        .map(|l| (l.item_id.as_str(), l.flag.as_ref()))
        .collect();
    assert_eq!(
        flags,
        [
            ("live_rec1#1", None),
            ("live_rec1#2", None),
            ("live_rec1#3", Some(&LineFlag::NotHeard)),
            ("live_rec1#4", None),
            (
                "live_rec1#5",
                Some(&LineFlag::HeardDifferently {
                    heard: "To write the fix before the test".into()
                })
            ),
            ("live_rec1#6", None),
        ]
    );

    // The candidate's own account reads none of the record: nothing is checked or flagged
    // (the record is the organisation's check on the upload, not the candidate's).
    let dir = tempfile::tempdir().unwrap();
    let (other_computer, _) = Store::open(&dir.path().join(viva_store::FILE_NAME)).unwrap();
    let view = viva_review::open(Some(&other_computer), signed_in(&candidate), &session_id)
        .await
        .unwrap()
        .view();
    assert_eq!(view.record, RecordCheck::NoRecord);
    assert!(view.lines.iter().all(|l| l.flag.is_none()));
    stack.shutdown().await;
}
