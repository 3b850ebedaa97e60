//! The store on a real SQLite file: lines kept, recovered after a crash, moved aside when
//! damaged, found by search, and queued for the backend.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use viva_realtime::{Line, LineStatus, Speaker};
use viva_store::{
    Ending, NewSession, SearchQuery, SessionList, SessionStatus, Store, SyncFilter, SyncState,
    SyncTarget, Work,
};

fn session(id: &str, remote: Option<&str>, title: &str, started_at_ms: i64) -> NewSession {
    NewSession {
        id: id.into(),
        remote: remote.map(Into::into),
        user_id: Some("user-1".into()),
        title: title.into(),
        mode: "practice".into(),
        started_at_ms,
        consent: None,
    }
}

fn line(item: &str, seq: u32, speaker: Speaker, text: &str, status: LineStatus) -> Line {
    Line {
        item_id: item.into(),
        seq,
        speaker,
        text: text.into(),
        started_ms: u64::from(seq) * 1000,
        ended_ms: (status == LineStatus::Final).then_some(u64::from(seq) * 1000 + 800),
        status,
        inaudible: None,
        interrupted: false,
    }
}

fn open(path: &Path) -> Store {
    let (store, report) = Store::open(path).expect("the store opens");
    assert!(report.moved_aside.is_none(), "{report:?}");
    store
}

const REMOTE: &str = "http://127.0.0.1:9";

fn target() -> SyncTarget {
    SyncTarget {
        remote: REMOTE.into(),
        user_id: "user-1".into(),
    }
}

#[test]
fn a_final_line_is_kept_once_and_partial_words_never_overwrite_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("viva.sqlite3");
    let store = open(&path);
    store
        .begin_session(&session("s1", Some(REMOTE), "Rust role", 0))
        .unwrap();
    let mut partial = line("i1", 1, Speaker::Candidate, "I have", LineStatus::Partial);
    store.record("s1", &partial).unwrap();
    partial.text = "I have worked".into();
    store.record("s1", &partial).unwrap();
    // The latest partial words are kept, but only as a partial.
    let lines = store.lines("s1", false).unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].text, "I have worked");
    assert!(!lines[0].is_final);
    assert!(store.lines("s1", true).unwrap().is_empty());

    let fin = line(
        "i1",
        1,
        Speaker::Candidate,
        "I have worked with Rust",
        LineStatus::Final,
    );
    assert_eq!(
        store.record("s1", &fin).unwrap(),
        viva_store::Recorded::Saved
    );
    assert_eq!(
        store.record("s1", &fin).unwrap(),
        viva_store::Recorded::Unchanged
    );
    store.record("s1", &partial).unwrap();
    drop(store);

    // After reopening, the final words are there, once, and queued for the backend.
    let store = open(&path);
    let lines = store.lines("s1", true).unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].text, "I have worked with Rust");
    let session = store.session("s1").unwrap();
    assert_eq!(session.lines, 1);
    assert_eq!(session.sync, SyncState::Pending { lines: 1 });
}

#[test]
fn a_line_for_an_unknown_session_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("viva.sqlite3"));
    let error = store
        .record(
            "nope",
            &line("i1", 1, Speaker::Candidate, "hi", LineStatus::Final),
        )
        .unwrap_err();
    assert!(
        matches!(error, viva_store::StoreError::NoSuchSession(_)),
        "{error}"
    );
}

