//! The local stack is never more permissive than production: the attacks the hosted schema's
//! tests make (supabase/migrations, tests/hosted_schema.rs), made here over HTTP, each refused,
//! and each role's legitimate path still working. Plus the limits a hosted project enforces on
//! reads (max_rows) and on sign-ins (rate limits).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

mod common;

use common::Stack;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use viva_localstack::Config;

async fn patch(s: &Stack, token: &str, id: &str, body: Value) -> (StatusCode, Value) {
    s.send(
        Method::PATCH,
        &format!("/rest/v1/interview_sessions?id=eq.{id}"),
        token,
        body,
    )
    .await
}

async fn session_row(s: &Stack, token: &str, id: &str) -> Value {
    let (_, _, rows) = s
        .get(&format!("/rest/v1/interview_sessions?id=eq.{id}"), token)
        .await;
    rows[0].clone()
}

#[tokio::test]
async fn a_candidate_may_only_end_their_own_live_session() {
    let s = Stack::start(Config::default()).await;
    let acme = s.stack.add_tenant("Acme").await.unwrap();
    let ca = s.account("ca@acme.test", &acme, "candidate").await;
    let other = s.account("cb@acme.test", &acme, "candidate").await;
    let id = s.start_practice(&ca.access_token).await;
    let refused = |(status, body): (StatusCode, Value)| {
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("42501")),
            "{body}"
        );
    };
    // A free retake, a cancel, a rewrite while ending, fields never writable.
    refused(patch(&s, &ca.access_token, &id, json!({"status": "scheduled"})).await);
    refused(
        patch(
            &s,
            &ca.access_token,
            &id,
            json!({"status": "cancelled", "ended_at": "2026-12-05T10:00:00Z"}),
        )
        .await,
    );
    refused(patch(&s, &ca.access_token, &id, json!({"status": "completed"})).await);
    refused(
        patch(
            &s,
            &ca.access_token,
            &id,
            json!({"status": "completed", "ended_at": "2026-12-05T10:00:00Z", "title": "Senior"}),
        )
        .await,
    );
    refused(patch(&s, &ca.access_token, &id, json!({"status": "completed", "ended_at": "2026-12-05T10:00:00Z", "candidate_email": "x@y.test"})).await);
    refused(
        patch(
            &s,
            &ca.access_token,
            &id,
            json!({"started_at": "2020-01-01T00:00:00Z"}),
        )
        .await,
    );
    refused(patch(&s, &ca.access_token, &id, json!({"status": "completed", "ended_at": "2026-12-05T10:00:00Z", "realtime_cost_usd": -3})).await);
    // Someone else's session: nothing changes.
    let end = json!({"status": "completed", "ended_at": "2026-12-05T10:00:00Z", "duration_ms": 60_000, "realtime_cost_usd": 0.25});
    assert_eq!(
        patch(&s, &other.access_token, &id, end.clone()).await,
        (StatusCode::OK, json!([]))
    );
    // The legitimate end, once; after it nothing more changes.
    let (status, rows) = patch(&s, &ca.access_token, &id, end).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows[0]["status"], "completed");
    assert!(
        rows[0]["closed_at"].is_string(),
        "the server records when: {rows}"
    );
    let again = json!({"status": "interrupted", "ended_at": "2026-12-06T10:00:00Z", "realtime_cost_usd": 0});
    assert_eq!(
        patch(&s, &ca.access_token, &id, again).await,
        (StatusCode::OK, json!([]))
    );
    assert_eq!(
        session_row(&s, &ca.access_token, &id).await["realtime_cost_usd"],
        0.25
    );
    s.stack.shutdown().await;
}

