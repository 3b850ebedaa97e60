//! The table API over HTTP: scheduling, listing with filters and counts, and isolation between
//! tenants and between candidates, enforced from the JWT on every request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

mod common;

use common::Stack;
use reqwest::{Method, StatusCode};
use serde_json::json;
use viva_localstack::Config;

#[tokio::test]
async fn interviewers_schedule_and_each_party_sees_exactly_its_own_rows() {
    let s = Stack::start(Config::default()).await;
    let (acme, globex) = (
        s.stack.add_tenant("Acme").await.unwrap(),
        s.stack.add_tenant("Globex").await.unwrap(),
    );
    let ia = s.account("ia@acme.test", &acme, "interviewer").await;
    let ib = s.account("ib@globex.test", &globex, "interviewer").await;
    let ca = s.account("ca@acme.test", &acme, "candidate").await;
    let other = s.account("cb@acme.test", &acme, "candidate").await;

    let (status, rows) = s
        .send(Method::POST, "/rest/v1/interview_sessions", &ia.access_token, json!({"title": "Backend engineer", "question_set": "software_engineer", "scheduled_at": "2026-12-01T09:30:00+01:00", "candidate_email": "ca@acme.test"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rows}");
    let session = &rows[0];
    assert_eq!(
        (session["status"].as_str(), session["tenant_id"].as_str()),
        (Some("scheduled"), Some(acme.as_str()))
    );
    // Nobody is bound at scheduling: the candidate the address names is bound when they
    // start it (and sees it meanwhile by the address).
    assert_eq!(session["candidate_id"], serde_json::Value::Null);
    assert_eq!(session["scheduled_at"], "2026-12-01T08:30:00.000000+00:00");

    let count = |token: String| {
        let s = &s;
        async move {
            s.get("/rest/v1/interview_sessions?select=id", &token)
                .await
                .2
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(count(ia.access_token.clone()).await, 1);
    assert_eq!(count(ca.access_token.clone()).await, 1);
    assert_eq!(
        count(ib.access_token.clone()).await,
        0,
        "another tenant's interviewer saw the row"
    );
    assert_eq!(
        count(other.access_token.clone()).await,
        0,
        "another candidate saw the row"
    );

    // Candidates cannot schedule, and nobody can write another tenant's rows.
    let (status, body) = s
        .send(
            Method::POST,
            "/rest/v1/interview_sessions",
            &ca.access_token,
            json!({"title": "x", "question_set": "y"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("42501"))
    );
    let id = session["id"].as_str().unwrap();
    let (status, changed) = s
        .send(
            Method::PATCH,
            &format!("/rest/v1/interview_sessions?id=eq.{id}"),
            &ib.access_token,
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!((status, changed), (StatusCode::OK, json!([])));
    let (status, body) = s.send(Method::POST, "/rest/v1/transcript_entries", &other.access_token, json!({"session_id": id, "item_id": "i1", "seq": 1, "speaker": "candidate", "text": "hi", "started_ms": 0})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("42501"))
    );

    // The interviewer cancels; a candidate may not (the row is not theirs to change: as
    // under the hosted policies, nothing is updated).
    let (status, changed) = s
        .send(
            Method::PATCH,
            &format!("/rest/v1/interview_sessions?id=eq.{id}"),
            &ca.access_token,
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!((status, changed), (StatusCode::OK, json!([])));
    let (status, changed) = s
        .send(
            Method::PATCH,
            &format!("/rest/v1/interview_sessions?id=eq.{id}"),
            &ia.access_token,
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(changed[0]["status"], "cancelled");
    s.stack.shutdown().await;
}

#[tokio::test]
async fn members_read_their_own_organisation_only_and_nobody_writes_one() {
    let s = Stack::start(Config::default()).await;
    let (acme, globex) = (
        s.stack.add_tenant("Acme").await.unwrap(),
        s.stack.add_tenant("Globex").await.unwrap(),
    );
    let candidate = s.account("c@acme.test", &acme, "candidate").await;
    let interviewer = s.account("i@globex.test", &globex, "interviewer").await;
    let (status, _, rows) = s
        .get("/rest/v1/tenants?select=id,name", &candidate.access_token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows, json!([{"id": acme, "name": "Acme"}]));
    let (_, _, rows) = s
        .get(
            &format!("/rest/v1/tenants?id=eq.{acme}"),
            &interviewer.access_token,
        )
        .await;
    assert_eq!(rows, json!([]), "another organisation's name was shown");
    let (status, _) = s
        .send(
            Method::POST,
            "/rest/v1/tenants",
            &interviewer.access_token,
            json!({"name": "Mine now"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, changed) = s
        .send(
            Method::PATCH,
            &format!("/rest/v1/tenants?id=eq.{globex}"),
            &interviewer.access_token,
            json!({"name": "Renamed"}),
        )
        .await;
    assert_ne!(changed, json!([{"id": globex, "name": "Renamed"}]));
    let (_, _, rows) = s
        .get("/rest/v1/tenants?select=name", &interviewer.access_token)
        .await;
    assert_eq!(rows, json!([{"name": "Globex"}]), "the name changed");
    s.stack.shutdown().await;
}

#[tokio::test]
async fn lists_filter_sort_page_and_count() {
    let s = Stack::start(Config::default()).await;
    let acme = s.stack.add_tenant("Acme").await.unwrap();
    let ia = s.account("ia@acme.test", &acme, "interviewer").await;
    let rows: Vec<_> = (0..30)
        .map(|i| json!({"title": format!("Interview {i:02}"), "question_set": if i % 3 == 0 { "product_manager" } else { "software_engineer" }, "scheduled_at": format!("2026-12-{:02}T10:00:00Z", i + 1)}))
        .collect();
    let (status, _) = s
        .send(
            Method::POST,
            "/rest/v1/interview_sessions",
            &ia.access_token,
            json!(rows),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, headers, page) = s
        .get("/rest/v1/interview_sessions?select=title,scheduled_at&question_set=eq.software_engineer&order=scheduled_at.desc&limit=5&offset=5", &ia.access_token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-range"], "5-9/20");
    let titles: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Interview 22",
            "Interview 20",
            "Interview 19",
            "Interview 17",
            "Interview 16"
        ]
    );
    assert_eq!(
        page[0].as_object().unwrap().len(),
        2,
        "select= was not honoured"
    );

    let (_, headers, rows) = s
        .get(
            "/rest/v1/interview_sessions?title=ilike.*0%35&scheduled_at=lt.2026-12-10T00:00:00Z",
            &ia.access_token,
        )
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(headers["content-range"], "0-0/1");
    let (_, headers, rows) = s
        .get(
            "/rest/v1/interview_sessions?status=eq.active",
            &ia.access_token,
        )
        .await;
    assert_eq!(
        (rows, &headers["content-range"]),
        (
            json!([]),
            &"*/0".parse::<reqwest::header::HeaderValue>().unwrap()
        )
    );
    s.stack.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_postgrest_errors_and_change_nothing() {
    let s = Stack::start(Config {
        access_token_lifetime_s: 1,
        ..Config::default()
    })
    .await;
    let acme = s.stack.add_tenant("Acme").await.unwrap();
    let ia = s.account("ia@acme.test", &acme, "interviewer").await;
    for (path, status, code) in [
        (
            "/rest/v1/interview_sessions?nope=eq.1",
            StatusCode::BAD_REQUEST,
            "42703",
        ),
        (
            "/rest/v1/interview_sessions?status=eq.flying",
            StatusCode::BAD_REQUEST,
            "22P02",
        ),
        (
            "/rest/v1/interview_sessions?title=regex.x",
            StatusCode::BAD_REQUEST,
            "PGRST100",
        ),
        ("/rest/v1/secrets", StatusCode::NOT_FOUND, "PGRST205"),
    ] {
        let (got, _, body) = s.get(path, &ia.access_token).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
    }
    let (status, body) = s
        .send(
            Method::POST,
            "/rest/v1/interview_sessions",
            &ia.access_token,
            json!({"title": "x", "question_set": "y", "status": "active"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("42501")),
        "a client set a server-owned column"
    );
    let (status, body) = s
        .send(
            Method::POST,
            "/rest/v1/interview_sessions",
            &ia.access_token,
            json!({"title": null, "question_set": "y"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("23502"))
    );
    let malformed = s
        .request(
            Method::POST,
            "/rest/v1/interview_sessions",
            Some(&ia.access_token),
        )
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, _, body) = s.get("/rest/v1/interview_sessions", &ia.access_token).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("PGRST303"))
    );
    s.stack.shutdown().await;
}

/// The upsert a review used to rewrite a finished transcript (interviewer lines included)
/// through the table API: refused, as on a hosted project, in every form.
#[tokio::test]
async fn nobody_writes_transcript_lines_through_the_table_api() {
    let s = Stack::start(Config::default()).await;
    let acme = s.stack.add_tenant("Acme").await.unwrap();
    let ca = s.account("ca@acme.test", &acme, "candidate").await;
    let ia = s.account("ia@acme.test", &acme, "interviewer").await;
    let session = s.start_practice(&ca.access_token).await;
    let session = session.as_str();
    // The genuine line, through the pipeline.
    let response = s
        .request(Method::POST, "/functions/v1/transcript-processor", Some(&ca.access_token))
        .json(&json!({"session_id": session, "entries": [{"item_id": "item_1", "seq": 1, "speaker": "interviewer", "text": "Tell me about yourself.", "started_ms": 0}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let line = |text: &str| json!({"session_id": session, "item_id": "item_1", "seq": 1, "speaker": "interviewer", "text": text, "started_ms": 0});
    for token in [&ca.access_token, &ia.access_token] {
        let (status, body) = s
            .send(
                Method::POST,
                "/rest/v1/transcript_entries",
                token,
                line("forged"),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("42501"))
        );
        for resolution in ["merge-duplicates", "ignore-duplicates"] {
            let response = s
                .request(
                    Method::POST,
                    "/rest/v1/transcript_entries?on_conflict=session_id,item_id",
                    Some(token),
                )
                .header(
                    "Prefer",
                    format!("resolution={resolution},return=representation"),
                )
                .json(&line("rewritten"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
        }
        let (status, _) = s
            .send(
                Method::PATCH,
                &format!("/rest/v1/transcript_entries?session_id=eq.{session}"),
                token,
                json!({"text": "rewritten"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = s
            .send(
                Method::DELETE,
                "/rest/v1/transcript_entries",
                token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (_, _, rows) = s
        .get(
            &format!("/rest/v1/transcript_entries?session_id=eq.{session}&select=text,speaker"),
            &ca.access_token,
        )
        .await;
    assert_eq!(
        rows,
        json!([{"text": "Tell me about yourself.", "speaker": "interviewer"}])
    );
    // An upsert naming a column that is no unique key is still PostgREST's 42P10.
    let (status, body) = s
        .send(
            Method::POST,
            "/rest/v1/interview_sessions?on_conflict=title",
            &ia.access_token,
            json!({"title": "x", "question_set": "y"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("42P10"))
    );
    s.stack.shutdown().await;
}

/// The proxy's record of an interview is the check on the candidate's own upload: the tenant's
/// interviewers read it; the candidate reads none of it; nobody writes, rewrites or deletes it
/// through the API (only the proxy does, on the service side).
#[tokio::test]
async fn only_the_tenants_interviewers_read_the_proxys_record_and_nobody_writes_it() {
    use viva_contract::observed::{ObservedFragment, Speaker};
    use viva_localstack::observations::LocalObservations;
    use viva_proxy::observe::{Observations, WindowEnd, WindowStart};

    let s = Stack::start(Config::default()).await;
    let (acme, globex) = (
        s.stack.add_tenant("Acme").await.unwrap(),
        s.stack.add_tenant("Globex").await.unwrap(),
    );
    let ca = s.account("ca@acme.test", &acme, "candidate").await;
    let ia = s.account("ia@acme.test", &acme, "interviewer").await;
    let ib = s.account("ib@globex.test", &globex, "interviewer").await;
    let session = s.start_practice(&ca.access_token).await;
    let store = LocalObservations {
        db: s.stack.state.db.clone(),
    };
    let window = store
        .open_window(&WindowStart {
            tenant_id: acme.clone(),
            session_id: session.clone(),
            provider_session: "live_rec1".into(),
            api: "live".into(),
            instance: "proxy-a".into(),
            from_ms: 0,
        })
        .await
        .unwrap();
    let heard = ObservedFragment {
        provider_session: "live_rec1".into(),
        speaker: Speaker::Candidate,
        text: "I led the migration.".into(),
        start_ms: 1_000,
        end_ms: 2_000,
        item_id: None,
    };
    store.record(&window, &[heard], 2_000).await.unwrap();
    store
        .close(&window, 2_500, WindowEnd::Closed)
        .await
        .unwrap();

    let rows = |path: &'static str, token: String| {
        let s = &s;
        let session = session.clone();
        async move {
            let (status, _, body) = s
                .get(&format!("{path}?session_id=eq.{session}"), &token)
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body.as_array().unwrap().clone()
        }
    };
    let windows = rows("/rest/v1/observed_windows", ia.access_token.clone()).await;
    assert_eq!(windows.len(), 1, "{windows:?}");
    assert_eq!(
        (
            windows[0]["to_ms"].as_i64(),
            windows[0]["end_reason"].as_str()
        ),
        (Some(2_500), Some("closed"))
    );
    let fragments = rows("/rest/v1/observed_fragments", ia.access_token.clone()).await;
    assert_eq!(fragments[0]["text"], "I led the migration.");
    for (who, token) in [
        ("the candidate", &ca.access_token),
        ("another tenant's interviewer", &ib.access_token),
    ] {
        for table in ["/rest/v1/observed_windows", "/rest/v1/observed_fragments"] {
            assert!(
                rows(table, token.clone()).await.is_empty(),
                "{who} read {table}"
            );
        }
    }

    // Writes, in every form, by everyone the API knows: refused, and the record unchanged.
    let fragment = json!({"window_id": window.0, "tenant_id": acme, "session_id": session, "provider_session": "live_rec1", "speaker": "candidate", "text": "I never said this.", "start_ms": 3_000, "end_ms": 4_000});
    for token in [&ca.access_token, &ia.access_token] {
        let (status, _) = s
            .send(
                Method::POST,
                "/rest/v1/observed_fragments",
                token,
                fragment.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "an inserted fragment");
        let (status, _) = s
            .send(
                Method::POST,
                "/rest/v1/observed_windows",
                token,
                json!({"tenant_id": acme, "session_id": session, "provider_session": "live_rec2", "api": "live", "instance": "me", "from_ms": 0, "to_ms": 0}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "an inserted window");
        let (status, _) = s
            .send(
                Method::PATCH,
                &format!("/rest/v1/observed_fragments?session_id=eq.{session}"),
                token,
                json!({"text": "rewritten"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a rewritten fragment");
        let (status, _) = s
            .send(
                Method::PATCH,
                &format!("/rest/v1/observed_windows?session_id=eq.{session}"),
                token,
                json!({"to_ms": 0}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a shrunk window");
        for table in ["observed_windows", "observed_fragments"] {
            let (status, _) = s
                .send(
                    Method::DELETE,
                    &format!("/rest/v1/{table}?session_id=eq.{session}"),
                    token,
                    json!({}),
                )
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "a deleted {table}");
        }
    }
    let fragments = rows("/rest/v1/observed_fragments", ia.access_token.clone()).await;
    assert_eq!(
        fragments
            .iter()
            .map(|f| f["text"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["I led the migration."]
    );
    let windows = rows("/rest/v1/observed_windows", ia.access_token.clone()).await;
    assert_eq!(windows[0]["to_ms"].as_i64(), Some(2_500));
    s.stack.shutdown().await;
}