#[test]
fn a_session_left_live_by_a_crash_becomes_interrupted_with_its_words_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("viva.sqlite3");
    let store = open(&path);
    store
        .begin_session(&session("s1", Some(REMOTE), "Crash", 1_000))
        .unwrap();
    store
        .record(
            "s1",
            &line(
                "i1",
                1,
                Speaker::Interviewer,
                "Tell me about you",
                LineStatus::Final,
            ),
        )
        .unwrap();
    store
        .record(
            "s1",
            &line("i2", 2, Speaker::Candidate, "I build", LineStatus::Partial),
        )
        .unwrap();
    store
        .record(
            "s1",
            &line("i3", 3, Speaker::Interviewer, "", LineStatus::Partial),
        )
        .unwrap();

    // While this process keeps the session live, another opening leaves it alone.
    let (other, report) = Store::open(&path).unwrap();
    assert!(report.interrupted.is_empty());
    assert_eq!(other.session("s1").unwrap().status, SessionStatus::Active);
    drop(other);

    // The process dies without ending the session.
    drop(store);
    let (store, report) = Store::open(&path).unwrap();
    assert_eq!(report.interrupted, vec!["s1".to_string()]);
    let session = store.session("s1").unwrap();
    assert_eq!(session.status, SessionStatus::Interrupted);
    assert_eq!(session.ended_at_ms, Some(1_000 + 2_000));
    let lines = store.lines("s1", true).unwrap();
    let texts: Vec<(&str, bool)> = lines
        .iter()
        .map(|l| (l.text.as_str(), l.interrupted))
        .collect();
    // The words being spoken are kept, marked cut off; the empty line nobody saw is not.
    assert_eq!(texts, vec![("Tell me about you", false), ("I build", true)]);
    assert_eq!(session.sync, SyncState::Pending { lines: 2 });
    // Both lines go out, and then the backend's row is closed as interrupted.
    let Work::Upload { session_id, lines } = store.next_work(&target(), i64::MAX / 2).unwrap()
    else {
        panic!("expected an upload");
    };
    assert_eq!((session_id.as_str(), lines.len()), ("s1", 2));
    store
        .uploaded(
            "s1",
            &lines.iter().map(|l| l.item_id.clone()).collect::<Vec<_>>(),
            &[],
        )
        .unwrap();
    let Work::Close { ending, .. } = store.next_work(&target(), i64::MAX / 2).unwrap() else {
        panic!("expected a close");
    };
    assert_eq!(ending.status, SessionStatus::Interrupted);
    store.closed_remotely("s1").unwrap();
    assert_eq!(store.session("s1").unwrap().sync, SyncState::Synced);
    // Opening again finds nothing more to recover.
    drop(store);
    let (_, report) = Store::open(&path).unwrap();
    assert!(report.interrupted.is_empty());
}