#[tokio::test]
async fn an_interviewer_schedules_edits_and_cancels_only_what_has_not_started() {
    let s = Stack::start(Config::default()).await;
    let acme = s.stack.add_tenant("Acme").await.unwrap();
    let ia = s.account("ia@acme.test", &acme, "interviewer").await;
    let ca = s.account("ca@acme.test", &acme, "candidate").await;
    // Inserts are scheduling only: no candidate, no times, no status.
    for forged in [
        json!({"title": "x", "question_set": "y", "candidate_id": ca.user_id}),
        json!({"title": "x", "question_set": "y", "status": "completed"}),
        json!({"title": "x", "question_set": "y", "started_at": "2026-12-01T09:00:00Z"}),
        json!({"title": "x", "question_set": "y", "mode": "practice"}),
        json!({"title": "x", "question_set": "y", "tenant_id": acme}),
    ] {
        let (status, body) = s
            .send(
                Method::POST,
                "/rest/v1/interview_sessions",
                &ia.access_token,
                forged.clone(),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("42501")),
            "{forged}"
        );
    }
    let live = s.start_practice(&ca.access_token).await;
    assert_eq!(
        patch(&s, &ia.access_token, &live, json!({"status": "completed"})).await,
        (StatusCode::OK, json!([]))
    );
    assert_eq!(
        patch(&s, &ia.access_token, &live, json!({"title": "renamed"})).await,
        (StatusCode::OK, json!([]))
    );

    let (status, rows) = s
        .send(Method::POST, "/rest/v1/interview_sessions", &ia.access_token, json!({"title": "Backend", "question_set": "software_engineer", "candidate_email": "ca@acme.test"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = rows[0]["id"].as_str().unwrap().to_owned();
    for forbidden in [
        json!({"status": "active"}),
        json!({"status": "completed"}),
        json!({"ended_at": "2026-12-05T10:00:00Z"}),
    ] {
        let (status, _) = patch(&s, &ia.access_token, &id, forbidden).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, rows) = patch(&s, &ia.access_token, &id, json!({"title": "Staff backend"})).await;
    assert_eq!(
        (status, rows[0]["title"].as_str()),
        (StatusCode::OK, Some("Staff backend"))
    );
    let (status, rows) = patch(&s, &ia.access_token, &id, json!({"status": "cancelled"})).await;
    assert_eq!(
        (status, rows[0]["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    assert_eq!(
        patch(&s, &ia.access_token, &id, json!({"status": "scheduled"})).await,
        (StatusCode::OK, json!([]))
    );
    s.stack.shutdown().await;
}

/// The local stack bound a scheduled interview to the candidate its address named, and a later
/// change of address left that first candidate able to start it.
#[tokio::test]
async fn a_changed_candidate_address_leaves_the_first_candidate_out() {
    let s = Stack::start(Config::default()).await;
    let acme = s.stack.add_tenant("Acme").await.unwrap();
    let ia = s.account("ia@acme.test", &acme, "interviewer").await;
    let first = s.account("first@acme.test", &acme, "candidate").await;
    let second = s.account("second@acme.test", &acme, "candidate").await;
    let (_, rows) = s
        .send(Method::POST, "/rest/v1/interview_sessions", &ia.access_token, json!({"title": "Backend", "question_set": "software_engineer", "candidate_email": "first@acme.test"}))
        .await;
    let id = rows[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        session_row(&s, &first.access_token, &id).await["id"],
        id.as_str()
    );
    let (status, _) = patch(
        &s,
        &ia.access_token,
        &id,
        json!({"candidate_email": "second@acme.test"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let start = |token: &str| {
        s.request(Method::POST, "/functions/v1/interview-start", Some(token))
            .json(&json!({"mode": "interview", "interview_id": id, "consent": {"notice": "viva-2026-12"}}))
            .send()
    };
    assert_eq!(
        start(&first.access_token).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(session_row(&s, &first.access_token, &id).await, Value::Null);
    assert_eq!(
        start(&second.access_token).await.unwrap().status(),
        StatusCode::OK
    );
    // Started, it is bound: the interviewer can no longer redirect it.
    let (status, rows) = patch(
        &s,
        &ia.access_token,
        &id,
        json!({"candidate_email": "first@acme.test"}),
    )
    .await;
    assert_eq!((status, rows), (StatusCode::OK, json!([])));
    s.stack.shutdown().await;
}

/// The candidate's agreement to the recording notice is written by `interview-start` only: no
/// user forges or wipes one through the table, and no interview starts without one.
#[tokio::test]
async fn a_consent_is_recorded_by_interview_start_only() {
    let s = Stack::start(Config::default()).await;
    let acme = s.stack.add_tenant("Acme").await.unwrap();
    let ia = s.account("ia@acme.test", &acme, "interviewer").await;
    let ca = s.account("ca@acme.test", &acme, "candidate").await;
    let forbidden = |(status, body): (StatusCode, Value)| {
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("42501")),
            "{body}"
        );
    };
    // An interviewer cannot schedule an interview "agreed" in the candidate's name.
    forbidden(
        s.send(
            Method::POST,
            "/rest/v1/interview_sessions",
            &ia.access_token,
            json!({"title": "x", "question_set": "y", "candidate_email": "ca@acme.test", "consent_notice": "viva-2026-12", "consent_at": "2026-12-01T09:00:00Z"}),
        )
        .await,
    );
    let (_, rows) = s
        .send(Method::POST, "/rest/v1/interview_sessions", &ia.access_token, json!({"title": "Backend", "question_set": "software_engineer", "candidate_email": "ca@acme.test"}))
        .await;
    let id = rows[0]["id"].as_str().unwrap().to_owned();
    let forged = json!({"consent_notice": "viva-2026-12", "consent_at": "2026-12-01T09:00:00Z"});
    forbidden(patch(&s, &ia.access_token, &id, forged.clone()).await);
    forbidden(patch(&s, &ca.access_token, &id, forged.clone()).await);
    // Without it, the start is refused and the interview stays as it was.
    let start = |body: Value| {
        s.request(
            Method::POST,
            "/functions/v1/interview-start",
            Some(&ca.access_token),
        )
        .json(&body)
        .send()
    };
    let refused = start(json!({"mode": "interview", "interview_id": id}))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "consent_required", "{body}");
    let row = session_row(&s, &ca.access_token, &id).await;
    assert_eq!(
        (row["status"].as_str(), &row["consent_at"]),
        (Some("scheduled"), &Value::Null),
        "{row}"
    );
    // With it, it starts, and the candidate cannot wipe it while ending the interview.
    let started = start(
        json!({"mode": "interview", "interview_id": id, "consent": {"notice": "viva-2026-12"}}),
    )
    .await
    .unwrap();
    assert_eq!(started.status(), StatusCode::OK);
    forbidden(
        patch(
            &s,
            &ca.access_token,
            &id,
            json!({"status": "completed", "ended_at": "2026-12-05T10:00:00Z", "consent_notice": null, "consent_at": null}),
        )
        .await,
    );
    let row = session_row(&s, &ia.access_token, &id).await;
    assert_eq!(row["consent_notice"], "viva-2026-12", "{row}");
    assert!(row["consent_at"].is_string(), "{row}");
    s.stack.shutdown().await;
}

#[tokio::test]
async fn lines_arriving_long_after_the_close_are_kept_and_marked_late() {
    let s = Stack::start(Config::default()).await;
    let acme = s.stack.add_tenant("Acme").await.unwrap();
    let ca = s.account("ca@acme.test", &acme, "candidate").await;
    let id = s.start_practice(&ca.access_token).await;
    let upload = |item: &str| {
        s.request(Method::POST, "/functions/v1/transcript-processor", Some(&ca.access_token))
            .json(&json!({"session_id": id, "entries": [{"item_id": item, "seq": 1, "speaker": "interviewer", "text": "a line", "started_ms": 0}]}))
            .send()
    };
    let end =
        json!({"status": "interrupted", "ended_at": "2026-12-05T10:00:00Z", "duration_ms": 1000});
    assert_eq!(
        patch(&s, &ca.access_token, &id, end).await.0,
        StatusCode::OK
    );
    assert_eq!(
        upload("final_batch").await.unwrap().status(),
        StatusCode::OK
    );
    // The server saw the close a day ago: a line from an offline computer syncs now.
    let closed = id.clone();
    s.stack
        .state
        .db
        .call(move |conn| {
            conn.execute(
                "UPDATE interview_sessions SET closed_at = '2026-01-01T00:00:00.000000+00:00' WHERE id = ?1",
                [closed],
            )
            .map_err(viva_localstack::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(
        upload("a_day_later").await.unwrap().status(),
        StatusCode::OK
    );
    let (_, _, rows) = s
        .get(
            &format!("/rest/v1/transcript_entries?session_id=eq.{id}&order=item_id&select=item_id,late,reported_by"),
            &ca.access_token,
        )
        .await;
    assert_eq!(
        rows,
        json!([
            {"item_id": "a_day_later", "late": true, "reported_by": ca.user_id},
            {"item_id": "final_batch", "late": false, "reported_by": ca.user_id},
        ])
    );
    s.stack.shutdown().await;
}

/// Like a hosted project's `max_rows`: a read never returns more than 1,000 rows, asked for
/// or not, and says how many there are.
#[tokio::test]
async fn reads_stop_at_a_thousand_rows_like_a_hosted_project() {
    let s = Stack::start(Config::default()).await;
    let acme = s.stack.add_tenant("Acme").await.unwrap();
    let ca = s.account("ca@acme.test", &acme, "candidate").await;
    let id = s.start_practice(&ca.access_token).await;
    for batch in 0..5 {
        let entries: Vec<Value> = (batch * 500..(batch + 1) * 500)
            .map(|n| json!({"item_id": format!("item_{n:05}"), "seq": n, "speaker": "candidate", "text": format!("line {n}"), "started_ms": n}))
            .collect();
        let response = s
            .request(
                Method::POST,
                "/functions/v1/transcript-processor",
                Some(&ca.access_token),
            )
            .json(&json!({"session_id": id, "entries": entries}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let (_, headers, rows) = s
        .get(
            &format!("/rest/v1/transcript_entries?session_id=eq.{id}&select=item_id"),
            &ca.access_token,
        )
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 1000);
    assert_eq!(headers["content-range"], "0-999/2500");
    let (_, _, rows) = s
        .get(
            &format!("/rest/v1/transcript_entries?session_id=eq.{id}&select=item_id&limit=5000"),
            &ca.access_token,
        )
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 1000);
    s.stack.shutdown().await;
}

/// Fifty wrong passwords at once: most are turned away with GoTrue's 429 before any hashing,
/// and a transcript upload sent beside them still completes.
#[tokio::test]
async fn a_burst_of_bad_sign_ins_is_rate_limited_and_uploads_go_on() {
    let s = Stack::start(Config::default()).await;
    let acme = s.stack.add_tenant("Acme").await.unwrap();
    let ca = s.account("ca@acme.test", &acme, "candidate").await;
    let id = s.start_practice(&ca.access_token).await;
    let mut attempts = tokio::task::JoinSet::new();
    for n in 0..50 {
        let request = s
            .request(Method::POST, "/auth/v1/token?grant_type=password", None)
            .json(&json!({"email": format!("guess{}@acme.test", n % 3), "password": "wrong"}));
        attempts.spawn(async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            // GoTrue's legacy error shape (no X-Supabase-Api-Version header).
            (status, body["error_code"].as_str().map(str::to_owned))
        });
    }
    let upload = s
        .request(Method::POST, "/functions/v1/transcript-processor", Some(&ca.access_token))
        .json(&json!({"session_id": id, "entries": [{"item_id": "i1", "seq": 1, "speaker": "candidate", "text": "still here", "started_ms": 0}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::OK);
    assert_eq!(upload.json::<Value>().await.unwrap()["accepted"], 1);
    let results = attempts.join_all().await;
    let limited = results
        .iter()
        .filter(|(status, code)| {
            *status == StatusCode::TOO_MANY_REQUESTS
                && code.as_deref() == Some("over_request_rate_limit")
        })
        .count();
    let refused = results
        .iter()
        .filter(|(status, code)| {
            *status == StatusCode::BAD_REQUEST && code.as_deref() == Some("invalid_credentials")
        })
        .count();
    assert_eq!(limited + refused, 50, "{results:?}");
    // Three accounts, ten tries each at most; the address allows thirty.
    assert!(
        refused <= 30 && limited >= 20,
        "{refused} refused, {limited} limited"
    );
    // The account that was guessed at is locked for a while, even with the right password.
    let response = s
        .request(Method::POST, "/auth/v1/token?grant_type=password", None)
        .json(&json!({"email": "guess0@acme.test", "password": "password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    s.stack.shutdown().await;
}

/// An unknown address costs the same hashing as a wrong password: measured as CPU work
/// (argon2 runs either way), not by a timer.
#[tokio::test]
async fn an_unknown_email_gets_the_same_answer_as_a_wrong_password() {
    let s = Stack::start(Config::default()).await;
    let acme = s.stack.add_tenant("Acme").await.unwrap();
    s.stack
        .add_user("known@acme.test", "password-1", &acme, "candidate")
        .await
        .unwrap();
    let attempt = |email: &'static str| {
        s.request(Method::POST, "/auth/v1/token?grant_type=password", None)
            .json(&json!({"email": email, "password": "wrong-password"}))
            .send()
    };
    let known = attempt("known@acme.test").await.unwrap();
    let unknown = attempt("nobody@acme.test").await.unwrap();
    assert_eq!(known.status(), unknown.status());
    assert_eq!(
        known.json::<Value>().await.unwrap(),
        unknown.json::<Value>().await.unwrap()
    );
    // Both checked a password: each took at least one argon2 verification of CPU time.
    let cpu = || cpu_time::ProcessTime::now();
    let before = cpu();
    for _ in 0..3 {
        attempt("known@acme.test").await.unwrap();
    }
    let known_cost = before.elapsed();
    let before = cpu();
    for _ in 0..3 {
        attempt("nobody@acme.test").await.unwrap();
    }
    let unknown_cost = before.elapsed();
    assert!(
        unknown_cost.as_secs_f64() > known_cost.as_secs_f64() * 0.5,
        "an unknown e-mail cost {unknown_cost:?} against {known_cost:?} for a known one"
    );
    s.stack.shutdown().await;
}
