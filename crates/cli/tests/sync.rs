//! The outbox against the local stack over real HTTP: lines recorded while the backend is
//! down wait in the outbox, and reach it exactly once when it is back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use viva_backend::{Account, Backend, SessionQuery, StartRequest};
use viva_localstack::{Config, LocalStack};
use viva_realtime::{Line, LineStatus, Speaker};
use viva_session::AccountRemote;
use viva_store::{Ending, NewSession, SessionStatus, Store, SyncState, SyncTarget};

fn line(i: u32) -> Line {
    Line {
        item_id: format!("item_{i:04}"),
        seq: i,
        speaker: if i.is_multiple_of(2) {
            Speaker::Interviewer
        } else {
            Speaker::Candidate
        },
        text: format!("line number {i} of the interview"),
        started_ms: u64::from(i) * 1000,
        ended_ms: Some(u64::from(i) * 1000 + 900),
        status: LineStatus::Final,
        inaudible: None,
        interrupted: false,
    }
}

async fn wait_for(store: &Store, session_id: &str, what: &str, done: impl Fn(&SyncState) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let state = store.session(session_id).unwrap().sync;
        if done(&state) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start_stack(data: &std::path::Path, listen: Option<std::net::SocketAddr>) -> LocalStack {
    let defaults = Config::default();
    LocalStack::start(Config {
        data_dir: Some(data.to_path_buf()),
        listen: listen.unwrap_or(defaults.listen),
        ..defaults
    })
    .await
    .unwrap()
}

/// A candidate signed in (in memory) with a practice session started on `stack`.
struct Practice {
    backend: Backend,
    account: Arc<Account>,
    user_id: String,
    token: String,
    session_id: String,
}

async fn practice(stack: &LocalStack) -> Practice {
    let tenant = stack.add_tenant("Acme").await.unwrap();
    stack
        .add_user("cand@example.com", "password-1234", &tenant, "candidate")
        .await
        .unwrap();
    let backend = Backend::new(&stack.base_url, &stack.anon_key);
    let account = Arc::new(Account::in_memory(backend.clone()));
    account
        .sign_in("cand@example.com", "password-1234")
        .await
        .unwrap();
    let viva_backend::AuthState::SignedIn { user_id, .. } = account.state() else {
        panic!("signed in");
    };
    let token = account.access_token().await.unwrap();
    let started = backend
        .interview_start(&token, &StartRequest::practice(), "test")
        .await
        .unwrap();
    let session_id = started["session"]["id"].as_str().unwrap().to_string();
    Practice {
        backend,
        account,
        user_id,
        token,
        session_id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_kept_while_the_backend_is_down_reach_it_exactly_once_when_it_is_back() {
    let data = tempfile::tempdir().unwrap();
    let stack = start_stack(data.path(), None).await;
    let address: std::net::SocketAddr = stack
        .base_url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let Practice {
        backend,
        account,
        user_id,
        token: _,
        session_id,
    } = practice(&stack).await;

    let db = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(&db.path().join("transcripts.sqlite3")).unwrap();
    store
        .begin_session(&NewSession {
            id: session_id.clone(),
            remote: Some(stack.base_url.clone()),
            user_id: Some(user_id.clone()),
            title: "Practice".into(),
            mode: "practice".into(),
            started_at_ms: 0,
            consent: None,
        })
        .unwrap();
    let _syncer = viva_store::spawn_syncer(
        store.clone(),
        SyncTarget {
            remote: stack.base_url.clone(),
            user_id,
        },
        AccountRemote {
            account: account.clone(),
        },
    );

    // Up: the first lines go out within the second they may linger.
    for i in 1..=30 {
        store.record(&session_id, &line(i)).unwrap();
    }
    wait_for(&store, &session_id, "the first lines go out", |s| {
        *s == SyncState::Synced
    })
    .await;

    // Down: the outbox grows and says why.
    stack.shutdown().await;
    for i in 31..=250 {
        store.record(&session_id, &line(i)).unwrap();
        if i == 40 {
            // Let an upload fail while the interview goes on.
            wait_for(&store, &session_id, "the failure shows", |s| {
                matches!(s, SyncState::Failing { .. })
            })
            .await;
        }
    }
    store
        .end_session(
            &session_id,
            &Ending {
                status: SessionStatus::Completed,
                ended_at_ms: chrono::Utc::now().timestamp_millis(),
                duration_ms: 251_000,
                cost_usd: Some(0.42),
            },
        )
        .unwrap();
    let SyncState::Failing { lines, reason } = store.session(&session_id).unwrap().sync else {
        panic!("failing while down");
    };
    assert_eq!(lines, 220, "every line recorded while down waits");
    assert!(!reason.is_empty());

    // Back on the same address: it drains by itself.
    let stack = start_stack(data.path(), Some(address)).await;
    wait_for(&store, &session_id, "the outbox drains", |s| {
        *s == SyncState::Synced
    })
    .await;

    let token = account.access_token().await.unwrap();
    let rows = backend.transcript(&token, &session_id).await.unwrap();
    let mut ids: Vec<&str> = rows.iter().map(|r| r.item_id.as_str()).collect();
    assert_eq!(ids.len(), 250, "each line stored once");
    ids.dedup();
    assert_eq!(ids.len(), 250);
    for (row, i) in rows.iter().zip(1..) {
        assert_eq!(row.item_id, line(i).item_id);
        assert_eq!(row.text, line(i).text);
        assert_eq!(row.seq, i64::from(i));
    }
    // And the session is closed on the server with its cost.
    let sessions = backend
        .sessions(
            &token,
            &SessionQuery {
                limit: 10,
                ..SessionQuery::default()
            },
        )
        .await
        .unwrap();
    let row = sessions.rows.iter().find(|r| r.id == session_id).unwrap();
    assert_eq!(row.status, "completed");
    assert_eq!(row.duration_ms, Some(251_000));
    assert_eq!(row.realtime_cost_usd, Some(0.42));
    stack.shutdown().await;
}

/// A 25,000-character typed answer and a line that ends before it starts (as an older Viva
/// could write one) in one session: the long answer reaches the server whole, in parts; the
/// bad line is refused and parked with its reason, shown by `viva transcripts list`; every
/// other line syncs and the session closes. Before, the server refused the whole batch and the
/// outbox retried it every minute, forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_line_never_blocks_the_others_and_a_long_answer_arrives_whole() {
    let data = tempfile::tempdir().unwrap();
    let stack = start_stack(data.path(), None).await;
    let Practice {
        backend,
        account,
        user_id,
        token,
        session_id,
    } = practice(&stack).await;
    let db = tempfile::tempdir().unwrap();
    let db_path = db.path().join("transcripts.sqlite3");
    let (store, _) = Store::open(&db_path).unwrap();
    store
        .begin_session(&NewSession {
            id: session_id.clone(),
            remote: Some(stack.base_url.clone()),
            user_id: Some(user_id.clone()),
            title: "Practice".into(),
            mode: "practice".into(),
            started_at_ms: 0,
            consent: None,
        })
        .unwrap();
    let _syncer = viva_store::spawn_syncer(
        store.clone(),
        SyncTarget {
            remote: stack.base_url.clone(),
            user_id,
        },
        AccountRemote {
            account: account.clone(),
        },
    );
    let long_answer: String = (0..5_000).map(|i| format!("w{:03} ", i % 1000)).collect();
    assert_eq!(long_answer.chars().count(), 25_000);
    let mut typed = line(2);
    typed.speaker = Speaker::Candidate;
    typed.text = long_answer.clone();
    let mut backwards = line(3);
    backwards.started_ms = 9_000;
    backwards.ended_ms = Some(4_000);
    for recorded in [line(1), typed, backwards, line(4), line(5)] {
        store.record(&session_id, &recorded).unwrap();
    }
    store
        .end_session(
            &session_id,
            &Ending {
                status: SessionStatus::Completed,
                ended_at_ms: chrono::Utc::now().timestamp_millis(),
                duration_ms: 6_000,
                cost_usd: None,
            },
        )
        .unwrap();
    wait_for(
        &store,
        &session_id,
        "everything else syncs and closes",
        |s| *s == SyncState::Synced,
    )
    .await;

    let rows = backend.transcript(&token, &session_id).await.unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.item_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "item_0001",
            "item_0002",
            "item_0002#p0002",
            "item_0004",
            "item_0005"
        ]
    );
    let whole: String = rows[1..3].iter().map(|r| r.text.as_str()).collect();
    assert_eq!(whole, long_answer, "the long answer arrives whole");
    let session = store.session(&session_id).unwrap();
    assert_eq!(session.refused_lines, 1);
    let refused = store.refused_lines(&session_id).unwrap();
    assert_eq!(refused[0].item_id, "item_0003");
    assert!(
        refused[0].reason.contains("ends before it starts"),
        "{refused:?}"
    );
    // The line is still on this computer, whole.
    let kept = store.lines(&session_id, true).unwrap();
    assert_eq!(kept.len(), 5);
    assert_eq!(kept[1].text, long_answer);
    // And the server's session is closed.
    let sessions = backend
        .sessions(
            &token,
            &SessionQuery {
                limit: 10,
                ..SessionQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(sessions.rows[0].status, "completed");

    // `viva transcripts list` names the refused line and why.
    drop(store);
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_viva"))
        .args(["transcripts", "list", "--db"])
        .arg(&db_path)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&listed.stdout);
    let session: serde_json::Value = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["type"] == "session")
        .unwrap();
    assert_eq!(session["refused"][0]["item_id"], "item_0003", "{out}");
    assert!(
        session["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("ends before it starts")
    );
    stack.shutdown().await;
}