#[test]
fn the_outbox_batches_at_most_a_hundred_lines_and_lets_a_live_session_linger_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("viva.sqlite3"));
    store
        .begin_session(&session("s1", Some(REMOTE), "Batch", 0))
        .unwrap();
    store
        .begin_session(&session("local", None, "Offline", 0))
        .unwrap();
    store
        .record(
            "local",
            &line(
                "x",
                1,
                Speaker::Candidate,
                "offline words",
                LineStatus::Final,
            ),
        )
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    store
        .record(
            "s1",
            &line("i0", 1, Speaker::Candidate, "first", LineStatus::Final),
        )
        .unwrap();
    // One line of a live session waits up to a second for company.
    match store.next_work(&target(), now).unwrap() {
        Work::WaitUntil(at) => assert!(at > now && at <= now + 1_500, "{at} vs {now}"),
        other => panic!("expected a wait, got {other:?}"),
    }
    for i in 1..150 {
        let text = format!("line {i}");
        store
            .record(
                "s1",
                &line(
                    &format!("i{i}"),
                    i + 1,
                    Speaker::Candidate,
                    &text,
                    LineStatus::Final,
                ),
            )
            .unwrap();
    }
    // A full batch goes at once, in conversation order.
    let Work::Upload { lines, .. } = store.next_work(&target(), now).unwrap() else {
        panic!("expected an upload");
    };
    assert_eq!(lines.len(), 100);
    assert!(lines.windows(2).all(|w| w[0].seq < w[1].seq));
    store
        .uploaded(
            "s1",
            &lines.iter().map(|l| l.item_id.clone()).collect::<Vec<_>>(),
            &[],
        )
        .unwrap();
    assert_eq!(
        store.session("s1").unwrap().sync,
        SyncState::Pending { lines: 50 }
    );
    // A failure backs off and is shown with its reason.
    store
        .sync_failed("s1", "the backend is unreachable", now)
        .unwrap();
    assert_eq!(
        store.session("s1").unwrap().sync,
        SyncState::Failing {
            lines: 50,
            reason: "the backend is unreachable".into()
        }
    );
    match store.next_work(&target(), now).unwrap() {
        Work::WaitUntil(at) => assert!(at >= now + 800 && at <= now + 1_000, "{}", at - now),
        other => panic!("expected a backoff, got {other:?}"),
    }
    store.retry_now().unwrap();
    // Once the session ended, the rest go without lingering.
    store
        .end_session(
            "s1",
            &Ending {
                status: SessionStatus::Completed,
                ended_at_ms: 60_000,
                duration_ms: 60_000,
                cost_usd: Some(0.25),
            },
        )
        .unwrap();
    let Work::Upload { lines, .. } = store.next_work(&target(), now).unwrap() else {
        panic!("expected an upload");
    };
    assert_eq!(lines.len(), 50);
    store
        .uploaded(
            "s1",
            &lines.iter().map(|l| l.item_id.clone()).collect::<Vec<_>>(),
            &[],
        )
        .unwrap();
    let Work::Close { session_id, ending } = store.next_work(&target(), now).unwrap() else {
        panic!("expected a close");
    };
    assert_eq!(session_id, "s1");
    assert_eq!(ending.cost_usd, Some(0.25));
    store.closed_remotely("s1").unwrap();
    assert_eq!(store.next_work(&target(), now).unwrap(), Work::Idle);
    // The offline session never goes anywhere, and says so.
    assert_eq!(store.session("local").unwrap().sync, SyncState::LocalOnly);
    // Another account's sessions are not sent under this one.
    let stranger = SyncTarget {
        remote: REMOTE.into(),
        user_id: "user-2".into(),
    };
    assert_eq!(store.next_work(&stranger, now).unwrap(), Work::Idle);
}

fn fill_for_search(store: &Store) {
    store
        .begin_session(&session("a", Some(REMOTE), "Backend engineer", 1_000))
        .unwrap();
    store
        .begin_session(&session("b", Some(REMOTE), "Frontend engineer", 5_000))
        .unwrap();
    let said = [
        (
            "a",
            "a1",
            Speaker::Interviewer,
            "How do you handle errors in Rust?",
        ),
        (
            "a",
            "a2",
            Speaker::Candidate,
            "I use thiserror for libraries and anyhow at the edges",
        ),
        (
            "a",
            "a3",
            Speaker::Candidate,
            "Errors errors errors: Rust makes errors explicit",
        ),
        (
            "b",
            "b1",
            Speaker::Interviewer,
            "Tell me about state management",
        ),
        (
            "b",
            "b2",
            Speaker::Candidate,
            "Signals in Solid, and some Rust compiled to wasm",
        ),
    ];
    for (index, (session, item, speaker, text)) in said.iter().enumerate() {
        let seq = u32::try_from(index).unwrap() + 1;
        store
            .record(session, &line(item, seq, *speaker, text, LineStatus::Final))
            .unwrap();
    }
}

