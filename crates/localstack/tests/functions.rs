//! The edge functions over HTTP: starting practice and scheduled interviews, the voice/text
//! rollout, and storing transcript lines exactly once, also under concurrent retries.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

mod common;

use common::Stack;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use viva_localstack::functions::rollout_mode;
use viva_localstack::{Config, Signaling};

async fn call(s: &Stack, name: &str, token: &str, body: Value) -> (StatusCode, Value) {
    s.send(Method::POST, &format!("/functions/v1/{name}"), token, body)
        .await
}

#[tokio::test]
async fn practice_starts_a_session_with_a_client_secret_and_session_config() {
    let s = Stack::start(Config::default()).await;
    let tenant = s.stack.add_tenant("Acme").await.unwrap();
    let ca = s.account("ca@acme.test", &tenant, "candidate").await;
    let (status, body) = call(
        &s,
        "interview-start",
        &ca.access_token,
        json!({"mode": "practice", "client": {"app_version": "0.1.0", "platform": "linux"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["session"]["status"], "active");
    assert_eq!(body["mode"], "voice");
    assert_eq!(body["realtime"]["signaling"], "http");
    assert_eq!(
        body["realtime"]["url"],
        format!("{}/v1/realtime/calls", s.stack.base_url)
    );
    assert!(
        body["realtime"]["client_secret"]["value"]
            .as_str()
            .unwrap()
            .starts_with("ek_")
    );
    assert!(
        body["realtime"]["client_secret"]["expires_at"]
            .as_i64()
            .unwrap()
            > chrono::Utc::now().timestamp() + 500
    );
    assert_eq!(
        body["realtime"]["session"]["audio"]["input"]["turn_detection"]["type"],
        "server_vad"
    );

    // The candidate's own list now shows an active practice session.
    let (_, _, rows) = s
        .get(
            "/rest/v1/interview_sessions?select=mode,status",
            &ca.access_token,
        )
        .await;
    assert_eq!(rows, json!([{"mode": "practice", "status": "active"}]));

    let (status, body) = call(
        &s,
        "interview-start",
        "nonsense",
        json!({"mode": "practice"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (status, body) = call(
        &s,
        "interview-start",
        &ca.access_token,
        json!({"mode": "interview"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    s.stack.shutdown().await;
}

#[tokio::test]
async fn a_scheduled_interview_goes_active_for_its_candidate_only_and_can_be_closed() {
    let s = Stack::start(Config {
        signaling: Signaling::WebSocket,
        ..Config::default()
    })
    .await;
    let (acme, globex) = (
        s.stack.add_tenant("Acme").await.unwrap(),
        s.stack.add_tenant("Globex").await.unwrap(),
    );
    let ia = s.account("ia@acme.test", &acme, "interviewer").await;
    let (_, rows) = s
        .send(Method::POST, "/rest/v1/interview_sessions", &ia.access_token, json!({"title": "PM loop", "question_set": "product_manager", "candidate_email": "new@acme.test"}))
        .await;
    let id = rows[0]["id"].as_str().unwrap().to_owned();

    // The candidate signs up after being scheduled and lands in the scheduling tenant.
    let signup = s
        .request(Method::POST, "/auth/v1/signup", None)
        .json(&json!({"email": "new@acme.test", "password": "secret-99"}))
        .send()
        .await
        .unwrap();
    let signup: Value = signup.json().await.unwrap();
    assert_eq!(signup["user"]["app_metadata"]["tenant_id"], acme);
    let candidate = signup["access_token"].as_str().unwrap().to_owned();

    let outsider = s.account("x@globex.test", &globex, "candidate").await;
    let (status, _) = call(
        &s,
        "interview-start",
        &outsider.access_token,
        json!({"mode": "interview", "interview_id": id, "consent": {"notice": "viva-2026-12"}}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let colleague = s.account("c2@acme.test", &acme, "candidate").await;
    let (status, _) = call(
        &s,
        "interview-start",
        &colleague.access_token,
        json!({"mode": "interview", "interview_id": id, "consent": {"notice": "viva-2026-12"}}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, body) = call(
        &s,
        "interview-start",
        &candidate,
        json!({"mode": "interview", "interview_id": id, "consent": {"notice": "viva-2026-12"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["session"]["id"], id.as_str());
    assert_eq!(body["realtime"]["signaling"], "websocket");
    assert!(
        body["realtime"]["url"]
            .as_str()
            .unwrap()
            .starts_with("ws://127.0.0.1:")
    );
    // Reconnecting gets a fresh grant for the same row: a Live grant carries no secret (the
    // proxy checks the user's own token), but a new expiry.
    assert_eq!(body["realtime"]["api"], "live");
    assert_eq!(body["realtime"]["client_secret"]["value"], "");
    assert!(body["realtime"].get("session").is_none());
    // Even while the call is live (a reconnect races the old connection's end): never 409,
    // which would end the interview in the client. The proxy keeps one connection per interview.
    let holder = viva_proxy::lease::Claim {
        session_id: id.clone(),
        conn_id: "a-live-connection".into(),
        user_id: "someone".into(),
        auth_session: "elsewhere".into(),
    };
    let _held = s.stack.state.proxy.leases.acquire(&holder).await.unwrap();
    let (status, again) = call(
        &s,
        "interview-start",
        &candidate,
        json!({"mode": "interview", "interview_id": id, "consent": {"notice": "viva-2026-12"}}),
    )
    .await;
    assert_eq!(
        (status, &again["session"]["id"]),
        (StatusCode::OK, &body["session"]["id"]),
        "{again}"
    );
    assert_eq!(
        again["session"]["started_at"],
        body["session"]["started_at"]
    );
    s.stack.state.proxy.leases.release(&holder).await;

    // The candidate closes it; then it cannot be started again.
    let (status, closed) = s
        .send(Method::PATCH, &format!("/rest/v1/interview_sessions?id=eq.{id}"), &candidate, json!({"status": "completed", "ended_at": "2026-11-22T12:00:00Z", "duration_ms": 1_800_000, "realtime_cost_usd": 0.42}))
        .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(
        (
            closed[0]["status"].as_str(),
            closed[0]["duration_ms"].as_i64()
        ),
        (Some("completed"), Some(1_800_000))
    );
    let (status, body) = call(
        &s,
        "interview-start",
        &candidate,
        json!({"mode": "interview", "interview_id": id, "consent": {"notice": "viva-2026-12"}}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("interview_closed"))
    );
    // The interviewer sees the outcome.
    let (_, _, rows) = s
        .get(
            &format!("/rest/v1/interview_sessions?id=eq.{id}&select=status,realtime_cost_usd"),
            &ia.access_token,
        )
        .await;
    assert_eq!(
        rows,
        json!([{"status": "completed", "realtime_cost_usd": 0.42}])
    );
    s.stack.shutdown().await;
}

#[test]
fn the_rollout_bucket_is_stable_and_follows_the_percentage() {
    let users: Vec<String> = (0..400)
        .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
        .collect();
    let voice = users
        .iter()
        .filter(|u| rollout_mode(u, 50) == "voice")
        .count();
    assert!((120..=280).contains(&voice), "50% gave {voice} of 400");
    assert!(
        users
            .iter()
            .all(|u| rollout_mode(u, 50) == rollout_mode(u, 50))
    );
    assert!(
        users
            .iter()
            .all(|u| rollout_mode(u, 100) == "voice" && rollout_mode(u, 0) == "text")
    );
    // Raising the percentage only moves users from text to voice.
    assert!(
        users
            .iter()
            .all(|u| rollout_mode(u, 30) == "text" || rollout_mode(u, 60) == "voice")
    );
}

#[tokio::test]
async fn transcript_lines_are_stored_once_even_under_fifty_concurrent_overlapping_posts() {
    let s = Stack::start(Config::default()).await;
    let tenant = s.stack.add_tenant("Acme").await.unwrap();
    let ca = s.account("ca@acme.test", &tenant, "candidate").await;
    let ia = s.account("ia@acme.test", &tenant, "interviewer").await;
    let session = s.start_practice(&ca.access_token).await;

    let entry = |n: usize| json!({"item_id": format!("item_{n}"), "seq": n, "speaker": if n.is_multiple_of(2) { "interviewer" } else { "candidate" }, "text": format!("line {n}"), "started_ms": n * 1000, "ended_ms": n * 1000 + 900});
    let mut posts = tokio::task::JoinSet::new();
    for batch in 0..50 {
        // Each post overlaps its neighbours: lines batch*2 .. batch*2+10.
        let entries: Vec<Value> = (batch * 2..batch * 2 + 10).map(entry).collect();
        let request = s
            .request(
                Method::POST,
                "/functions/v1/transcript-processor",
                Some(&ca.access_token),
            )
            .json(&json!({"session_id": session, "entries": entries}));
        posts.spawn(async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        });
    }
    let results = posts.join_all().await;
    let accepted: u64 = results
        .iter()
        .map(|r| r["accepted"].as_u64().unwrap())
        .sum();
    let duplicates: u64 = results
        .iter()
        .map(|r| r["duplicates"].as_u64().unwrap())
        .sum();
    assert_eq!((accepted, accepted + duplicates), (108, 500));

    let (_, headers, rows) = s.get(&format!("/rest/v1/transcript_entries?session_id=eq.{session}&order=seq&select=item_id,seq,speaker,text"), &ia.access_token).await;
    assert_eq!(headers["content-range"], "0-107/108");
    assert_eq!(
        rows[3],
        json!({"item_id": "item_3", "seq": 3, "speaker": "candidate", "text": "line 3"})
    );

    // The same batch again is all duplicates.
    let (_, again) = call(
        &s,
        "transcript-processor",
        &ca.access_token,
        json!({"session_id": session, "entries": [entry(1), entry(2)]}),
    )
    .await;
    assert_eq!(
        again,
        json!({"accepted": 0, "duplicates": 2, "rejected": []})
    );
    s.stack.shutdown().await;
}

#[tokio::test]
async fn transcript_processor_refuses_other_peoples_sessions_and_bad_lines() {
    let s = Stack::start(Config::default()).await;
    let tenant = s.stack.add_tenant("Acme").await.unwrap();
    let ca = s.account("ca@acme.test", &tenant, "candidate").await;
    let cb = s.account("cb@acme.test", &tenant, "candidate").await;
    let session = s.start_practice(&ca.access_token).await;
    let session = session.as_str();
    let line =
        json!({"item_id": "i", "seq": 0, "speaker": "candidate", "text": "hi", "started_ms": 0});

    let (status, _) = call(
        &s,
        "transcript-processor",
        &cb.access_token,
        json!({"session_id": session, "entries": [line]}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Each bad line is refused on its own, with its reason; the good ones beside it are stored.
    let long = "word ".repeat(4_001);
    let batch = json!([
        {"item_id": "", "seq": 0, "speaker": "candidate", "text": "x", "started_ms": 0},
        {"item_id": "who", "seq": 0, "speaker": "narrator", "text": "x", "started_ms": 0},
        {"item_id": "neg", "seq": -1, "speaker": "candidate", "text": "x", "started_ms": 0},
        {"item_id": "back", "seq": 0, "speaker": "candidate", "text": "x", "started_ms": 10, "ended_ms": 5},
        {"item_id": "long", "seq": 0, "speaker": "candidate", "text": long, "started_ms": 0},
        "not an entry",
        {"item_id": "good", "seq": 1, "speaker": "candidate", "text": "fine", "started_ms": 0},
        line,
    ]);
    let (status, body) = call(
        &s,
        "transcript-processor",
        &ca.access_token,
        json!({"session_id": session, "entries": batch}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(2), Some(0))
    );
    let codes: Vec<(&str, &str)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["item_id"].as_str().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            ("", "invalid_entry"),
            ("who", "invalid_entry"),
            ("neg", "invalid_entry"),
            ("back", "ends_before_start"),
            ("long", "line_too_long"),
            ("", "invalid_entry"),
        ]
    );
    // A batch over the contract's size is refused whole.
    let too_many: Vec<Value> = (0..501)
        .map(|n| json!({"item_id": format!("n{n}"), "seq": n, "speaker": "candidate", "text": "x", "started_ms": 0}))
        .collect();
    let (status, body) = call(
        &s,
        "transcript-processor",
        &ca.access_token,
        json!({"session_id": session, "entries": too_many}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("too_many_entries"))
    );
    let (status, body) = call(
        &s,
        "transcript-processor",
        &ca.access_token,
        json!({"session_id": session}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    let preflight = s
        .http
        .request(
            Method::OPTIONS,
            format!("{}/functions/v1/transcript-processor", s.stack.base_url),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::OK);
    assert!(
        preflight.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("apikey")
    );
    s.stack.shutdown().await;
}

#[tokio::test]
async fn the_voice_api_is_the_organisations_choice_for_interviews_and_the_users_for_practice() {
    let s = Stack::start(Config::default()).await;
    let acme = s.stack.add_tenant("Acme").await.unwrap();
    let ia = s.account("ia@acme.test", &acme, "interviewer").await;
    let ca = s.account("ca@acme.test", &acme, "candidate").await;
    let schedule = |body: Value| {
        let s = &s;
        let token = ia.access_token.clone();
        async move {
            let (status, rows) = s
                .send(Method::POST, "/rest/v1/interview_sessions", &token, body)
                .await;
            assert_eq!(status, StatusCode::CREATED, "{rows}");
            rows[0]["id"].as_str().unwrap().to_owned()
        }
    };
    let start = |id: Option<&str>, api: Option<&str>| {
        let mut body = match id {
            Some(id) => {
                json!({"mode": "interview", "interview_id": id, "consent": {"notice": "viva-2026-12"}})
            }
            None => json!({"mode": "practice"}),
        };
        if let Some(api) = api {
            body["api"] = json!(api);
        }
        call(&s, "interview-start", &ca.access_token, body)
    };

    // An interview on the tenant's default: GPT-Live, through the proxy, with no session
    // config for the client to send (the proxy builds it).
    let default = schedule(json!({"title": "A", "question_set": "general_behavioural", "candidate_email": "ca@acme.test"})).await;
    let (status, body) = start(Some(&default), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["realtime"]["api"], "live");
    assert_eq!(body["realtime"]["signaling"], "websocket");
    assert_eq!(body["realtime"]["model"], "viva-local-live");
    assert!(body["realtime"].get("session").is_none(), "{body}");
    let grant = viva_contract::grant::Grant::from_interview_start(&body, None).unwrap();
    assert_eq!(grant.realtime.api, viva_contract::grant::VoiceApi::Live);

    // The interviewer chose Realtime for this one (the stack signals over HTTP by default).
    let chosen = schedule(json!({"title": "B", "question_set": "general_behavioural", "candidate_email": "ca@acme.test", "voice_api": "realtime"})).await;
    let (status, body) = start(Some(&chosen), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["realtime"]["api"].as_str(),
            body["realtime"]["signaling"].as_str()
        ),
        (Some("realtime"), Some("http"))
    );

    // A candidate cannot pick the API of an interview at its start, nor change it.
    let third = schedule(json!({"title": "C", "question_set": "general_behavioural", "candidate_email": "ca@acme.test"})).await;
    let (status, body) = start(Some(&third), Some("realtime")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );
    let (status, body) = s
        .send(
            Method::PATCH,
            &format!("/rest/v1/interview_sessions?id=eq.{default}"),
            &ca.access_token,
            json!({"voice_api": "realtime"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Nor an unknown API, nor the tenant's default.
    let (status, body) = s
        .send(
            Method::PATCH,
            &format!("/rest/v1/interview_sessions?id=eq.{third}"),
            &ia.access_token,
            json!({"voice_api": "gemini"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = s
        .send(
            Method::PATCH,
            &format!("/rest/v1/tenants?id=eq.{acme}"),
            &ia.access_token,
            json!({"voice_api": "realtime"}),
        )
        .await;
    assert!(status.is_client_error(), "{status} {body}");
    let (status, body) = start(Some(&third), None).await;
    assert_eq!(
        (status, body["realtime"]["api"].as_str()),
        (StatusCode::OK, Some("live")),
        "{body}"
    );

    // Practice: Realtime unless the user asks for Live.
    let (_, body) = start(None, None).await;
    assert_eq!(body["realtime"]["api"], "realtime");
    let (_, body) = start(None, Some("live")).await;
    assert_eq!(
        (
            body["realtime"]["api"].as_str(),
            body["realtime"]["signaling"].as_str()
        ),
        (Some("live"), Some("websocket"))
    );
    let (status, _) = start(None, Some("gemini")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