#[test]
fn search_ranks_narrows_and_marks_the_matched_words() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("viva.sqlite3"));
    fill_for_search(&store);
    let ids = |query: SearchQuery| -> Vec<String> {
        store
            .search(&query)
            .unwrap()
            .into_iter()
            .map(|h| h.item_id)
            .collect()
    };
    let query = |text: &str| SearchQuery {
        text: text.into(),
        ..SearchQuery::default()
    };
    // The line that says it most ranks first.
    assert_eq!(ids(query("errors"))[0], "a3");
    assert_eq!(ids(query("errors")).len(), 2);
    assert_eq!(ids(query("rust")).len(), 3);
    // Speaker, title and dates narrow it.
    assert_eq!(
        ids(SearchQuery {
            speaker: Some(Speaker::Interviewer),
            ..query("rust")
        }),
        vec!["a1"]
    );
    assert_eq!(
        ids(SearchQuery {
            title_contains: Some("FRONTEND".into()),
            ..query("rust")
        }),
        vec!["b2"]
    );
    assert_eq!(
        ids(SearchQuery {
            from_ms: Some(2_000),
            ..query("rust")
        }),
        vec!["b2"]
    );
    assert_eq!(
        ids(SearchQuery {
            until_ms: Some(2_000),
            ..query("rust")
        })
        .len(),
        2
    );
    // Phrases, prefixes, accents, and text that would be FTS syntax.
    assert_eq!(ids(query("\"state management\"")), vec!["b1"]);
    assert_eq!(ids(query("\"management state\"")), Vec::<String>::new());
    assert_eq!(ids(query("thiser*")), vec!["a2"]);
    assert_eq!(ids(query("ÉRRORS")).len(), 2);
    assert!(ids(query("NEAR( OR \" AND ) text:")).is_empty());
    assert!(ids(query("  ")).is_empty());
    // The snippet marks what matched.
    let hit = &store.search(&query("anyhow")).unwrap()[0];
    assert_eq!(hit.session_title, "Backend engineer");
    assert_eq!(hit.speaker, Speaker::Candidate);
    let marked: Vec<&str> = hit
        .snippet
        .iter()
        .filter(|f| f.hit)
        .map(|f| f.text.as_str())
        .collect();
    assert_eq!(marked, vec!["anyhow"]);
    let whole: String = hit.snippet.iter().map(|f| f.text.as_str()).collect();
    assert_eq!(
        whole,
        "I use thiserror for libraries and anyhow at the edges"
    );
}

#[test]
fn session_filters_stay_exact_when_two_sessions_were_recorded_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("viva.sqlite3"));
    store
        .begin_session(&session("early", None, "Mock interview", 1_000))
        .unwrap();
    store
        .begin_session(&session("late", None, "Real interview", 9_000))
        .unwrap();
    store
        .begin_session(&session("after", None, "Mock interview", 20_000))
        .unwrap();
    // Lines of "early" and "late" alternate, so their line ids interleave.
    for seq in 1..=6_u32 {
        let (id, speaker) = if seq % 2 == 0 {
            ("late", Speaker::Candidate)
        } else {
            ("early", Speaker::Interviewer)
        };
        let text = format!("latency budget {seq}");
        store
            .record(
                id,
                &line(
                    &format!("{id}{seq}"),
                    seq,
                    speaker,
                    &text,
                    LineStatus::Final,
                ),
            )
            .unwrap();
    }
    store
        .record(
            "after",
            &line(
                "after1",
                1,
                Speaker::Candidate,
                "latency again",
                LineStatus::Final,
            ),
        )
        .unwrap();
    let sessions = |query: SearchQuery| -> Vec<String> {
        let mut ids: Vec<String> = store
            .search(&query)
            .unwrap()
            .into_iter()
            .map(|h| h.item_id)
            .collect();
        ids.sort();
        ids
    };
    let latency = SearchQuery {
        text: "latency".into(),
        ..SearchQuery::default()
    };
    assert_eq!(
        sessions(SearchQuery {
            title_contains: Some("mock".into()),
            ..latency.clone()
        }),
        vec!["after1", "early1", "early3", "early5"]
    );
    assert_eq!(
        sessions(SearchQuery {
            from_ms: Some(5_000),
            until_ms: Some(10_000),
            ..latency.clone()
        }),
        vec!["late2", "late4", "late6"]
    );
    assert_eq!(
        sessions(SearchQuery {
            title_contains: Some("mock".into()),
            speaker: Some(Speaker::Candidate),
            ..latency.clone()
        }),
        vec!["after1"]
    );
    assert!(
        sessions(SearchQuery {
            title_contains: Some("nobody".into()),
            ..latency
        })
        .is_empty()
    );
}

#[test]
fn partial_words_are_not_searchable_until_final() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("viva.sqlite3"));
    store.begin_session(&session("a", None, "T", 0)).unwrap();
    store
        .record(
            "a",
            &line(
                "i",
                1,
                Speaker::Candidate,
                "kubernetes",
                LineStatus::Partial,
            ),
        )
        .unwrap();
    let query = SearchQuery {
        text: "kubernetes".into(),
        ..SearchQuery::default()
    };
    assert!(store.search(&query).unwrap().is_empty());
    store
        .record(
            "a",
            &line(
                "i",
                1,
                Speaker::Candidate,
                "kubernetes clusters",
                LineStatus::Final,
            ),
        )
        .unwrap();
    assert_eq!(store.search(&query).unwrap().len(), 1);
    let gone = SearchQuery {
        text: "kubernetes -clusters".into(),
        ..SearchQuery::default()
    };
    assert_eq!(store.search(&gone).unwrap().len(), 1);
}

#[test]
fn a_damaged_file_is_moved_aside_what_can_be_read_is_kept_and_a_new_one_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("viva.sqlite3");
    {
        let store = open(&path);
        fill_for_search(&store);
        store
            .end_session(
                "a",
                &Ending {
                    status: SessionStatus::Completed,
                    ended_at_ms: 9_000,
                    duration_ms: 8_000,
                    cost_usd: None,
                },
            )
            .unwrap();
    }
    // Scribble over the middle of the file (not the header): only a full check finds it.
    let mut bytes = std::fs::read(&path).unwrap();
    let page = 4096;
    assert!(bytes.len() > 4 * page, "{}", bytes.len());
    let last = bytes.len() - page;
    for b in &mut bytes[last..last + 200] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();

    let (store, report) = Store::open(&path).unwrap();
    let aside = report
        .moved_aside
        .expect("the damage is found and reported");
    assert!(
        aside.path.exists(),
        "the damaged file is kept at {}",
        aside.path.display()
    );
    assert!(aside.message().contains(&aside.path.display().to_string()));
    assert!(
        std::fs::read(&aside.path).unwrap() == bytes,
        "moved, not rewritten"
    );
    // A fresh file took its place and works.
    store
        .begin_session(&session("c", None, "After", 9))
        .unwrap();
    store
        .record(
            "c",
            &line("c1", 1, Speaker::Candidate, "still here", LineStatus::Final),
        )
        .unwrap();
    assert_eq!(store.lines("c", true).unwrap().len(), 1);
    // What could be read was copied over and is counted in the message.
    let recovered: usize = ["a", "b"]
        .iter()
        .map(|s| store.lines(s, true).map_or(0, |l| l.len()))
        .sum();
    assert_eq!(u64::try_from(recovered).unwrap(), aside.lines_recovered);
    assert!(
        aside
            .message()
            .contains(&format!("{} lines", aside.lines_recovered))
    );
}

#[test]
fn a_file_that_is_not_a_database_is_moved_aside_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("viva.sqlite3");
    std::fs::write(
        &path,
        b"this is not a database, it is a shopping list: eggs, milk\n".repeat(100),
    )
    .unwrap();
    let (store, report) = Store::open(&path).unwrap();
    let aside = report.moved_aside.expect("reported");
    assert_eq!((aside.sessions_recovered, aside.lines_recovered), (0, 0));
    assert!(
        std::fs::read_to_string(&aside.path)
            .unwrap()
            .starts_with("this is not a database")
    );
    assert!(store.sessions(10, 0).unwrap().is_empty());
}

#[test]
fn settings_persist() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("viva.sqlite3");
    let store = open(&path);
    assert_eq!(store.setting("theme").unwrap(), None);
    store.set_setting("theme", "dark").unwrap();
    store.set_setting("theme", "light").unwrap();
    drop(store);
    assert_eq!(
        open(&path).setting("theme").unwrap().as_deref(),
        Some("light")
    );
}

#[test]
fn the_session_list_filters_by_status_title_date_and_sync_and_counts_every_match() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("t.sqlite3"));
    let day = 86_400_000;
    for n in 0..30_i64 {
        let remote = (n % 3 != 0).then_some(REMOTE);
        let title = if n % 2 == 0 {
            "Backend Engineer"
        } else {
            "Designer"
        };
        let id = format!("s{n:02}");
        store
            .begin_session(&session(&id, remote, title, n * day))
            .unwrap();
        if n % 5 != 0 {
            let ending = Ending {
                status: SessionStatus::Completed,
                ended_at_ms: n * day + 60_000,
                duration_ms: 60_000,
                cost_usd: None,
            };
            store.end_session(&id, &ending).unwrap();
        }
    }
    let ids = |query: &SessionList| {
        let (rows, total) = store.list(query).unwrap();
        (rows.into_iter().map(|s| s.id).collect::<Vec<_>>(), total)
    };
    let page = SessionList {
        limit: 4,
        ..SessionList::default()
    };
    assert_eq!(
        ids(&page),
        (
            vec!["s29".into(), "s28".into(), "s27".into(), "s26".into()],
            30
        )
    );
    let second = SessionList {
        offset: 4,
        oldest_first: true,
        ..page.clone()
    };
    assert_eq!(ids(&second).0, ["s04", "s05", "s06", "s07"]);
    // Still live (every fifth) and an engineer (even): s00, s10, s20.
    let live_engineers = SessionList {
        status: Some(SessionStatus::Active),
        title_contains: Some("ENGINEER".into()),
        limit: 50,
        ..SessionList::default()
    };
    assert_eq!(
        ids(&live_engineers),
        (vec!["s20".into(), "s10".into(), "s00".into()], 3)
    );
    let one_week = SessionList {
        from_ms: Some(7 * day),
        before_ms: Some(14 * day),
        limit: 50,
        ..SessionList::default()
    };
    assert_eq!(ids(&one_week).1, 7);
    let offline = SessionList {
        sync: Some(SyncFilter::LocalOnly),
        limit: 50,
        ..SessionList::default()
    };
    assert_eq!(ids(&offline).1, 10);
    // Nothing was ever sent: every ended session with a backend waits to be closed there (the
    // four still live have nothing to send yet).
    let waiting = SessionList {
        sync: Some(SyncFilter::Unsynced),
        limit: 50,
        ..SessionList::default()
    };
    assert_eq!(ids(&waiting).1, 16);
}

fn stored_line(item: &str, seq: u32, text: &str) -> viva_store::StoredLine {
    viva_store::StoredLine {
        item_id: item.into(),
        seq,
        speaker: Speaker::Candidate,
        text: text.into(),
        started_ms: u64::from(seq) * 1000,
        ended_ms: Some(u64::from(seq) * 1000 + 800),
        is_final: true,
        inaudible: None,
        interrupted: false,
        refused: None,
        late: false,
    }
}

fn server_copy(id: &str, status: SessionStatus, lines: u64) -> viva_store::StoredSession {
    viva_store::StoredSession {
        id: id.into(),
        remote: Some(REMOTE.into()),
        user_id: Some("candidate-9".into()),
        title: "Backend role".into(),
        mode: "interview".into(),
        status,
        started_at_ms: 5_000,
        ended_at_ms: None,
        duration_ms: None,
        cost_usd: None,
        lines,
        sync: SyncState::Synced,
        refused_lines: 0,
        consent: None,
    }
}

fn words_found(store: &Store, text: &str) -> Vec<String> {
    store
        .search(&SearchQuery {
            text: text.into(),
            ..SearchQuery::default()
        })
        .unwrap()
        .into_iter()
        .map(|hit| hit.item_id)
        .collect()
}

#[test]
fn a_copy_of_a_backends_transcript_is_readable_and_searchable_offline_and_never_sent_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("viva.sqlite3");
    let store = open(&path);
    // A session this computer recorded, sharing the copy's backend.
    store
        .begin_session(&session("own", Some(REMOTE), "Own", 0))
        .unwrap();
    store
        .record(
            "own",
            &line(
                "o1",
                1,
                Speaker::Candidate,
                "my own words",
                LineStatus::Final,
            ),
        )
        .unwrap();
    store
        .end_session(
            "own",
            &Ending {
                status: SessionStatus::Completed,
                ended_at_ms: 2_000,
                duration_ms: 2_000,
                cost_usd: None,
            },
        )
        .unwrap();

    // A live interview on the backend, read by its interviewer at t=10 s.
    let copy = server_copy("remote-1", SessionStatus::Active, 2);
    store
        .cache_remote(
            &copy,
            &[
                stored_line("r1", 1, "caching makes reads cheap"),
                stored_line("r2", 2, "invalidation is the hard part"),
            ],
            10_000,
        )
        .unwrap();
    let kept = store.session("remote-1").unwrap();
    assert_eq!(kept.sync, SyncState::Cached { at_ms: 10_000 });
    assert_eq!((kept.title.as_str(), kept.lines), ("Backend role", 2));
    let texts: Vec<String> = store
        .lines("remote-1", true)
        .unwrap()
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert_eq!(
        texts,
        ["caching makes reads cheap", "invalidation is the hard part"]
    );
    assert_eq!(words_found(&store, "invalidation"), ["r2"]);
    // Only this computer's own line waits for the backend.
    assert_eq!(store.totals().unwrap().1, 1);
    let copies = SessionList {
        sync: Some(SyncFilter::Cached),
        ..SessionList::default()
    };
    assert_eq!(store.list(&copies).unwrap().1, 1);

    // Read again later: the newer copy replaces the old one, lines and search alike.
    store
        .cache_remote(
            &viva_store::StoredSession {
                status: SessionStatus::Completed,
                ..copy.clone()
            },
            &[
                stored_line("r1", 1, "caching makes reads cheap"),
                stored_line("r3", 3, "eviction under memory pressure"),
            ],
            20_000,
        )
        .unwrap();
    let kept = store.session("remote-1").unwrap();
    assert_eq!(
        (kept.status, kept.sync.clone()),
        (
            SessionStatus::Completed,
            SyncState::Cached { at_ms: 20_000 }
        )
    );
    assert!(words_found(&store, "invalidation").is_empty());
    assert_eq!(words_found(&store, "eviction"), ["r3"]);

    // A copy never overwrites what this computer recorded.
    store
        .cache_remote(
            &server_copy("own", SessionStatus::Completed, 0),
            &[],
            30_000,
        )
        .unwrap();
    assert_eq!(store.lines("own", true).unwrap().len(), 1);
    assert!(!matches!(
        store.session("own").unwrap().sync,
        SyncState::Cached { .. }
    ));

    // A live copy is not this computer's crash to recover: reopening leaves it alone.
    store
        .cache_remote(
            &server_copy("remote-2", SessionStatus::Active, 0),
            &[],
            40_000,
        )
        .unwrap();
    drop(store);
    let (store, report) = Store::open(&path).unwrap();
    assert!(report.interrupted.is_empty(), "{:?}", report.interrupted);
    assert_eq!(
        store.session("remote-2").unwrap().status,
        SessionStatus::Active
    );
    let Work::Upload { session_id, lines } = store.next_work(&target(), i64::MAX / 2).unwrap()
    else {
        panic!("expected the own line's upload");
    };
    assert_eq!((session_id.as_str(), lines.len()), ("own", 1));

    // Signing out forgets every copy, and search with it; this computer's own stays.
    assert_eq!(store.forget_cached().unwrap(), 2);
    assert!(matches!(
        store.session("remote-1"),
        Err(viva_store::StoreError::NoSuchSession(_))
    ));
    assert!(words_found(&store, "eviction").is_empty());
    assert_eq!(words_found(&store, "own"), ["o1"]);
}
